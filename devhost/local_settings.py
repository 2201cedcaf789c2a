"""`local.settings.json`, read the way Azure Functions Core Tools reads it for `func start`.

Core Tools (Azure/azure-functions-core-tools, `StartHostAction.UpdateEnvironmentVariables`):
each `Values` entry becomes an app setting unless the environment already defines that name
("Skipping 'NAME' from local settings as it's already defined in current environment
variables."); an empty string is set as empty; a null is skipped ("Skipping 'NAME' because
value is null"). `Host.LocalHttpPort` is the default port. An encrypted file
(`IsEncrypted: true`) is decrypted with the machine's key on Windows only, so it is refused here.

Two devhost names go to devhost, not to the app: `DEVHOST_FUNCTION_KEY` and
`DEVHOST_MASTER_KEY` fix the local host's keys (Core Tools has no key setting).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
KEY_SETTINGS = (FUNCTION_KEY_SETTING, MASTER_KEY_SETTING)


class LocalSettingsError(ValueError):
    """The file cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class LocalSettings:
    path: Path
    app_settings: dict[str, str] = field(default_factory=dict)  # what the app gets
    keys: dict[str, str] = field(default_factory=dict)  # DEVHOST_*_KEY values
    notes: list[str] = field(default_factory=list)  # Core Tools' skip messages
    port: int | None = None


def read_local_settings(path: Path, environ: Mapping[str, str]) -> LocalSettings:
    """Read `path`; LocalSettingsError when it is not usable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise LocalSettingsError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(document, dict):
        raise LocalSettingsError(f"{path}: expected a JSON object with IsEncrypted and Values")
    if document.get("IsEncrypted") is True:
        raise LocalSettingsError(
            f"{path}: IsEncrypted is true; decrypt it first (`func settings decrypt`) or set the values "
            "in plain text"
        )
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise LocalSettingsError(f"{path}: Values must be an object of setting names to text")
    app_settings: dict[str, str] = {}
    keys: dict[str, str] = {}
    notes: list[str] = []
    for name, value in values.items():
        if not name:
            notes.append("Skipping local setting with empty key.")
            continue
        if environ.get(name):
            notes.append(
                f"Skipping '{name}' from local settings as it's already defined in current environment variables."
            )
            continue
        if value is None:
            notes.append(f"Skipping '{name}' because value is null")
            continue
        text = _text(path, name, value)
        (keys if name in KEY_SETTINGS else app_settings)[name] = text
    return LocalSettings(path, app_settings, keys, notes, _port(path, document.get("Host")))


def _text(path: Path, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # how Json.NET turns a JSON boolean into a string
    if isinstance(value, (str, int, float)):
        return str(value)
    raise LocalSettingsError(f"{path}: Values.{name} must be text, not {type(value).__name__}")


def _port(path: Path, host: Any) -> int | None:
    if not isinstance(host, dict) or host.get("LocalHttpPort") in (None, ""):
        return None
    try:
        port = int(host["LocalHttpPort"])
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise LocalSettingsError(f"{path}: Host.LocalHttpPort must be a port number")
    return port
