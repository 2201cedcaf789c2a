"""The two body shapes Polysync can send, parsed into a `RunRequest`, or refused with a
`RequestValidationError` that lists *every* bad field (one round trip fixes all) without
ever quoting a value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from foundry.errors import FieldError, RequestValidationError
from foundry.names import validate_job_name
from foundry.run_secrets import is_secret_reference
from polysync.request.limits import (
    FLAT_ENVELOPE,
    MAX_DEPTH,
    MAX_DISPLAY_NAME,
    MAX_PARAMETERS,
    MAX_RUN_ID,
    STRUCTURED_ENVELOPE,
    label,
    shape_errors,
    text_problem,
)
from polysync.request.models import Attributes, Parameter, RunRequest
from polysync.request.types import ATTRIBUTE_NAMES, attribute_field, infer_data_type, meant_as_attribute


def _pydantic_errors(exc: ValidationError, prefix: str, aliases: dict[str, str]) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        field = aliases.get(loc[0], loc[0]) if loc else ""
        path = f"{prefix}.{field}" if field and prefix else (field or prefix or "body")
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key; remove it"
        elif err.get("type") == "missing":
            msg = "required"
        out.append(FieldError(path, msg))
    return out


def _run_id(value: Any, field: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.append(FieldError(field, "runId must be text (Polysync's run id)."))
        return None
    value = value.strip()
    if len(value) > MAX_RUN_ID or text_problem(value) is not None or any(c in value for c in "\t\n\r"):
        errors.append(FieldError(field, f"runId must be printable text of at most {MAX_RUN_ID} characters."))
        return None
    return value or None


def _display_name(value: Any, field: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "name must be text (the Polysync job name)."))
        return None
    value = value.strip()
    if len(value) > MAX_DISPLAY_NAME:
        errors.append(FieldError(field, f"name is longer than {MAX_DISPLAY_NAME} characters."))
        return None
    if (problem := text_problem(value)) is not None or any(c in value for c in "\t\n\r"):
        errors.append(FieldError(field, problem or "name must be one line of text."))
        return None
    return value or None


def _attributes(
    raw: dict[str, Any], path_of: Callable[[str], str]
) -> tuple[Attributes | None, list[FieldError]]:
    """Validate attributes given by any spelling; errors carry the key as the caller wrote it."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    original: dict[str, str] = {}
    for key, value in raw.items():
        field = attribute_field(key)
        if field is None:
            known = ", ".join(n for n, _ in ATTRIBUTE_NAMES.values())
            errors.append(
                FieldError(path_of(str(key)[:100]), f"unknown attribute; known attributes: {known}.")
            )
            continue
        if field in values:
            errors.append(
                FieldError(path_of(key), f"given twice (also as '{original[field]}'); keep one of them.")
            )
            continue
        values[field] = value
        original[field] = key
    try:
        attrs = Attributes.model_validate(values)
    except ValidationError as exc:
        for e in _pydantic_errors(exc, "", {}):
            errors.append(
                FieldError(
                    path_of(original.get(e.field, ATTRIBUTE_NAMES.get(e.field, (e.field,))[0])), e.message
                )
            )
        attrs = None
    return (attrs if not errors else None), errors


_PARAM_ALIASES = {"data_type": "dataType"}
_PARAM_KEYS = {"name", "value", "dataType", "data_type", "direction"}


def _parameter(item: Any, path: str, *, trusted: bool, errors: list[FieldError]) -> Parameter | None:
    if not isinstance(item, dict):
        errors.append(
            FieldError(path, "each parameter must be an object with name, value, dataType, direction.")
        )
        return None
    data = {k: v for k, v in item.items() if k in _PARAM_KEYS}
    if "value" not in data and "defaultValue" in item:
        data["value"] = item["defaultValue"]
    ignored = {"defaultValue", "description"} | ({"keyVaultSecret"} if trusted else set())
    for key in item:
        if key not in _PARAM_KEYS and key not in ignored:
            errors.append(FieldError(f"{path}.{str(key)[:100]}", "unknown key; remove it."))
    reference = trusted and item.get("keyVaultSecret") is True
    try:
        param = Parameter.model_validate(data)
    except ValidationError as exc:
        name = item.get("name")
        for e in _pydantic_errors(exc, path, _PARAM_ALIASES):
            # name the parameter, not only its position
            named = isinstance(name, str) and name.strip() and not e.field.endswith(".name")
            errors.append(
                FieldError(e.field, f"parameter '{name.strip()[:100]}': {e.message}" if named else e.message)
            )
        return None
    if reference:
        if not (
            param.is_secret
            and param.value is not None
            and is_secret_reference(param.value.get_secret_value())
        ):
            errors.append(
                FieldError(f"{path}.value", "marked as a Key Vault secret but not a secret identifier.")
            )
            return None
        param._reference = True
    return param


def _check_duplicates(params: list[tuple[int, str, Parameter]], errors: list[FieldError]) -> None:
    seen: dict[str, str] = {}
    for _, path, p in params:
        if p.name in seen:
            errors.append(FieldError(f"{path}.name", f"duplicate parameter name (also {seen[p.name]})."))
        else:
            seen[p.name] = path


STRUCTURED_KEYS = ("externalId", "name", "runId", "attributes", "parameters")


def _parse_structured(body: Any, *, trusted: bool) -> RunRequest:
    # A payload the start route produced was checked there: checked once, not again.
    errors = [] if trusted else shape_errors(body, max_depth=MAX_DEPTH + STRUCTURED_ENVELOPE)
    if errors:
        raise RequestValidationError(errors)
    if not isinstance(body, dict):
        raise RequestValidationError(
            [FieldError("body", "the body must be a JSON object with externalId, attributes and parameters.")]
        )
    for key in body:
        if key not in STRUCTURED_KEYS:
            errors.append(FieldError(label(key), f"unknown key; expected {', '.join(STRUCTURED_KEYS)}."))
    external_id: str | None = None
    try:
        external_id = validate_job_name(body.get("externalId"), "externalId")
    except RequestValidationError as exc:
        errors.extend(exc.errors)
    name = _display_name(body.get("name"), "name", errors)
    run_id = _run_id(body.get("runId"), "runId", errors)

    attrs: Attributes | None = Attributes()
    raw_attrs = body.get("attributes")
    if isinstance(raw_attrs, dict):
        attrs, attr_errors = _attributes(raw_attrs, lambda k: f"attributes.{k}")
        errors.extend(attr_errors)
    elif raw_attrs is not None:
        errors.append(FieldError("attributes", "attributes must be an object of 'AI Foundry ...' keys."))

    params: list[tuple[int, str, Parameter]] = []
    raw_params = body.get("parameters")
    if isinstance(raw_params, list):
        if len(raw_params) > MAX_PARAMETERS:
            errors.append(FieldError("parameters", f"more than {MAX_PARAMETERS} parameters."))
        else:
            for i, item in enumerate(raw_params):
                path = f"parameters[{i}]"
                p = _parameter(item, path, trusted=trusted, errors=errors)
                if p is not None:
                    params.append((i, path, p))
            _check_duplicates(params, errors)
    elif raw_params is not None:
        errors.append(
            FieldError("parameters", "parameters must be a list of {name, value, dataType, direction}.")
        )

    return _request(errors, external_id, name, run_id, attrs, params)


def _request(
    errors: list[FieldError],
    external_id: str | None,
    name: str | None,
    run_id: str | None,
    attrs: Attributes | None,
    params: list[tuple[int, str, Parameter]],
) -> RunRequest:
    """The request, or every error at once."""
    if errors or external_id is None or attrs is None:
        raise RequestValidationError(errors or [FieldError("body", "invalid request.")])
    return RunRequest(
        external_id=external_id,
        name=name or external_id,
        run_id=run_id,
        attributes=attrs,
        parameters=[p for _, _, p in params],
    )


def parse_structured_request(body: Any) -> RunRequest:
    """Parse `{"externalId", "name"?, "runId"?, "attributes"?, "parameters"?}`."""
    return _parse_structured(body, trusted=False)


def parse_payload(payload: dict[str, Any]) -> RunRequest:
    """Inverse of `RunRequest.to_payload` (trusted: it was validated at the start route)."""
    return _parse_structured(payload, trusted=True)


RESERVED_FLAT_KEYS = ("runId", "name", "template")


def parse_flat_request(
    template: str, body: Any, *, name: str | None = None, run_id: str | None = None
) -> RunRequest:
    """Parse Polysync's flat body `{"<param>": <typed value>, ...}` for the template in the route.

    Attribute keys (any spelling) become attributes; `runId`, `name` and `template` are
    reserved; every other key is an Input parameter typed from its JSON value.
    Explicit `name`/`run_id` (query string) win over the body's.
    """
    errors: list[FieldError] = []
    template_ok = True
    try:
        template = validate_job_name(template, "template")
    except RequestValidationError as exc:
        errors.extend(exc.errors)
        template_ok = False
    shape = shape_errors(body, max_depth=MAX_DEPTH + FLAT_ENVELOPE)
    if shape:
        raise RequestValidationError(errors + shape)
    if not isinstance(body, dict):
        errors.append(FieldError("body", "the body must be a JSON object of parameter names to values."))
        raise RequestValidationError(errors)
    body_name = _display_name(body.get("name"), "name", errors)
    body_run_id = _run_id(body.get("runId"), "runId", errors)
    final_name = _display_name(name, "name", errors) or body_name
    query_run_id = _run_id(run_id, "runId", errors)
    if query_run_id and body_run_id and query_run_id != body_run_id:
        errors.append(
            FieldError(
                "runId",
                "runId is given in the query string and in the body with different values; send it once, "
                "or the same in both.",
            )
        )
    final_run_id = query_run_id or body_run_id

    raw_attrs: dict[str, Any] = {}
    params: list[tuple[int, str, Parameter]] = []
    candidates = [(k, v) for k, v in body.items() if k not in RESERVED_FLAT_KEYS]
    param_count = sum(1 for k, _ in candidates if not meant_as_attribute(k))
    if param_count > MAX_PARAMETERS:
        errors.append(FieldError("body", f"more than {MAX_PARAMETERS} parameters."))
    for i, (key, value) in enumerate(candidates):
        if meant_as_attribute(key):
            raw_attrs[key] = value
            continue
        if param_count > MAX_PARAMETERS:
            continue
        if value is None:
            errors.append(FieldError(label(key), "null value: send a value or leave the parameter out."))
            continue
        item = {"name": key, "dataType": infer_data_type(value).value, "direction": "Input", "value": value}
        local: list[FieldError] = []
        p = _parameter(item, label(key), trusted=False, errors=local)
        # the flat body has one key per parameter: report `lr`, not `lr.value`
        errors.extend(
            FieldError(label(key), e.message.removeprefix(f"parameter '{key.strip()[:100]}': "))
            for e in local
        )
        if p is not None:
            params.append((i, key, p))
    attrs, attr_errors = _attributes(raw_attrs, lambda k: k)
    errors.extend(attr_errors)
    return _request(errors, template if template_ok else None, final_name, final_run_id, attrs, params)
