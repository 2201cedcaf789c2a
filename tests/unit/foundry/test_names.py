from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundry.errors import FoundryError, RequestValidationError
from foundry.names import (
    JOB_NAME_RE,
    instance_id_for,
    job_name_for,
    validate_instance_id,
    validate_job_name,
)


@pytest.mark.parametrize(
    "bad", ["", "../x", "a/b", "-lead", "_lead", "x" * 256, "a b", "a%2Fb", "a?b=c", None, 3]
)
def test_validate_job_name_rejects(bad: object) -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_job_name(bad, "externalId")
    assert exc.value.errors[0].field == "externalId"
    assert "externalId" in exc.value.errors[0].message


@pytest.mark.parametrize("good", ["a", "train-sweep_1", "9x", "x" * 255])
def test_validate_job_name_accepts(good: str) -> None:
    assert validate_job_name(good, "f") == good


def test_validate_instance_id_limit() -> None:
    assert validate_instance_id("ps-" + "a" * 97) == "ps-" + "a" * 97
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id("ps-" + "a" * 98)
    assert exc.value.errors[0].field == "instanceId"


def test_instance_id_deterministic_from_run_id_and_keyed() -> None:
    a = instance_id_for("run-1", "tpl", "key-1")
    assert a == instance_id_for("run-1", "tpl", "key-1")
    assert a != instance_id_for("run-2", "tpl", "key-1")
    assert a != instance_id_for("run-1", "tpl", "key-2")  # unknowable without the key
    unkeyed = "ps-" + hashlib.sha256(b"tpl\nrun-1").hexdigest()[:40]
    assert a != unkeyed
    assert a.startswith("ps-")
    validate_instance_id(a)


def test_instance_id_from_run_id_needs_the_key() -> None:
    with pytest.raises(FoundryError, match="INSTANCE_ID_KEY"):
        instance_id_for("run-1", "tpl", None)


def test_instance_id_fresh_without_run_id() -> None:
    a, b = instance_id_for(None, "tpl", None), instance_id_for(None, "tpl", "k")
    assert a != b
    validate_instance_id(a)


def test_job_name_for_long_template() -> None:
    name = job_name_for("ps-1", "t" * 255)
    assert len(name) <= 255 and JOB_NAME_RE.fullmatch(name)
    assert name == job_name_for("ps-1", "t" * 255)


@given(
    st.text(min_size=1, max_size=120),
    st.text(min_size=1, max_size=120),
    st.from_regex(JOB_NAME_RE, fullmatch=True),
)
def test_job_name_for_valid_and_collision_free(i1: str, i2: str, template: str) -> None:
    n1, n2 = job_name_for(i1, template), job_name_for(i2, template)
    assert JOB_NAME_RE.fullmatch(n1) and len(n1) <= 255
    assert (n1 == n2) == (i1 == i2)
