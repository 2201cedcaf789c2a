from __future__ import annotations

import pytest

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


def test_trial_progress_is_on_unless_turned_off_and_off_for_inputs_without_it() -> None:
    from contracts import PollPolicy

    assert Settings.from_env({}).poll.trial_progress is True
    assert Settings.from_env({"SWEEP_TRIAL_PROGRESS": "false"}).poll.trial_progress is False
    # A run started before the setting existed replays as it was written: no trial listing.
    assert PollPolicy.from_dict({"floor": 15.0}).trial_progress is False


def test_the_trial_progress_cadence_defaults_to_five_minutes_and_0_means_only_at_status_polls() -> None:
    from contracts import PollPolicy

    assert Settings.from_env({}).poll.trial_progress_seconds == 300.0
    assert Settings.from_env({"SWEEP_TRIAL_PROGRESS_SECONDS": "60"}).poll.trial_progress_seconds == 60.0
    assert Settings.from_env({"SWEEP_TRIAL_PROGRESS_SECONDS": "0"}).poll.trial_progress_seconds == 0.0
    assert PollPolicy.from_dict({"floor": 15.0}).trial_progress_seconds == 0.0  # older inputs: no timer
    for bad in ("-5", "soon", str(6 * 86400)):
        with pytest.raises(ValueError, match="SWEEP_TRIAL_PROGRESS_SECONDS"):
            Settings.from_env({"SWEEP_TRIAL_PROGRESS_SECONDS": bad})


def test_template_cache_seconds():
    assert Settings.from_env({}).template_cache_seconds == 60.0
    assert Settings.from_env({"TEMPLATE_CACHE_SECONDS": "300"}).template_cache_seconds == 300.0
    assert Settings.from_env({"TEMPLATE_CACHE_SECONDS": "0"}).template_cache_seconds == 0.0
    for bad in ("-1", "soon"):
        with pytest.raises(ValueError, match="TEMPLATE_CACHE_SECONDS"):
            Settings.from_env({"TEMPLATE_CACHE_SECONDS": bad})
