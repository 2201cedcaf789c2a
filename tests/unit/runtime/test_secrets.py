"""Settings refuse app settings that still hold an unresolved Key Vault reference.

App Service (and so Flex Consumption) resolves `@Microsoft.KeyVault(SecretUri=...)` app settings
with the app's identity; when a reference does not resolve (role not propagated yet, secret or
vault missing, access denied) the app receives the literal reference text instead of the secret
(Microsoft: "Use Key Vault references as app settings", *Troubleshoot Key Vault references*: "If a
reference isn't resolved properly, the reference string is used instead"). As INSTANCE_ID_KEY that
string would key every instance id and run-secret name with a value anyone can read in the app's
configuration; as WEBHOOK_SECRET it would refuse every start. Issue 16, finding 3.
"""

from __future__ import annotations

import logging

import pytest

from foundry.names import instance_id_for
from runtime.secrets import UnresolvedKeyVaultReference
from runtime.settings import Settings
from tests.unit.conftest import WS_ID

REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/instance-id-key)"


def test_an_unresolved_instance_id_key_is_refused_where_it_is_used_not_used(caplog):
    env = {"AZUREML_WORKSPACE_ID": WS_ID, "INSTANCE_ID_KEY": REFERENCE}
    with caplog.at_level(logging.ERROR, logger="runtime.secrets"):
        settings = Settings.from_env(env)
    # Polling, status and cancel keep working: only what needs the key is refused.
    assert settings.workspace.name == "ws-foundry"
    with pytest.raises(
        UnresolvedKeyVaultReference, match="INSTANCE_ID_KEY is an unresolved Key Vault reference"
    ):
        instance_id_for("run-1", "train-sweep-template", settings.instance_id_key)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lines) == 1 and "INSTANCE_ID_KEY is an unresolved Key Vault reference" in lines[0]
    assert "kv-abc" not in lines[0] and "SecretUri" not in lines[0], (
        "the log names the setting, not its value"
    )


def test_an_unresolved_webhook_secret_fails_closed():
    # Unset WEBHOOK_SECRET means "signatures off": an unresolved one must not read as unset.
    settings = Settings.from_env(
        {"WEBHOOK_SECRET": "  @microsoft.keyvault(VaultName=kv;SecretName=webhook-secret)"}
    )
    with pytest.raises(UnresolvedKeyVaultReference, match="WEBHOOK_SECRET"):
        _ = settings.webhook_secret


def test_an_unresolved_emulator_token_fails_closed():
    settings = Settings.from_env({"RUN_SECRETS_VAULT_STATIC_TOKEN": REFERENCE})
    with pytest.raises(UnresolvedKeyVaultReference, match="RUN_SECRETS_VAULT_STATIC_TOKEN"):
        _ = settings.run_secrets_vault_static_token


@pytest.mark.parametrize(
    ("name", "resolved"),
    [
        ("AZUREML_WORKSPACE_ID", WS_ID),
        ("RUN_SECRETS_VAULT_URL", "https://kv-abc.vault.azure.net"),
        ("RUN_SECRETS_TTL_HOURS", "24"),
        ("RUN_SECRETS_VAULT_CA_BUNDLE", "/tmp/ca.pem"),
        ("SWEEP_ALLOW_CODE_OVERRIDES", "false"),
    ],
)
def test_other_settings_refuse_a_reference_at_once(caplog, name, resolved):
    Settings.from_env({name: resolved})  # the resolved value is accepted
    with (
        caplog.at_level(logging.ERROR, logger="runtime.secrets"),
        pytest.raises(ValueError, match=f"{name} is an unresolved Key Vault reference"),
    ):
        Settings.from_env({name: REFERENCE})
    assert any(name in r.getMessage() for r in caplog.records)


def test_resolved_values_and_lookalikes_pass_through():
    settings = Settings.from_env(
        {
            "INSTANCE_ID_KEY": "a-32-character-key-of-instance-ids",
            "WEBHOOK_SECRET": "x@Microsoft.KeyVault(y)",
        }
    )
    assert settings.instance_id_key == "a-32-character-key-of-instance-ids"
    assert (
        settings.webhook_secret == "x@Microsoft.KeyVault(y)"
    )  # only a value that starts with it is a reference
    empty = Settings.from_env({})
    assert empty.instance_id_key is None and empty.webhook_secret is None
    assert empty.run_secrets_vault_static_token is None
    assert "a-32-character" not in repr(settings)
