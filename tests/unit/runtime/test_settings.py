from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from foundry.auth import (
    ARM_SCOPE,
    AzureIdentityTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    token_provider_from_settings,
)
from foundry.errors import AuthError
from runtime.settings import Settings
from tests.unit.conftest import WS_ID


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.arm_endpoint == "https://management.azure.com"
    assert (s.poll.floor, s.poll.cap) == (15, 120)
    assert (s.poll.event_floor, s.poll.event_cap) == (3600, 28800)
    assert s.poll.polls_per_generation == 1 and isinstance(s.poll.polls_per_generation, int)
    assert s.poll.stalled_limit == 3600
    assert s.reconcile_schedule == "0 */10 * * * *"
    assert s.webhook_secret is None and s.static_token is None and s.instance_id_key is None
    assert s.run_secrets_vault_url is None and s.run_secrets_ttl_hours == 168 and s.allow_code_overrides
    with pytest.raises(ValueError, match="AZUREML_WORKSPACE_ID"):
        _ = s.workspace


def test_all_settings_read() -> None:
    env = {
        "AZUREML_WORKSPACE_ID": WS_ID,
        "AZUREML_ARM_ENDPOINT": "http://127.0.0.1:9000/",
        "AZUREML_TENANT_ID": "tid",
        "AZURE_CLIENT_ID": "cid",
        "AZUREML_STATIC_TOKEN": "tok-secret",
        "SWEEP_POLL_FLOOR_SECONDS": "1.5",
        "SWEEP_POLL_CAP_SECONDS": "10",
        "SWEEP_EVENT_POLL_FLOOR_SECONDS": "60",
        "SWEEP_EVENT_POLL_CAP_SECONDS": "600",
        "SWEEP_POLLS_PER_GENERATION": "5",
        "SWEEP_STALLED_LIMIT_SECONDS": "30",
        "INSTANCE_ID_KEY": "seal-secret",
        "WEBHOOK_SECRET": "hook-secret",
        "RUN_SECRETS_VAULT_URL": "https://kv-ws.vault.azure.net/",
        "RUN_SECRETS_TTL_HOURS": "12",
        "RUN_SECRETS_VAULT_STATIC_TOKEN": "kv-token",
        "RUN_SECRETS_VAULT_CA_BUNDLE": "/tmp/ca.pem",
        "SWEEP_ALLOW_CODE_OVERRIDES": "false",
        "RECONCILE_SCHEDULE": "0 */5 * * * *",
        "TASKHUB_NAME": "hub",
    }
    s = Settings.from_env(env)
    assert s.arm_endpoint == "http://127.0.0.1:9000"
    assert s.workspace.name == "ws-foundry" and s.workspace.tenant_id == "tid"
    assert (s.client_id, s.static_token, s.poll.floor, s.poll.polls_per_generation) == (
        "cid",
        "tok-secret",
        1.5,
        5,
    )
    assert (s.instance_id_key, s.webhook_secret, s.taskhub_name) == ("seal-secret", "hook-secret", "hub")
    assert (s.run_secrets_vault_url, s.run_secrets_ttl_hours) == ("https://kv-ws.vault.azure.net", 12)
    assert (s.run_secrets_vault_static_token, s.run_secrets_vault_ca_bundle) == ("kv-token", "/tmp/ca.pem")
    assert s.allow_code_overrides is False
    assert s.reconcile_schedule == "0 */5 * * * *" and s.poll.stalled_limit == 30
    for secret in ("tok-secret", "seal-secret", "hook-secret", "kv-token"):
        assert secret not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWEEP_POLL_FLOOR_SECONDS", "fast"),
        ("SWEEP_POLL_CAP_SECONDS", "-1"),
        ("SWEEP_POLLS_PER_GENERATION", "2.5"),
        ("SWEEP_STALLED_LIMIT_SECONDS", "nan"),
        ("SWEEP_EVENT_POLL_FLOOR_SECONDS", "0"),
    ],
)
def test_bad_numbers_name_setting(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_events_enabled_flag() -> None:
    assert Settings.from_env({}).poll.use_events is True
    assert Settings.from_env({"SWEEP_EVENTS_ENABLED": "false"}).poll.use_events is False
    assert Settings.from_env({"SWEEP_EVENTS_ENABLED": "ON"}).poll.use_events is True
    with pytest.raises(ValueError, match="SWEEP_EVENTS_ENABLED"):
        Settings.from_env({"SWEEP_EVENTS_ENABLED": "perhaps"})


def test_cap_below_floor() -> None:
    with pytest.raises(ValueError, match="SWEEP_POLL_CAP_SECONDS"):
        Settings.from_env({"SWEEP_POLL_FLOOR_SECONDS": "100", "SWEEP_POLL_CAP_SECONDS": "10"})


def test_bad_workspace_is_lazy() -> None:
    s = Settings.from_env({"AZUREML_WORKSPACE_ID": "nope"})
    with pytest.raises(ValueError, match="AZUREML_WORKSPACE_ID"):
        _ = s.workspace


@dataclass
class Access:
    token: str
    expires_on: int


class FakeCredential:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_token(self, scope: str) -> Access:
        self.calls.append(scope)
        return Access(f"tok-{len(self.calls)}", 1000 + 3600)


def test_identity_provider_caches_until_margin() -> None:
    now = [1000.0]
    cred = FakeCredential()
    p = AzureIdentityTokenProvider("cid", credential_factory=lambda: cred, clock=lambda: now[0])
    assert isinstance(p, TokenProvider)
    assert p.get_token() == "tok-1" and p.get_token() == "tok-1"
    now[0] = 1000 + 3600 - 301
    assert p.get_token() == "tok-1"
    now[0] = 1000 + 3600 - 299  # inside the 5-minute margin
    assert p.get_token() == "tok-2"
    assert cred.calls == [ARM_SCOPE, ARM_SCOPE]
    p.invalidate()
    assert p.get_token() == "tok-3"


def test_identity_provider_thread_safe() -> None:
    cred = FakeCredential()
    p = AzureIdentityTokenProvider(None, credential_factory=lambda: cred, clock=lambda: 1000.0)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(p.get_token())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {"tok-1"} and len(cred.calls) == 1


def test_identity_failure_is_auth_error_without_details() -> None:
    class Broken:
        def get_token(self, scope: str) -> Access:
            raise RuntimeError("secret-internal-detail")

    p = AzureIdentityTokenProvider(None, credential_factory=Broken)
    with pytest.raises(AuthError) as exc:
        p.get_token()
    assert (
        "secret-internal-detail" not in str(exc.value.to_dict()) and exc.value.code == "CredentialUnavailable"
    )


def test_provider_from_settings_and_lazy_import() -> None:
    static = token_provider_from_settings(SimpleNamespace(static_token="abc", client_id=None))
    assert (
        isinstance(static, StaticTokenProvider) and static.get_token() == "abc" and "abc" not in repr(static)
    )
    ident = token_provider_from_settings(SimpleNamespace(static_token=None, client_id="cid"))
    assert isinstance(ident, AzureIdentityTokenProvider)
    code = (
        "import sys, foundry.client, foundry.auth, runtime.settings;"
        "from foundry.auth import token_provider_from_settings as f;"
        "from types import SimpleNamespace as N;"
        "f(N(static_token=None, client_id=None));"
        "assert 'azure.identity' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).parents[3])


@pytest.mark.parametrize(
    "url",
    [
        "http://kv.vault.azure.net",
        "https://kv.vault.azure.net/secrets/x",
        "kv.vault.azure.net",
        "https://kv?x=1",
    ],
)
def test_the_vault_url_must_be_an_https_vault_root(url: str) -> None:
    with pytest.raises(ValueError, match="RUN_SECRETS_VAULT_URL"):
        Settings.from_env({"RUN_SECRETS_VAULT_URL": url})
