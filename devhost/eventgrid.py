"""Event Grid's side of the app's event subscription: which Azure ML events it delivers.

The deployed subscription (infra/eventgrid.bicep) keeps a workspace's run events to the ones the
app acts on with two advanced filters; `subscription_filters` is the same list, and
tests/infra/test_eventgrid_filters.py checks that the Bicep and this list agree. Filters are
evaluated as Event Grid documents them (MicrosoftDocs/azure-docs
`articles/event-grid/event-filtering.md`, "Advanced filtering"): every filter of a subscription
must match (AND); a key is a dot path into the event (`data.runTags.polysyncWatch`), with no
escape for a dot inside a key; `StringIn` matches when the value is one of the filter's values,
compared case-insensitively; a key the event does not have never matches `StringIn`, and
`IsNotNull` matches only a present, non-null value. Keys are looked up exactly as written (the
docs say nothing of case-insensitive keys, so the emulator is not kinder than that).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from foundry import tags as tag

SWEEP_RUN_TYPE = "hyperdrive"  # azureml-train-core HyperDriveRun.RUN_TYPE: a sweep's parent run
_MISSING = object()


@dataclass(frozen=True)
class AdvancedFilter:
    operator_type: str
    key: str
    values: tuple[str, ...] = ()

    def matches(self, event: dict[str, Any]) -> bool:
        value = _lookup(event, self.key)
        if self.operator_type == "IsNotNull":
            return value is not _MISSING and value is not None
        if self.operator_type == "StringIn":
            return isinstance(value, str) and value.lower() in {v.lower() for v in self.values}
        if self.operator_type == "StringNotIn":
            return not (isinstance(value, str) and value.lower() in {v.lower() for v in self.values})
        raise ValueError(f"operator {self.operator_type} is not emulated")


def subscription_filters(task_hub: str | None) -> tuple[AdvancedFilter, ...]:
    """The advanced filters infra/eventgrid.bicep deploys for this task hub."""
    return (
        AdvancedFilter("StringIn", "data.runType", (SWEEP_RUN_TYPE,)),
        AdvancedFilter("StringIn", f"data.runTags.{tag.WATCH}", (task_hub or "",)),
    )


def delivered(event: dict[str, Any], filters: Iterable[AdvancedFilter]) -> bool:
    """Whether the subscription delivers `event` (every filter matches)."""
    return all(f.matches(event) for f in filters)


def _lookup(event: dict[str, Any], key: str) -> Any:
    value: Any = event
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value
