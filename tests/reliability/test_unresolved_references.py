"""An INSTANCE_ID_KEY that reaches the app as an unresolved Key Vault reference fails closed.

App Service passes the literal `@Microsoft.KeyVault(...)` text when a reference does not resolve
(Microsoft: "Use Key Vault references as app settings", *Troubleshoot Key Vault references*: "If a
reference isn't resolved properly, the reference string is used instead"). Keying instance ids with
that text would make them computable by anyone who can read the app's configuration (issue 11), so
a start is refused and nothing is started, while routes that do not need the key keep answering.
"""

from __future__ import annotations

from devhost.stack import LocalStack
from foundry.names import INSTANCE_PREFIX
from tests.e2e.helpers import structured

REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/instance-id-key)"


def test_an_unresolved_instance_id_key_refuses_starts_and_starts_nothing():
    with LocalStack.start(virtual=True, events=False, settings={"INSTANCE_ID_KEY": REFERENCE}) as s:
        for body in (structured(runId="unresolved-key"), structured()):
            answer = s.post("sweeps", body)
            assert answer.status_code == 500, answer.text
            assert "kv-abc" not in answer.text and "KeyVault" not in answer.text
            error = answer.json()["error"]  # JSON naming the setting, not the host's bare 500
            assert error["code"] == "SettingUnresolved" and error["setting"] == "INSTANCE_ID_KEY"
            assert error["message"].startswith("INSTANCE_ID_KEY is an unresolved Key Vault reference")
        assert s.host.instances() == [] and s.emulator.calls["put"] == 0
        # Status of runs in flight does not need the key: it still answers.
        unknown = s.get(f"sweeps/{INSTANCE_PREFIX}{'0' * 40}")
        assert unknown.status_code == 404, unknown.text


def test_an_unresolved_ordinary_setting_answers_a_json_500_naming_it():
    """A reference in a setting the start and templates routes read (here SWEEP_POLL_CAP_SECONDS)
    fails them with a JSON 500 that names the setting, never its text; status needs no setting."""
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/cap)"
    with LocalStack.start(virtual=True, events=False, settings={"SWEEP_POLL_CAP_SECONDS": reference}) as s:
        for answer in (s.post("sweeps", structured()), s.get("templates")):
            assert answer.status_code == 500, answer.text
            assert answer.json()["error"]["setting"] == "SWEEP_POLL_CAP_SECONDS"
            assert "kv-abc" not in answer.text
        assert s.get(f"sweeps/{INSTANCE_PREFIX}{'0' * 40}").status_code == 404
        assert s.host.instances() == []
