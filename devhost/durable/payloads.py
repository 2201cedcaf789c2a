"""How the Durable extension stores and hands back JSON payloads.

Sources (Azure/azure-functions-durable-extension):
- HttpApiHandler.cs `HandleRaiseEventRequestAsync`: `Content-Type` must be
  `application/json` (else 400 "Only application/json request content is
  supported"); the body is parsed by `MessagePayloadDataConverter.ConvertToJToken`
  (an empty or malformed body: 400 "Invalid JSON content") and the JToken is what
  the event carries. The Python client posts `json=json.dumps(data)`
  (DurableOrchestrationClient.raise_event), i.e. a JSON *string*: the orchestrator
  receives a str, not a dict.
- HttpApiHandler.cs `HandleStartOrchestratorRequestAsync`:
  `JsonConvert.DeserializeObject(body)`; the Python client's `start_new` posts
  `json=df_dumps(input)`, so the stored input is a JSON string holding the JSON text.
- MessagePayloadDataConverter.cs `Serialize`: a JToken is written with
  `Formatting.None`; with `maxSizeInKB` the UTF-16 size is checked
  (`Encoding.Unicode.GetByteCount(json) / 1024.0`, truncated, must not exceed it).
- DurableOrchestrationContext.cs `SetCustomStatus`: customStatus is limited to 16 KB.
- DurableClient.cs `ParseToJToken`: status answers parse the stored text back to JSON.
"""

from __future__ import annotations

import json
from typing import Any

from azure.functions import _durable_functions as fdf

CUSTOM_STATUS_MAX_KB = 16


class InvalidJson(ValueError):
    """The body is not one JSON value (the extension answers 400 "Invalid JSON content")."""


def compact(value: Any) -> str:
    """Newtonsoft `Formatting.None`: no whitespace, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def stored_from_body(body: bytes) -> str:
    """The stored payload of a request body: one JSON value, re-serialized."""
    text = body.decode("utf-8").strip() if body else ""
    if not text:
        raise InvalidJson("Invalid JSON content")
    try:
        return compact(json.loads(text))
    except ValueError:
        raise InvalidJson("Invalid JSON content") from None


def stored_as_python_client(value: Any) -> str:
    """What storing `value` through the Python client gives: the client JSON-encodes
    once (`json.dumps` / `df_dumps`), aiohttp's `json=` encodes again."""
    return compact(fdf.df_dumps(value))


def as_json(stored: str | None) -> Any:
    """The stored text as the JSON value the extension hands out (status answers,
    the orchestrator context's `input`); text that is not JSON comes back as is."""
    if stored is None:
        return None
    try:
        return json.loads(stored)
    except ValueError:
        return stored


def custom_status_error(custom_status: Any) -> str | None:
    """The extension's error when customStatus is over 16 KB in UTF-16, else None."""
    if custom_status is None:
        return None
    text = compact(custom_status)
    size_kb = int(len(text.encode("utf-16-le")) / 1024.0)
    if size_kb <= CUSTOM_STATUS_MAX_KB:
        return None
    return (
        f"The UTF-16 size of the JSON-serialized payload must not exceed {CUSTOM_STATUS_MAX_KB:,} KB. "
        f"The current payload size is {size_kb:,} KB."
    )
