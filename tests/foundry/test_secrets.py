from __future__ import annotations

from types import SimpleNamespace

import pytest

from foundry.errors import FoundryError
from foundry.secrets import PREFIX, Sealer, redact


def test_seal_roundtrip_and_prefix() -> None:
    s = Sealer("key-1")
    sealed = s.seal("hunter2")
    assert sealed.startswith(PREFIX) and "hunter2" not in sealed
    assert s.unseal(sealed) == "hunter2"
    assert s.seal("hunter2") != sealed  # fresh IV each time


def test_rotation_with_previous_key() -> None:
    old = Sealer("old").seal("v")
    assert Sealer("new", ["old"]).unseal(old) == "v"


def test_rotated_away_key_is_clear_error_without_value() -> None:
    old = Sealer("old").seal("top-secret-value")
    with pytest.raises(FoundryError) as exc:
        Sealer("new").unseal(old)
    assert exc.value.code == "SecretUnsealFailed"
    text = str(exc.value) + str(exc.value.to_dict())
    assert "top-secret-value" not in text and old not in text
    assert "SECRET_SEALING_KEY" in text


def test_unseal_requires_sealed_form() -> None:
    with pytest.raises(FoundryError) as exc:
        Sealer("k").unseal("plain")
    assert exc.value.code == "SecretNotSealed"
    assert "plain" not in str(exc.value.to_dict())


def test_from_settings() -> None:
    assert Sealer.from_settings(SimpleNamespace(secret_sealing_key=None)) is None
    assert Sealer.from_settings(SimpleNamespace(secret_sealing_key="  ")) is None
    old = Sealer("old").seal("x")
    rotated = Sealer.from_settings(SimpleNamespace(secret_sealing_key="new, old"))
    assert rotated is not None and rotated.unseal(old) == "x"
    assert "new" not in repr(rotated)


def test_redact() -> None:
    assert redact("token abc and abcdef", ["abc", "abcdef", ""]) == "token *** and ***"
    assert redact("nothing", []) == "nothing"
