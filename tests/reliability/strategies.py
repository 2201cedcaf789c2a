"""Hypothesis strategies for malformed start requests. Each draw is a body that is
invalid by construction, with a fragment of the field the 400 must name."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

VALID_TEMPLATE = "train-sweep-template"
# The directions the README documents: Input, Output, Input&Output (any case; "In"/"Out",
# and "&", "/", "_", "-" or nothing between the two words). Restated here, not imported.
VALID_DIRECTION = re.compile(r"(in(put)?\s*[&/_\-]?\s*out(put)?)|in(put)?|out(put)?", re.IGNORECASE)

GOOD_PARAM = {"name": "learning_rate", "value": "0.01", "dataType": "Float", "direction": "Input"}

# Text a JSON parser hands over but no UTF-8 encoder can write (lone surrogates), and
# control characters: both must be a 400, never a crash further down.
surrogate_text = st.builds(
    lambda head, s, tail: head + s + tail,
    st.text(max_size=5),
    st.characters(categories=["Cs"]),  # one: a high+low pair would decode to a valid character
    st.text(max_size=5),
)
control_chars = st.characters(categories=["Cc"]).filter(lambda c: c not in "\t\n\r")
control_char_text = st.builds(lambda head, c: head + c, st.text(max_size=5), control_chars)
bad_text = st.one_of(surrogate_text, control_char_text)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    bad_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
not_text = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
)
not_object = st.one_of(json_scalars, st.lists(json_values, max_size=4))
not_list = st.one_of(
    json_scalars.filter(lambda v: v is not None), st.dictionaries(st.text(max_size=5), json_scalars)
)


def label(key: str) -> str:
    """How an error names a body key: cut at 100 characters, a blank key quoted."""
    text = key[:100]
    return text if text.strip() else json.dumps(text)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# Names that must never reach an ARM path (job names: ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$).
bad_job_names = st.one_of(
    st.sampled_from(
        [
            "",
            "..",
            "../x",
            "..%2Fx",
            "a/b",
            "a\\b",
            "x?api-version=1",
            "x#frag",
            "-leading-dash",
            "_leading",
            "with space",
            "tab\there",
            "new\nline",
            "näme",
            "名前",
            "emoji-🙂",
            "a" * 256,
            "%2e%2e",
            "x;y",
            "x:y",
            "x.y",
        ]
    ),
    st.text(min_size=256, max_size=400, alphabet="abc-_0123456789"),
    st.text(min_size=1, max_size=30).filter(
        lambda s: not __import__("re").fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}", s)
    ),
)
bad_param_names = st.one_of(
    st.sampled_from(
        ["", "../x", "1starts_with_digit", "has-dash", "has space", "näme", "a" * 256, "a.b", "$x"]
    ),
    st.text(min_size=256, max_size=300, alphabet="abc_"),
    st.text(min_size=1, max_size=20).filter(
        lambda s: not __import__("re").fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", s)
    ),
)
huge_text = st.integers(min_value=64 * 1024 + 1, max_value=200 * 1024).map(lambda n: "x" * n)
control_text = st.text(min_size=1, max_size=10).map(lambda s: s + "\x00\x07")


def _base() -> dict[str, Any]:
    return {
        "externalId": VALID_TEMPLATE,
        "name": "fuzz",
        "attributes": {"AI Foundry Objective Metric": "accuracy", "AI Foundry Objective Goal": "Maximize"},
        "parameters": [dict(GOOD_PARAM)],
    }


def _with(key: str, value: Any) -> dict[str, Any]:
    body = _base()
    body[key] = value
    return body


def _without(key: str) -> dict[str, Any]:
    body = _base()
    del body[key]
    return body


def _param(**changes: Any) -> dict[str, Any]:
    body = _base()
    body["parameters"] = [{**GOOD_PARAM, **changes}]
    return body


def _attr(key: str, value: Any) -> dict[str, Any]:
    body = _base()
    body["attributes"] = {**body["attributes"], key: value}
    return body


def _param_value(data_type: str, value: Any) -> dict[str, Any]:
    return _param(dataType=data_type, value=value)


# (body, field fragment the error must name)
structured_bad = st.one_of(
    not_object.map(lambda b: (b, "body")),
    st.just((_without("externalId"), "externalId")),
    not_text.map(lambda v: (_with("externalId", v), "externalId")),
    bad_job_names.map(lambda v: (_with("externalId", v), "externalId")),
    not_text.map(lambda v: (_with("name", v), "name")),
    st.text(min_size=1025, max_size=1100, alphabet="ab").map(lambda v: (_with("name", v), "name")),
    st.one_of(not_text.filter(lambda v: not isinstance(v, int)), control_text, st.just("r" * 257)).map(
        lambda v: (_with("runId", v), "runId")
    ),
    not_object.filter(lambda v: v is not None).map(lambda v: (_with("attributes", v), "attributes")),
    not_list.map(lambda v: (_with("parameters", v), "parameters")),
    st.text(min_size=1, max_size=20)
    .filter(lambda k: k not in ("externalId", "name", "runId", "attributes", "parameters"))
    .map(lambda k: (_with(k, 1), label(k))),
    bad_param_names.map(lambda n: (_param(name=n), "parameters[0]")),
    not_object.filter(lambda v: v is not None).map(lambda v: (_with("parameters", [v]), "parameters[0]")),
    st.text(min_size=1, max_size=10)
    .filter(
        lambda s: (
            s.strip().lower()
            not in {
                "string",
                "secret",
                "int",
                "float",
                "bool",
                "json",
                "integer",
                "boolean",
                "double",
                "number",
            }
        )
    )
    .map(lambda t: (_param(dataType=t), "parameters[0]")),
    st.text(min_size=1, max_size=10)
    .filter(lambda s: not VALID_DIRECTION.fullmatch(s.strip()))
    .map(lambda d: (_param(direction=d), "parameters[0]")),
    st.sampled_from(["fast", "1e400", "", "[]", "0x10"]).map(
        lambda v: (_param_value("Float", v), "parameters[0]")
    ),
    st.one_of(st.sampled_from(["many", "1.5", "true"]), st.just(True), st.integers(min_value=2**64)).map(
        lambda v: (_param_value("Int", v), "parameters[0]")
    ),
    st.integers(min_value=33, max_value=60).map(lambda d: (_param_value("JSON", deep(d)), "parameters[0]")),
    bad_text.map(lambda v: (_param_value("String", v), "parameters[0]")),
    bad_text.map(lambda v: (_param_value("Secret", v), "parameters[0]")),
    bad_text.map(lambda v: (_with("name", v), "name")),
    bad_text.map(lambda v: (_with("runId", v), "runId")),
    bad_text.map(lambda v: (_attr("AI Foundry Command", "python train.py " + v), "Command")),
    huge_text.map(lambda v: (_param_value("String", v), "parameters[0]")),
    st.just((_with("parameters", [dict(GOOD_PARAM), dict(GOOD_PARAM)]), "parameters[1]")),
    st.text(min_size=1, max_size=12)
    .filter(lambda s: s.strip().lower() not in {"maximize", "minimize", "max", "min", ""})
    .map(lambda v: (_attr("AI Foundry Objective Goal", v), "Objective Goal")),
    st.one_of(st.integers(max_value=0), st.integers(min_value=1001), st.just("many")).map(
        lambda v: (_attr("AI Foundry Max Total Trials", v), "Max Total Trials")
    ),
    st.text(min_size=3, max_size=20, alphabet="xyz").map(
        lambda k: (_attr("AI Foundry " + k, "v"), "attributes.")
    ),
    bad_job_names.filter(lambda v: v.strip() and not v.lower().startswith("azureml:")).map(
        lambda v: (_attr("AI Foundry Compute Name", v + "/.."), "Compute Name")
    ),
)

flat_bad = st.one_of(
    not_object.map(lambda b: (b, "body")),
    bad_param_names.filter(lambda n: n not in ("runId", "name", "template")).map(
        lambda n: ({n: 1}, label(n))
    ),
    st.text(min_size=1, max_size=10, alphabet="abc_").map(lambda k: ({"p_" + k: None}, "p_" + k)),
    st.integers(min_value=33, max_value=60).map(lambda d: ({"cfg": deep(d)}, "cfg")),
    huge_text.map(lambda v: ({"blob": v}, "blob")),
    bad_text.map(lambda v: ({"p": v}, "p")),
    bad_text.map(lambda v: ({"runId": v}, "runId")),
    not_text.filter(lambda v: not isinstance(v, int)).map(lambda v: ({"runId": v}, "runId")),
    not_text.map(lambda v: ({"name": v}, "name")),
    st.text(min_size=1, max_size=12)
    .filter(lambda s: s.strip().lower() not in {"maximize", "minimize", "max", "min", ""})
    .map(lambda v: ({"AI Foundry Objective Goal": v}, "Objective Goal")),
    st.one_of(st.integers(max_value=0), st.integers(min_value=1001)).map(
        lambda v: ({"AI Foundry Max Total Trials": v}, "Max Total Trials")
    ),
)
