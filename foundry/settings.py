"""App settings: the one reader of the environment (names in docs/architecture.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from foundry.workspace import Workspace

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


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
    events_enabled: bool = True
    webhook_secret: str | None = field(default=None, repr=False)
    instance_id_key: str | None = field(default=None, repr=False)
    run_secrets_vault_url: str | None = None
    run_secrets_ttl_hours: float = 168.0
    run_secrets_vault_static_token: str | None = field(default=None, repr=False)
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
            events_enabled=_flag(environ, "SWEEP_EVENTS_ENABLED", True),
            webhook_secret=_text(environ, "WEBHOOK_SECRET"),
            instance_id_key=_text(environ, "INSTANCE_ID_KEY"),
            run_secrets_vault_url=_vault_url(environ),
            run_secrets_ttl_hours=_number(environ, "RUN_SECRETS_TTL_HOURS", 168.0),
            run_secrets_vault_static_token=_text(environ, "RUN_SECRETS_VAULT_STATIC_TOKEN"),
            run_secrets_vault_ca_bundle=_text(environ, "RUN_SECRETS_VAULT_CA_BUNDLE"),
            allow_code_overrides=_flag(environ, "SWEEP_ALLOW_CODE_OVERRIDES", True),
            reconcile_schedule=_text(environ, "RECONCILE_SCHEDULE") or "0 */10 * * * *",
            taskhub_name=_text(environ, "TASKHUB_NAME"),
        )

    @cached_property
    def workspace(self) -> Workspace:
        """The parsed workspace; ValueError naming AZUREML_WORKSPACE_ID when unset or malformed."""
        if not self.workspace_id:
            raise ValueError("AZUREML_WORKSPACE_ID is not set: set it to the workspace ARM id")
        return Workspace.parse(self.workspace_id, self.tenant_id)
