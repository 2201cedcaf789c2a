"""App settings: the one reader of the environment (names in docs/architecture.md)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from foundry.workspace import Workspace

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
# What App Service leaves in an app setting whose Key Vault reference did not resolve.
KEY_VAULT_REFERENCE_PREFIX = "@microsoft.keyvault("

log = logging.getLogger(__name__)


class UnresolvedKeyVaultReference(ValueError):
    """An app setting still holds the literal `@Microsoft.KeyVault(...)` text, not the secret."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is an unresolved Key Vault reference: the platform passed the reference text, "
            "not the secret. Check the reference status (portal: the app's Environment variables; or "
            "GET <app id>/config/configreferences/appsettings), fix the vault access or the secret, "
            "then restart the app (docs/deploy.md, First deploy)."
        )
        self.setting = name


@dataclass(frozen=True)
class _Unresolved:
    """Stands in for a secret whose Key Vault reference did not resolve; never the value itself."""

    setting: str


def _is_key_vault_reference(value: str) -> bool:
    return value.strip().lower().startswith(KEY_VAULT_REFERENCE_PREFIX)


def _refuse(name: str) -> UnresolvedKeyVaultReference:
    error = UnresolvedKeyVaultReference(name)
    log.error("%s", error)  # names the setting only: the reference text stays out of the logs
    return error


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    if _is_key_vault_reference(value):
        raise _refuse(name)
    value = value.strip()
    return value or None


def _secret(env: Mapping[str, str], name: str) -> str | _Unresolved | None:
    """A secret setting; an unresolved reference is logged now and refused where the secret is used.

    Refusing only at use keeps polling, status and cancel working for runs already in flight while
    the reference is fixed; what needs the secret (signature checks, keyed instance ids, the vault client) fails closed.
    """
    value = env.get(name)
    if value is not None and _is_key_vault_reference(value):
        _refuse(name)
        return _Unresolved(name)
    return _text(env, name)


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of {'polls' if integer else 'seconds'}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number")
    if integer and not value.is_integer():
        raise ValueError(f"{name} must be a whole number")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false")


def _vault_url(env: Mapping[str, str]) -> str | None:
    url = _text(env, "RUN_SECRETS_VAULT_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError("RUN_SECRETS_VAULT_URL must be a vault URL such as https://<vault>.vault.azure.net")
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Typed settings with the documented defaults. Secret-bearing fields stay out of repr."""

    workspace_id: str | None = None
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    tenant_id: str | None = None
    client_id: str | None = None
    static_token: str | None = field(default=None, repr=False)
    poll_floor_seconds: float = 15.0
    poll_cap_seconds: float = 120.0
    event_poll_floor_seconds: float = 3600.0
    event_poll_cap_seconds: float = 28800.0
    polls_per_generation: int = 1
    stalled_limit_seconds: float = 3600.0
    outage_limit_seconds: float = 86400.0
    events_enabled: bool = True
    _webhook_secret: str | _Unresolved | None = field(default=None, repr=False)
    _instance_id_key: str | _Unresolved | None = field(default=None, repr=False)
    run_secrets_vault_url: str | None = None
    run_secrets_ttl_hours: float = 168.0
    _run_secrets_vault_static_token: str | _Unresolved | None = field(default=None, repr=False)
    run_secrets_vault_ca_bundle: str | None = None
    allow_code_overrides: bool = True
    reconcile_schedule: str = "0 */10 * * * *"
    taskhub_name: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read every setting; a malformed number raises ValueError naming the setting."""
        floor = _number(environ, "SWEEP_POLL_FLOOR_SECONDS", 15.0)
        cap = _number(environ, "SWEEP_POLL_CAP_SECONDS", 120.0)
        if cap < floor:
            raise ValueError("SWEEP_POLL_CAP_SECONDS must be >= SWEEP_POLL_FLOOR_SECONDS")
        efloor = _number(environ, "SWEEP_EVENT_POLL_FLOOR_SECONDS", 3600.0)
        ecap = _number(environ, "SWEEP_EVENT_POLL_CAP_SECONDS", 28800.0)
        if ecap < efloor:
            raise ValueError("SWEEP_EVENT_POLL_CAP_SECONDS must be >= SWEEP_EVENT_POLL_FLOOR_SECONDS")
        endpoint = (_text(environ, "AZUREML_ARM_ENDPOINT") or DEFAULT_ARM_ENDPOINT).rstrip("/")
        if not endpoint.startswith(("https://", "http://")):
            raise ValueError("AZUREML_ARM_ENDPOINT must be an http(s) URL")
        return cls(
            workspace_id=_text(environ, "AZUREML_WORKSPACE_ID"),
            arm_endpoint=endpoint,
            tenant_id=_text(environ, "AZUREML_TENANT_ID"),
            client_id=_text(environ, "AZURE_CLIENT_ID"),
            static_token=_text(environ, "AZUREML_STATIC_TOKEN"),
            poll_floor_seconds=floor,
            poll_cap_seconds=cap,
            event_poll_floor_seconds=efloor,
            event_poll_cap_seconds=ecap,
            polls_per_generation=int(_number(environ, "SWEEP_POLLS_PER_GENERATION", 1, integer=True)),
            stalled_limit_seconds=_number(environ, "SWEEP_STALLED_LIMIT_SECONDS", 3600.0),
            outage_limit_seconds=_number(environ, "SWEEP_OUTAGE_LIMIT_SECONDS", 86400.0),
            events_enabled=_flag(environ, "SWEEP_EVENTS_ENABLED", True),
            _webhook_secret=_secret(environ, "WEBHOOK_SECRET"),
            _instance_id_key=_secret(environ, "INSTANCE_ID_KEY"),
            run_secrets_vault_url=_vault_url(environ),
            run_secrets_ttl_hours=_number(environ, "RUN_SECRETS_TTL_HOURS", 168.0),
            _run_secrets_vault_static_token=_secret(environ, "RUN_SECRETS_VAULT_STATIC_TOKEN"),
            run_secrets_vault_ca_bundle=_text(environ, "RUN_SECRETS_VAULT_CA_BUNDLE"),
            allow_code_overrides=_flag(environ, "SWEEP_ALLOW_CODE_OVERRIDES", True),
            reconcile_schedule=_text(environ, "RECONCILE_SCHEDULE") or "0 */10 * * * *",
            taskhub_name=_text(environ, "TASKHUB_NAME"),
        )

    @property
    def webhook_secret(self) -> str | None:
        """WEBHOOK_SECRET; UnresolvedKeyVaultReference (never None: that means "signing off")."""
        return _resolved(self._webhook_secret)

    @property
    def instance_id_key(self) -> str | None:
        """INSTANCE_ID_KEY; UnresolvedKeyVaultReference while its reference does not resolve
        (never None, which would name runs with another key or refuse them as "not set")."""
        return _resolved(self._instance_id_key)

    @property
    def run_secrets_vault_static_token(self) -> str | None:
        """RUN_SECRETS_VAULT_STATIC_TOKEN (emulator only); UnresolvedKeyVaultReference likewise."""
        return _resolved(self._run_secrets_vault_static_token)

    @cached_property
    def workspace(self) -> Workspace:
        """The parsed workspace; ValueError naming AZUREML_WORKSPACE_ID when unset or malformed."""
        if not self.workspace_id:
            raise ValueError("AZUREML_WORKSPACE_ID is not set: set it to the workspace ARM id")
        return Workspace.parse(self.workspace_id, self.tenant_id)


def _resolved(value: str | _Unresolved | None) -> str | None:
    if isinstance(value, _Unresolved):
        raise UnresolvedKeyVaultReference(value.setting)
    return value
