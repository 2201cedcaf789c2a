"""How an activity's exception reaches the orchestrator on the real host.

Sources:
- azure-functions-worker (Python) `_serialize_exception`: the worker reports
  `f"{type(exc).__name__}: {exc}"` and the traceback; the Functions host wraps
  them in an `RpcException` whose message is
  `"Result: Failure\\nException: {message}\\nStack: {stack}"`.
- azure-functions-durable-extension Listener/TaskActivityShim.cs `RunAsync`:
  `OutOfProcExceptionHelpers.TryGetExceptionWithFriendlyMessage` keeps the text
  between `\\nException:` and `\\nStack:` (so it starts with a space), and the task
  fails with reason `Activity function '{name}' failed: {friendly}` and details
  `Utils.SerializeCause(friendly, ErrorDataConverter)`: the exception serialized by
  Newtonsoft with `TypeNameHandling.Objects` (ErrorSerializerSettingsFactory.cs),
  the RpcException as its InnerException.
- azure-functions-durable-python TaskOrchestrationExecutor.py `set_task_value`:
  the orchestrator sees `Exception(f"{Reason} \\n {Details}")`.
"""

from __future__ import annotations

import traceback
from typing import Any

from .payloads import compact

_HRESULT_EXCEPTION = -2146233088  # COR_E_EXCEPTION


def _dotnet_exception(
    type_name: str, class_name: str, message: str, inner: dict | None, **extra: Any
) -> dict:
    return {
        "$type": type_name,
        **extra,
        "ClassName": class_name,
        "Message": message,
        "Data": None,
        "InnerException": inner,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": _HRESULT_EXCEPTION,
        "Source": None,
        "WatsonBuckets": None,
    }


def task_failure(function_name: str, exc: BaseException) -> tuple[str, str]:
    """(Reason, Details) of the TaskFailed event for an activity that raised `exc`."""
    message = f"{type(exc).__name__}: {exc}"
    stack = "".join(traceback.format_tb(exc.__traceback__))
    rpc_message = f"Result: Failure\nException: {message}\nStack: {stack}"
    friendly = rpc_message[
        rpc_message.index("\nException:") + len("\nException:") : rpc_message.index("\nStack:")
    ]
    rpc = _dotnet_exception(
        "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script",
        "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
        rpc_message,
        None,
        IsUserException=False,
        RemoteStackTrace=stack,
        RemoteMessage=message,
        RemoteTypeName=f"{type(exc).__module__}.{type(exc).__qualname__}",
    )
    details = _dotnet_exception("System.Exception, System.Private.CoreLib", "System.Exception", friendly, rpc)
    return f"Activity function '{function_name}' failed: {friendly}", compact(details)
