"""App settings that hold secrets, and Key Vault references that did not resolve.

App Service (and so Flex Consumption) resolves `@Microsoft.KeyVault(...)` app settings with
the app's identity; when a reference does not resolve, the app receives the reference text
instead of the secret. Such a value is refused, with an error log line naming the setting
(never the text): at once for ordinary settings, and where it is used for secrets, so that
polling, status and cancel of runs in flight keep working while starts (which need the
instance-id key) and signature checks fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

# What App Service leaves in an app setting whose Key Vault reference did not resolve.
KEY_VAULT_REFERENCE_PREFIX = "@microsoft.keyvault("

log = logging.getLogger(__name__)


class SettingError(ValueError):
    """An app setting the app cannot use; the message names the setting and the fix. Routes
    answer it as a JSON 500 naming the setting (the caller cannot fix it; the operator can)."""

    code = "InvalidSetting"

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class UnresolvedKeyVaultReference(SettingError):
    """An app setting still holds the literal `@Microsoft.KeyVault(...)` text, not the secret."""

    code = "SettingUnresolved"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is an unresolved Key Vault reference: the platform passed the reference text, "
            "not the secret. Check the reference status (portal: the app's Environment variables; or "
            "GET <app id>/config/configreferences/appsettings), fix the vault access or the secret, "
            "then restart the app (docs/deploy.md, First deploy).",
            name,
        )


@dataclass(frozen=True)
class Unresolved:
    """Stands in for a secret whose Key Vault reference did not resolve; never the value itself."""

    setting: str


def is_key_vault_reference(value: str) -> bool:
    return value.strip().lower().startswith(KEY_VAULT_REFERENCE_PREFIX)


def refuse(name: str) -> UnresolvedKeyVaultReference:
    """The error for setting `name`, logged now (naming the setting only: the reference text
    stays out of the logs)."""
    error = UnresolvedKeyVaultReference(name)
    log.error("%s", error)
    return error


def read_secret(env: Mapping[str, str], name: str) -> str | Unresolved | None:
    """A secret setting: its text, None when unset, or `Unresolved` (logged now, refused on use)."""
    value = env.get(name)
    if value is None:
        return None
    if is_key_vault_reference(value):
        refuse(name)
        return Unresolved(name)
    return value.strip() or None


def resolved(value: str | Unresolved | None) -> str | None:
    """The secret, or UnresolvedKeyVaultReference where its reference did not resolve."""
    if isinstance(value, Unresolved):
        raise UnresolvedKeyVaultReference(value.setting)
    return value
