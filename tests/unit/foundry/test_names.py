from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundry.errors import FoundryError, RequestValidationError
from foundry.names import (
    JOB_NAME_RE,
    instance_id_for,
    is_job_of_instance,
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


@pytest.mark.parametrize(
    ("instance_id", "template", "job_name"),
    [
        # Pinned: a change would give a retried run another Azure ML job name after a
        # deploy, and so a second sweep. The hashes are sha256(instance id)[:16].
        ("ps-1", "train-sweep", "train-sweep-" + hashlib.sha256(b"ps-1").hexdigest()[:16]),
        ("ps-1", "train-sweep", "train-sweep-fd9e2b9d77aa6736"),
        ("ps-2", "my template/v2", "my-template-v2-" + hashlib.sha256(b"ps-2").hexdigest()[:16]),
        ("ps-3", "_-tpl-_", "tpl-" + hashlib.sha256(b"ps-3").hexdigest()[:16]),
        ("ps-4", "", "sweep-" + hashlib.sha256(b"ps-4").hexdigest()[:16]),
        ("ps-5", "ñ", "sweep-" + hashlib.sha256(b"ps-5").hexdigest()[:16]),
        ("ps-6", "é-x", "x-" + hashlib.sha256(b"ps-6").hexdigest()[:16]),
        ("ps-7", "a" * 201, "a" * 200 + "-" + hashlib.sha256(b"ps-7").hexdigest()[:16]),
        ("ps-8", "a" * 199 + "-b", "a" * 199 + "-" + hashlib.sha256(b"ps-8").hexdigest()[:16]),
        ("ps-9", "Train_Sweep-09", "Train_Sweep-09-" + hashlib.sha256(b"ps-9").hexdigest()[:16]),
        ("ps-10", "-Tune_X-", "Tune_X-" + hashlib.sha256(b"ps-10").hexdigest()[:16]),  # only - and _ trimmed
    ],
)
def test_job_name_format_is_pinned(instance_id: str, template: str, job_name: str) -> None:
    assert job_name_for(instance_id, template) == job_name
    assert validate_job_name(job_name) == job_name


def test_a_job_is_recognised_as_its_instances_own_and_a_trial_is_not() -> None:
    job = job_name_for("ps-1", "tpl")
    assert is_job_of_instance(job, "ps-1")
    assert not is_job_of_instance(job, "ps-2")
    assert not is_job_of_instance(job + "_3", "ps-1")  # the sweep's trial
    assert not is_job_of_instance(job.replace("tpl-", "tpl"), "ps-1")  # hash without its dash


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "externalId is required: give an Azure ML job name."),
        ("", "externalId is required: give an Azure ML job name."),
        (3, "externalId must be text (an Azure ML job name), not a number."),
        ("x" * 256, "externalId is 256 characters long; the limit is 255."),
        (
            "a/b",
            "externalId must start with a letter or digit and contain only letters, digits, '-' and '_' "
            "(Azure ML job name).",
        ),
    ],
)
def test_job_name_errors_name_the_field_and_the_fix(value: object, message: str) -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_job_name(value, "externalId")
    assert [(e.field, e.message) for e in exc.value.errors] == [("externalId", message)]


def test_instance_id_errors_name_the_field() -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id("a" * 101)
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("instanceId", "instanceId is 101 characters long; the limit is 100.")
    ]
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id("-x")
    assert exc.value.errors[0].message.endswith("(run instance id).")


def test_missing_instance_id_key_is_a_500_naming_the_setting() -> None:
    with pytest.raises(FoundryError) as exc:
        instance_id_for("run-1", "tpl", "")
    assert exc.value.status == 500
    assert exc.value.to_dict() == {  # the error body the operator reads: what is missing, and the fix
        "code": "SettingMissing",
        "message": "INSTANCE_ID_KEY is not set, so run ids cannot be derived from runId safely.",
        "hint": "Set the INSTANCE_ID_KEY app setting to a long random value (the deployment generates one).",
    }


def test_instance_id_keyed_format_is_pinned() -> None:
    import hmac

    expected = "ps-" + hmac.new(b"k", b"tpl\nrun-1", hashlib.sha256).hexdigest()[:40]
    assert instance_id_for("run-1", "tpl", "k") == expected
    assert len(instance_id_for(None, "tpl", None)) == 3 + 32


@given(st.text(max_size=300), st.text(min_size=1, max_size=50))
def test_any_template_name_gives_a_valid_job_name(template: str, instance_id: str) -> None:
    """Whatever the template is called (the prefix is trimmed to start with a letter or digit)."""
    assert validate_job_name(job_name_for(instance_id, template)) == job_name_for(instance_id, template)


def test_a_job_name_error_names_the_name_field_by_default() -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_job_name("")
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("name", "name is required: give an Azure ML job name.")
    ]


def test_an_instance_id_error_reads_as_english() -> None:
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id(None)
    assert exc.value.errors[0].message == "instanceId is required: give a run instance id."
    with pytest.raises(RequestValidationError) as exc:
        validate_instance_id(["ps-1"])
    assert exc.value.errors[0].message == "instanceId must be text (a run instance id), not a list."


def test_json_type_names_each_json_type() -> None:
    from foundry.names import json_type

    assert [json_type(v) for v in (True, 1, 1.5, [], {}, "x", None)] == [
        "a boolean",
        "a number",
        "a number",
        "a list",
        "an object",
        "text",
        "null",
    ]
