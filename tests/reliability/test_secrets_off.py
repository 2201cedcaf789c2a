"""Without RUN_SECRETS_VAULT_URL, Secret parameters are refused with a 400 that says
why and how to enable them; nothing starts and the value is quoted nowhere."""

from __future__ import annotations

from devhost.stack import LocalStack
from tests.e2e.helpers import structured
from tests.reliability.test_secrets import SECRET, leaks


def _secret_body(**overrides) -> dict:
    body = structured(**overrides)
    body["parameters"].append(
        {"name": "api_token", "value": SECRET, "dataType": "Secret", "direction": "Input"}
    )
    return body


def test_without_a_vault_secret_parameters_are_a_400_that_says_how_to_enable_them():
    with LocalStack.start(virtual=True, events=False, settings={"RUN_SECRETS_VAULT_URL": ""}) as s:
        answer = s.post("sweeps", _secret_body(runId="no-vault"))
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["errors"][0]["field"] == "parameters[2].value"
        assert "RUN_SECRETS_VAULT_URL" in error["errors"][0]["message"]
        assert not leaks(SECRET, [answer.text])
        assert s.host.instances() == [] and s.emulator.calls["put"] == 0
