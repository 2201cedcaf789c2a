"""What the supported Pythons (3.10-3.12) differ in, in one place.

Flex Consumption offers 3.10, 3.11 and 3.12; 3.10 lacks `enum.StrEnum`,
`datetime.UTC` and the `Z`/7-digit forms of `datetime.fromisoformat`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Any

UTC = timezone.utc


class StrEnum(str, Enum):
    """`enum.StrEnum` (3.11+): members are strings, and print as their value on every Python."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_SHORT_FRACTION = re.compile(r"\.(\d{1,5})(?=[+-]|$)")


def parse_utc(text: str) -> datetime:
    """An aware datetime from ISO-8601 as Azure writes it (`Z`, 0-7 fraction digits,
    offsets); naive times are taken as UTC. ValueError when it is not ISO-8601."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    value = _FRACTION.sub(lambda m: m.group(1), value, count=1)  # .NET writes 7 digits
    value = _SHORT_FRACTION.sub(lambda m: "." + m.group(1).ljust(6, "0"), value, count=1)  # 3.10 wants 3 or 6
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def try_parse_utc(value: Any) -> datetime | None:
    """`parse_utc` for a value read from a document: None when it is not ISO-8601 text."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None
