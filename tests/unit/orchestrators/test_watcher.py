"""The sweep watcher's orchestration, from histories replayed by the SDK (one test per way a
pass ends) and its pure timing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from contracts import UNWATCH_JOB, WATCH_JOBS, WATCHER, WatcherInput, WatchReport, answer, unreachable
from orchestrators.watcher import MAX_BACKOFF_SECONDS, idle_passes, next_pass_in
from tests.unit.orchestrators.history import Orchestration

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
JOB = {"name": "tmpl-0123456789abcdef", "properties": {"status": "Completed", "tags": {}}}


def watcher(**fields) -> Orchestration:
    run = Orchestration(
        WatcherInput(30.0, True, "hub", **fields), NOW, instance_id="polysync-watcher-hub", name=WATCHER
    )
    opened = run.start()
    assert opened.activities == [WATCH_JOBS]
    assert opened.activity_input(WATCH_JOBS) == {
        "taskHub": "hub",
        "events": True,
        "seen": fields.get("seen", {}),
    }
    return run


def test_a_pass_untags_the_ended_jobs_then_sleeps_one_period_and_goes_on():
    run = watcher(seen={"a": "Running"})
    report = WatchReport(
        seen={"a": "Running", JOB["name"]: "Completed"}, finished=(JOB,), listed=2, signalled=1
    )
    untagging = run.answer(WATCH_JOBS, answer(report))
    assert untagging.activities == [UNWATCH_JOB] and untagging.activity_input(UNWATCH_JOB) == {"job": JOB}
    sleeping = run.answer(UNWATCH_JOB, {"ok": True, "jobName": JOB["name"], "found": True})
    assert sleeping.timers == [NOW + timedelta(seconds=30)]
    nxt = run.fire_timer().continued_as_new
    assert nxt is not None and WatcherInput.from_dict(nxt).seen == report.seen
    assert WatcherInput.from_dict(nxt).passes == 1 and WatcherInput.from_dict(nxt).empty_passes == 0


def test_an_unanswered_listing_keeps_what_was_seen_and_backs_off_honouring_retry_after():
    run = watcher(seen={"a": "Running"}, failures=1)
    waiting = run.answer(WATCH_JOBS, unreachable({"code": "TooManyRequests"}, 600))
    assert waiting.timers == [NOW + timedelta(seconds=600)]
    assert waiting.custom_status["lastError"] == "TooManyRequests"
    nxt = WatcherInput.from_dict(run.fire_timer().continued_as_new)
    assert nxt.seen == {"a": "Running"} and nxt.failures == 2


def test_after_enough_empty_passes_the_watcher_ends():
    run = watcher(empty_passes=idle_passes(30.0) - 1, passes=40)
    ended = run.answer(WATCH_JOBS, answer(WatchReport(seen={}, listed=0)))
    assert ended.output is not None and ended.output["passes"] == 41 and ended.timers == []


def test_pass_timing():
    assert next_pass_in(30, 0, None) == 30
    assert next_pass_in(30, 1, None) == 60 and next_pass_in(30, 3, 1) == 240
    assert next_pass_in(30, 1, 300) == 300  # never sooner than Retry-After
    assert next_pass_in(30, 20, 10_000) == MAX_BACKOFF_SECONDS
    assert idle_passes(30) == 10 and idle_passes(600) == 2
