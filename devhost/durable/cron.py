"""A small NCRONTAB parser (`{second} {minute} {hour} {day} {month} {day-of-week}`)."""

from __future__ import annotations

from datetime import datetime, timedelta

_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError(f"bad step in {text!r}")
        if part in ("*", "?"):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _num(a, names), _num(b, names)
        else:
            start = _num(part, names)
            end = hi if step != 1 else start
        if start < lo or end > hi or start > end:
            raise ValueError(f"value out of range in {text!r}")
        values.update(range(start, end + 1, step))
    return values


def _num(text: str, names: dict[str, int] | None) -> int:
    key = text.strip().upper()
    if names and key[:3] in names:
        return names[key[:3]]
    return int(key)


class CronSchedule:
    def __init__(self, expr: str) -> None:
        fields = expr.split()
        if len(fields) == 5:  # tolerate classic 5-field cron
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields: {expr!r}")
        self.expr = expr
        self.seconds = sorted(_field(fields[0], 0, 59))
        self.minutes = sorted(_field(fields[1], 0, 59))
        self.hours = sorted(_field(fields[2], 0, 23))
        self.days = _field(fields[3], 1, 31)
        self.months = _field(fields[4], 1, 12, _MONTHS)
        self.dows = {d % 7 for d in _field(fields[5], 0, 7, _DAYS)}
        self._dom_any = fields[3] in ("*", "?")
        self._dow_any = fields[5] in ("*", "?")

    def _day_ok(self, d: datetime) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.dows
        if self._dom_any and self._dow_any:
            return True
        if self._dom_any:
            return dow
        if self._dow_any:
            return dom
        return dom or dow

    def next_after(self, after: datetime) -> datetime:
        """First matching time strictly after `after` (keeps its tzinfo)."""
        t = after.replace(microsecond=0) + timedelta(seconds=1)
        day = t.replace(hour=0, minute=0, second=0)
        for _ in range(366 * 5):
            if self._day_ok(day):
                for h in self.hours:
                    if day.date() == t.date() and h < t.hour:
                        continue
                    for m in self.minutes:
                        for s in self.seconds:
                            cand = day.replace(hour=h, minute=m, second=s)
                            if cand >= t:
                                return cand
            day = day + timedelta(days=1)
        raise ValueError(f"schedule {self.expr!r} never fires")
