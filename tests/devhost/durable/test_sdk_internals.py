"""devhost drives the SDKs through a few private or undocumented seams. When an
upgrade moves one, this test names it and says what to do, instead of the suite
failing somewhere deep with an AttributeError.

Tested versions: the pins in requirements.txt (azure-functions, azure-functions-durable).
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

from devhost.durable.history import ActionType, EventType

HINT = (
    "devhost/durable relies on this SDK internal; the installed {package} {installed} changed it. "
    "Pin {package} back to the tested version in requirements.txt, or adapt devhost/durable "
    "(functions.py, engine.py, payloads.py) and these checks to the new SDK."
)


def _fail(package: str, what: str) -> None:
    pytest.fail(f"{what}: " + HINT.format(package=package, installed=version(package)))


def test_azure_functions_internals_devhost_uses():
    try:
        from azure.functions import _durable_functions as fdf
        from azure.functions.timer import TimerRequest
    except ImportError as exc:
        _fail("azure-functions", f"import failed ({exc})")
    for name in ("df_dumps", "df_loads"):
        if not callable(getattr(fdf, name, None)):
            _fail("azure-functions", f"azure.functions._durable_functions.{name} is gone")
    if fdf.df_loads(fdf.df_dumps({"a": [1]})) != {"a": [1]}:
        _fail("azure-functions", "df_dumps/df_loads no longer round-trip plain JSON")
    params = inspect.signature(TimerRequest).parameters
    if not {"past_due", "schedule_status", "schedule"} <= set(params):
        _fail("azure-functions", f"TimerRequest(...) takes {list(params)}")


def test_function_app_indexing_devhost_uses():
    import azure.durable_functions as df

    app = df.DFApp()

    @app.activity_trigger(input_name="x")
    def probe(x: str) -> str:
        return x

    if not hasattr(app, "_function_builders") or not hasattr(app, "functions_bindings"):
        _fail("azure-functions", "FunctionApp._function_builders / functions_bindings are gone")
    builder = app._function_builders[0]
    if not callable(getattr(builder, "build", None)):
        _fail("azure-functions", "FunctionBuilder.build(auth_level) is gone")
    (function,) = app.get_functions()
    for method in ("get_function_name", "get_user_function", "get_bindings"):
        if not callable(getattr(function, method, None)):
            _fail("azure-functions", f"Function.{method}() is gone")
    if not all(callable(getattr(b, "get_dict_repr", None)) for b in function.get_bindings()):
        _fail("azure-functions", "binding.get_dict_repr() is gone")


def test_durable_sdk_internals_devhost_uses():
    try:
        from azure.durable_functions.models.actions.ActionType import ActionType as SdkActionType
        from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
        from azure.durable_functions.models.utils import http_utils
    except ImportError as exc:
        _fail("azure-functions-durable", f"import failed ({exc})")
    if not inspect.iscoroutinefunction(getattr(http_utils, "_close_session", None)):
        _fail(
            "azure-functions-durable",
            "http_utils._close_session() (the module-level aiohttp session) is gone",
        )
    if not hasattr(http_utils, "_client_session"):
        _fail("azure-functions-durable", "http_utils._client_session is gone")
    sdk_events = {e.value: e.name.replace("_", "").lower() for e in HistoryEventType}
    ours = {e.value: e.name.lower() for e in EventType}
    if sdk_events != ours:
        _fail("azure-functions-durable", f"HistoryEventType numbering moved: {sdk_events}")
    sdk_actions = {a.value: a.name.replace("_", "").lower() for a in SdkActionType}
    if sdk_actions != {a.value: a.name.lower() for a in ActionType}:
        _fail("azure-functions-durable", f"ActionType numbering moved: {sdk_actions}")


def test_the_out_of_process_reply_devhost_reads():
    """The orchestrator handle takes the context JSON and answers the V3 state; an
    orchestrator exception carries the state after `$OutOfProcData$`."""
    import json

    import azure.durable_functions as df

    from devhost.durable.engine import OUT_OF_PROC_MARKER

    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def probe(context: df.DurableOrchestrationContext):
        yield context.wait_for_external_event("never")

    @app.orchestration_trigger(context_name="context")
    def boom(context: df.DurableOrchestrationContext):
        raise ValueError("boom")
        yield  # pragma: no cover

    handles = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    context = {
        "history": [
            {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-01-05T09:00:00.000000Z"},
            {
                "EventType": 0,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": "2026-01-05T09:00:00.000000Z",
                "Name": "probe",
                "Input": None,
                "Version": "",
            },
        ],
        "input": None,
        "instanceId": "i",
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    state = json.loads(handles["probe"](json.dumps(context)))
    if state.get("isDone") is not False or state.get("actions") != [
        [{"actionType": 6, "externalEventName": "never", "reason": "ExternalEvent"}]
    ]:
        _fail("azure-functions-durable", f"the V3 reply changed shape: {state}")
    with pytest.raises(Exception) as caught:
        handles["boom"](json.dumps(context))
    if OUT_OF_PROC_MARKER not in str(caught.value):
        _fail("azure-functions-durable", "orchestrator failures no longer carry $OutOfProcData$")


def test_pins_are_the_versions_devhost_was_checked_against():
    from pathlib import Path

    pins = Path(__file__).resolve().parents[3].joinpath("requirements.txt").read_text()
    for package in ("azure-functions", "azure-functions-durable"):
        pinned = f"{package}=={version(package)}"
        if pinned not in pins.splitlines():
            pytest.fail(
                f"{package} {version(package)} is installed but requirements.txt does not pin it "
                f"({pinned}): devhost reaches into its internals, so pin the version it was tested with."
            )
