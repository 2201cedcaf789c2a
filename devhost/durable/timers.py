"""Timer triggers as the Functions host runs them: on their NCRONTAB schedule, on the shared
clock, each invocation handed the `TimerInfo` the host would hand it.

Sources (Azure/azure-webjobs-sdk-extensions, `src/WebJobs.Extensions/Extensions/Timers`):
- `Listener/TimerListener.InvokeJobFunction`: the function gets the schedule status as it stood
  *before* this invocation: `Last` = the previous invocation (`DateTime` default,
  `0001-01-01T00:00:00`, when there was none), `Next` = the occurrence now firing, `LastUpdated`;
  the status moves on after the function returns (`Last` = this occurrence, `Next` = the one
  after). Without the schedule monitor (`UseMonitor` false) the status is null.
- `TimerTriggerAttribute.UseMonitor`: on by default; the docs (functions-bindings-timer,
  "useMonitor") say it defaults to true for schedules whose interval is at least a minute.
- `Listener/TimerListener.StartAsync`: `RunOnStartup` fires once at once, then the schedule.
- The Python worker decodes the JSON of that `TimerInfo` (`Schedule`, `ScheduleStatus`,
  `IsPastDue`) with azure-functions' `TimerRequestConverter`, which is what devhost does too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .cron import CronSchedule

# How .NET writes `default(DateTime)`: the Last of a timer that never ran.
NEVER = "0001-01-01T00:00:00"


@dataclass
class ScheduleStatus:
    last: datetime | None = None
    next: datetime | None = None
    last_updated: datetime | None = None

    def to_json(self) -> dict[str, str]:
        def text(moment: datetime | None) -> str:
            return moment.isoformat() if moment is not None else NEVER

        return {"Last": text(self.last), "Next": text(self.next), "LastUpdated": text(self.last_updated)}


def uses_monitor(schedule: CronSchedule | None, now: datetime) -> bool:
    """UseMonitor's default: on unless the schedule recurs more often than once a minute."""
    if schedule is None:
        return True
    first = schedule.next_after(now)
    return schedule.next_after(first) - first >= timedelta(minutes=1)


def timer_info(status: ScheduleStatus | None, *, past_due: bool) -> str:
    """The JSON the host sends the worker for one invocation."""
    return json.dumps(
        {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": status.to_json() if status is not None else None,
            "IsPastDue": past_due,
        }
    )


def timer_request(status: ScheduleStatus | None, *, past_due: bool) -> Any:
    """The function's argument, decoded as the Python worker decodes it."""
    from azure.functions.meta import Datum
    from azure.functions.timer import TimerRequestConverter

    return TimerRequestConverter.decode(
        Datum(timer_info(status, past_due=past_due), "json"), trigger_metadata=None
    )


class TimerState:
    """One timer function's schedule status, moved on after each invocation."""

    def __init__(self, schedule: CronSchedule | None) -> None:
        self.schedule = schedule
        self.status = ScheduleStatus()

    def argument(self, occurrence: datetime, *, past_due: bool) -> Any:
        """The `TimerRequest` for the occurrence due at `occurrence` (the status before it)."""
        status = ScheduleStatus(self.status.last, occurrence, self.status.last_updated)
        monitored = uses_monitor(self.schedule, occurrence)
        return timer_request(status if monitored else None, past_due=past_due)

    def invoked(self, occurrence: datetime, now: datetime) -> None:
        next_time = self.schedule.next_after(occurrence) if self.schedule is not None else None
        self.status = ScheduleStatus(last=occurrence, next=next_time, last_updated=now)
