"""Run-secret names and references (foundry/secrets.py): pure."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from foundry.run_secrets import (
    is_secret_reference,
    owned_by,
    reference_name,
    run_secret_name,
    secret_reference,
)

INSTANCE = "ps-" + "a" * 40


def test_the_name_is_stable_for_the_same_request_and_differs_by_value_key_and_run():
    name = run_secret_name(INSTANCE, "api_token", "value-1", "key")
    assert name == run_secret_name(INSTANCE, "api_token", "value-1", "key")
    assert name.startswith(INSTANCE + "-api-token-")
    assert name != run_secret_name(INSTANCE, "api_token", "value-2", "key")
    assert name != run_secret_name(INSTANCE, "api_token", "value-1", "other-key")
    assert name != run_secret_name("ps-" + "b" * 40, "api_token", "value-1", "key")
    assert "value-1" not in name


@given(parameter=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,254}", fullmatch=True), value=st.text())
def test_every_parameter_name_gives_a_valid_key_vault_name(parameter, value):
    name = run_secret_name(INSTANCE, parameter, value.encode("utf-8", "replace").decode("utf-8"), "k")
    assert re.fullmatch(r"[0-9a-zA-Z-]{1,127}", name)
    assert owned_by(name, INSTANCE) and not owned_by(name, "ps-" + "b" * 40)


def test_references_round_trip_and_are_recognised():
    ref = secret_reference("https://kv.vault.azure.net/", "ps-1-x-00")
    assert ref == "https://kv.vault.azure.net/secrets/ps-1-x-00"
    assert is_secret_reference(ref) and reference_name(ref) == "ps-1-x-00"
    for not_ref in ("hunter2", "http://kv/secrets/a", "https://kv/keys/a", "https://kv/secrets/a_b", 3, None):
        assert not is_secret_reference(not_ref) and (
            not isinstance(not_ref, str) or reference_name(not_ref) is None
        )
