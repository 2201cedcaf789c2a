"""Function keys, checked as the Azure Functions host checks them.

Sources (Azure/azure-functions-host, `src/WebJobs.Script.WebHost`):
- `Security/Authentication/Keys/AuthenticationLevelHandler.GetAuthorizationKeyInfoAsync`: the
  key is read from the `x-functions-key` header, else from the `code` query parameter (the
  header wins when both are there); an empty value is no key.
- `Security/KeyManagement/SecretManager.GetAuthorizationLevelAsync`: the master key gives the
  Admin level (key name `_master`); a system key the System level (its name); a host key, then a
  key of the called function, the Function level. Anything else is anonymous.
- `Security/Authorization/AuthUtility.PrincipalHasAuthLevelClaim`: an anonymous route takes any
  request; Admin passes every check; otherwise the level must be the route's own, and for system
  routes (extension webhooks) the key's name must be the extension's (`durabletask_extension`).
  So a system key never opens a function route, and a function key never opens a webhook.
- A request without a passing key is answered 401 with an empty body before the function runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

MASTER_KEY_NAME = "_master"
DEFAULT_KEY_NAME = "default"
DURABLE_SYSTEM_KEY_NAME = "durabletask_extension"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"


class Level(IntEnum):
    """`Microsoft.Azure.WebJobs.Extensions.Http.AuthorizationLevel`."""

    ANONYMOUS = 0
    USER = 1
    FUNCTION = 2
    SYSTEM = 3
    ADMIN = 4

    @classmethod
    def of_route(cls, auth_level: str) -> Level:
        return {
            "anonymous": cls.ANONYMOUS,
            "user": cls.USER,
            "function": cls.FUNCTION,
            "system": cls.SYSTEM,
            "admin": cls.ADMIN,
        }.get(auth_level.lower(), cls.FUNCTION)


def new_key() -> str:
    """A key as long as the host's generated ones (40 url-safe characters)."""
    return secrets.token_urlsafe(30)


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a request carries: the header first, then `?code=`; empty means none.
    `headers` has lower-case names (as the devhost handler passes them)."""
    value = headers.get(KEY_HEADER)
    if value is None:
        value = query.get(KEY_QUERY)
    return value or None


@dataclass(frozen=True)
class HostKeys:
    """The keys of one function app: the master key, host keys (any function), keys of single
    functions, and system keys (extension webhooks)."""

    master: str
    host: Mapping[str, str] = field(default_factory=dict)
    functions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    system: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, *, function_key: str | None = None, master_key: str | None = None) -> HostKeys:
        """What a new app has: a master key, a `default` host key and the Durable extension's
        system key; `function_key`/`master_key` fix the first two instead of making them up."""
        return cls(
            master=master_key or new_key(),
            host={DEFAULT_KEY_NAME: function_key or new_key()},
            system={DURABLE_SYSTEM_KEY_NAME: new_key()},
        )

    @property
    def default(self) -> str:
        """The `default` host key: what a caller of the app's functions is handed."""
        return self.host[DEFAULT_KEY_NAME]

    @property
    def durable_system_key(self) -> str:
        return self.system[DURABLE_SYSTEM_KEY_NAME]

    def level_of(self, value: str | None, function_name: str | None) -> tuple[str | None, Level]:
        """(key name, level) the presented `value` grants on `function_name`."""
        if not value:
            return None, Level.ANONYMOUS
        if _same(value, self.master):
            return MASTER_KEY_NAME, Level.ADMIN
        for scope, level in ((self.system, Level.SYSTEM), (self.host, Level.FUNCTION)):
            name = _matching(scope, value)
            if name is not None:
                return name, level
        if function_name is not None:
            name = _matching(self.functions.get(function_name, {}), value)
            if name is not None:
                return name, Level.FUNCTION
        return None, Level.ANONYMOUS

    def allows(
        self,
        required: Level,
        value: str | None,
        *,
        function_name: str | None = None,
        key_name: str | None = None,
    ) -> bool:
        """Does a request with key `value` pass a route that requires `required` (and, for a
        system route, the system key named `key_name`)?"""
        if required is Level.ANONYMOUS:
            return True
        name, level = self.level_of(value, function_name)
        if level is Level.ADMIN:
            return True
        return level is required and (key_name is None or (name or "").lower() == key_name.lower())

    def printable(self) -> dict[str, str]:
        """The keys a local user needs, for `devhost serve`'s first line."""
        return {"functionKey": self.default, "masterKey": self.master}


def _matching(keys: Mapping[str, str], value: str) -> str | None:
    for name, key in keys.items():
        if key and _same(key, value):
            return name
    return None


def _same(a: str, b: str) -> bool:
    """Constant-time comparison of any text (compare_digest takes only ASCII str)."""
    return secrets.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
