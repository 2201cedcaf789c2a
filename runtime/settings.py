"""App settings: the one reader of the environment (names in docs/architecture.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from contracts import PollPolicy
from foundry.workspace import Workspace
from runtime.secrets import SettingError, Unresolved, is_key_vault_reference, read_secret, refuse, resolved

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    if is_key_vault_reference(value):
        raise refuse(name)
    value = value.strip()
    return value or None


def _number(env: Mapping[str, str], name: str, *, integer: bool = False) -> float | None:
    """A positive number of seconds (or polls); None when unset."""
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number of {'polls' if integer else 'seconds'}", name) from None
    if not math.isfinite(value) or value <= 0:
        raise SettingError(f"{name} must be a positive number", name)
    if integer and not value.is_integer():
        raise SettingError(f"{name} must be a whole number", name)
    return value


def _seconds_or_off(env: Mapping[str, str], name: str) -> float | None:
    """A number of seconds where 0 means "off"; None when unset."""
    raw = _text(env, name)
    if raw is not None and raw.strip() in ("0", "0.0"):
        return 0.0
    return _number(env, name)


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = _text(env, name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise SettingError(f"{name} must be true or false", name)


def _vault_url(env: Mapping[str, str]) -> str | None:
    url = _text(env, "RUN_SECRETS_VAULT_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment or parts.path.strip("/"):
        raise SettingError(
            "RUN_SECRETS_VAULT_URL must be a vault URL such as https://<vault>.vault.azure.net",
            "RUN_SECRETS_VAULT_URL",
        )
    return url.rstrip("/")


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


# How stale customStatus.trials may get while a watched sweep runs (its own GETs are hours apart).
DEFAULT_TRIAL_PROGRESS_SECONDS = 300.0


def _poll_policy(env: Mapping[str, str]) -> PollPolicy:
    """How runs wait: PollPolicy holds the defaults and checks the values together (floor <= cap)."""
    given = {
        "floor": _number(env, "SWEEP_POLL_FLOOR_SECONDS"),
        "cap": _number(env, "SWEEP_POLL_CAP_SECONDS"),
        "event_floor": _number(env, "SWEEP_EVENT_POLL_FLOOR_SECONDS"),
        "event_cap": _number(env, "SWEEP_EVENT_POLL_CAP_SECONDS"),
        "polls_per_generation": _number(env, "SWEEP_POLLS_PER_GENERATION", integer=True),
        "stalled_limit": _number(env, "SWEEP_STALLED_LIMIT_SECONDS"),
        "outage_limit": _number(env, "SWEEP_OUTAGE_LIMIT_SECONDS"),
        "use_events": _flag(env, "SWEEP_EVENTS_ENABLED"),
        "watch_period": _seconds_or_off(env, "SWEEP_WATCH_PERIOD_SECONDS"),
        "safety_floor": _number(env, "SWEEP_SAFETY_POLL_FLOOR_SECONDS"),
        "safety_cap": _number(env, "SWEEP_SAFETY_POLL_CAP_SECONDS"),
    }
    # Trial progress in customStatus: one run-history GET every SWEEP_TRIAL_PROGRESS_SECONDS of a
    # running sweep, at each status change and at the end (README 'Trial progress').
    given["trial_progress"] = _given(_flag(env, "SWEEP_TRIAL_PROGRESS"), True)
    given["trial_progress_seconds"] = _given(
        _seconds_or_off(env, "SWEEP_TRIAL_PROGRESS_SECONDS"), DEFAULT_TRIAL_PROGRESS_SECONDS
    )
    if given["polls_per_generation"] is not None:
        given["polls_per_generation"] = int(given["polls_per_generation"])
    try:
        return PollPolicy(**{name: value for name, value in given.items() if value is not None})
    except ValueError as exc:  # the message names the SWEEP_* settings that disagree
        raise SettingError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    """Typed settings with the documented defaults. Secret-bearing fields stay out of repr."""

    workspace_id: str | None = None
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    tenant_id: str | None = None
    client_id: str | None = None
    static_token: str | None = field(default=None, repr=False)
    poll: PollPolicy = field(default_factory=PollPolicy)  # the SWEEP_* settings: how runs wait
    _webhook_secret: str | Unresolved | None = field(default=None, repr=False)
    _instance_id_key: str | Unresolved | None = field(default=None, repr=False)
    run_secrets_vault_url: str | None = None
    run_secrets_ttl_hours: float = 168.0
    _run_secrets_vault_static_token: str | Unresolved | None = field(default=None, repr=False)
    run_secrets_vault_ca_bundle: str | None = None
    allow_code_overrides: bool = True
    reconcile_schedule: str = "0 */10 * * * *"
    taskhub_name: str | None = None
    # How long the start route reuses a template definition it read (foundry.template_cache); 0: off.
    template_cache_seconds: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read every setting; a malformed number raises ValueError naming the setting."""
        endpoint = (_text(environ, "AZUREML_ARM_ENDPOINT") or DEFAULT_ARM_ENDPOINT).rstrip("/")
        if not endpoint.startswith(("https://", "http://")):
            raise SettingError("AZUREML_ARM_ENDPOINT must be an http(s) URL", "AZUREML_ARM_ENDPOINT")
        return cls(
            workspace_id=_text(environ, "AZUREML_WORKSPACE_ID"),
            arm_endpoint=endpoint,
            tenant_id=_text(environ, "AZUREML_TENANT_ID"),
            client_id=_text(environ, "AZURE_CLIENT_ID"),
            static_token=_text(environ, "AZUREML_STATIC_TOKEN"),
            poll=_poll_policy(environ),
            _webhook_secret=read_secret(environ, "WEBHOOK_SECRET"),
            _instance_id_key=read_secret(environ, "INSTANCE_ID_KEY"),
            run_secrets_vault_url=_vault_url(environ),
            run_secrets_ttl_hours=_given(_number(environ, "RUN_SECRETS_TTL_HOURS"), 168.0),
            _run_secrets_vault_static_token=read_secret(environ, "RUN_SECRETS_VAULT_STATIC_TOKEN"),
            run_secrets_vault_ca_bundle=_text(environ, "RUN_SECRETS_VAULT_CA_BUNDLE"),
            allow_code_overrides=_given(_flag(environ, "SWEEP_ALLOW_CODE_OVERRIDES"), True),
            reconcile_schedule=_text(environ, "RECONCILE_SCHEDULE") or "0 */10 * * * *",
            taskhub_name=_text(environ, "TASKHUB_NAME"),
            template_cache_seconds=_given(_seconds_or_off(environ, "TEMPLATE_CACHE_SECONDS"), 60.0),
        )

    @property
    def webhook_secret(self) -> str | None:
        """WEBHOOK_SECRET; UnresolvedKeyVaultReference (never None: that means "signing off")."""
        return resolved(self._webhook_secret)

    @property
    def instance_id_key(self) -> str | None:
        """INSTANCE_ID_KEY; UnresolvedKeyVaultReference while its reference does not resolve
        (never None, which would name runs with another key or refuse them as "not set")."""
        return resolved(self._instance_id_key)

    @property
    def run_secrets_vault_static_token(self) -> str | None:
        """RUN_SECRETS_VAULT_STATIC_TOKEN (emulator only); UnresolvedKeyVaultReference likewise."""
        return resolved(self._run_secrets_vault_static_token)

    @cached_property
    def workspace(self) -> Workspace:
        """The parsed workspace; ValueError naming AZUREML_WORKSPACE_ID when unset or malformed."""
        if not self.workspace_id:
            raise SettingError(
                "AZUREML_WORKSPACE_ID is not set: set it to the workspace ARM id", "AZUREML_WORKSPACE_ID"
            )
        try:
            return Workspace.parse(self.workspace_id, self.tenant_id)
        except ValueError as exc:
            raise SettingError(str(exc), "AZUREML_WORKSPACE_ID") from None
