"""The pure parts of the durable layer: poll policy, loop state, reporting,
the status view and request signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import PollPolicy
from orchestrators.polling import LoopState, next_interval

POLICY = PollPolicy(watch_period=0)  # no sweep watcher: the run polls for itself
WATCHED = PollPolicy()  # the default: the sweep watcher lists the job every 30 s


def test_backoff_doubles_from_floor_to_cap_and_resets_on_change():
    seq, current = [], 0.0
    for _ in range(6):
        current = next_interval(current, POLICY, events_seen=False, status_changed=False)
        seq.append(current)
    assert seq == [15, 30, 60, 120, 120, 120]
    assert next_interval(120, POLICY, events_seen=False, status_changed=True) == 15


def test_events_switch_to_the_slow_safety_poll():
    assert next_interval(120, POLICY, events_seen=True, status_changed=False) == 3600
    assert next_interval(3600, POLICY, events_seen=True, status_changed=False) == 7200
    assert next_interval(28800, POLICY, events_seen=True, status_changed=False) == 28800


@given(
    current=st.floats(min_value=0, max_value=1e6),
    events=st.booleans(),
    changed=st.booleans(),
)
def test_interval_always_within_the_regime_bounds(current, events, changed):
    value = next_interval(current, POLICY, events_seen=events, status_changed=changed)
    low, high = (POLICY.event_floor, POLICY.event_cap) if events else (POLICY.floor, POLICY.cap)
    assert low <= value <= high


@given(current=st.floats(min_value=0, max_value=1e6), events=st.booleans(), changed=st.booleans())
def test_a_watched_run_polls_only_as_the_slow_safety_net(current, events, changed):
    """The watcher bounds how late an ending is seen, events or not: the run's own polls are a
    safety net from 4 h doubling to 24 h."""
    value = next_interval(current, WATCHED, events_seen=events, status_changed=changed)
    assert WATCHED.safety_floor <= value <= WATCHED.safety_cap
    assert next_interval(0, WATCHED, events_seen=False, status_changed=False) == 4 * 3600
    assert next_interval(16 * 3600, WATCHED, events_seen=False, status_changed=False) == 24 * 3600


@given(current=st.floats(min_value=0, max_value=1e6), events=st.booleans(), changed=st.booleans())
def test_a_cancelled_job_is_looked_at_on_the_fast_backoff_even_when_watched(current, events, changed):
    """A job told to cancel ends within seconds and someone waits for that answer: the run looks
    at it from the floor doubling to the cap, not at the watcher's pace (nor at the 4-hour safety
    net when the watcher is not running). Leaving the safety net starts again at the floor."""
    for policy in (WATCHED, POLICY):
        value = next_interval(current, policy, events_seen=events, status_changed=changed, cancelling=True)
        assert policy.floor <= value <= policy.cap
    assert next_interval(4 * 3600, WATCHED, events_seen=False, status_changed=False, cancelling=True) == 15
    assert next_interval(15, WATCHED, events_seen=True, status_changed=False, cancelling=True) == 30
    assert next_interval(120, WATCHED, events_seen=False, status_changed=False, cancelling=True) == 120


def test_an_unreachable_azure_ml_is_retried_at_the_fast_backoff_even_when_watched():
    from orchestrators.polling import retry_interval

    assert retry_interval(0, WATCHED, None) == (15, 15)
    assert retry_interval(60, WATCHED, 600) == (120, 600)


def test_policy_rejects_timers_the_extension_cannot_cancel():
    with pytest.raises(ValueError, match="SWEEP_EVENT_POLL_CAP_SECONDS"):
        PollPolicy(event_cap=7 * 24 * 3600)
    with pytest.raises(ValueError, match="SWEEP_POLL_FLOOR_SECONDS"):
        PollPolicy(floor=200, cap=100)
    with pytest.raises(ValueError, match="SWEEP_SAFETY_POLL_CAP_SECONDS"):
        PollPolicy(safety_cap=6 * 24 * 3600)
    with pytest.raises(ValueError, match="SWEEP_WATCH_PERIOD_SECONDS"):
        PollPolicy(watch_period=-1)


def test_loop_state_round_trips_through_continue_as_new_input():
    state = LoopState(azure_status="Running", interval=60, events_seen=True, generation=3, polls=41)
    assert LoopState.from_dict(state.to_dict()) == state
    assert PollPolicy.from_dict(POLICY.to_dict()) == POLICY


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"floor": 0}, "SWEEP_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_POLL_CAP_SECONDS"),
        ({"floor": -5, "cap": 10}, "SWEEP_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_POLL_CAP_SECONDS"),
        ({"floor": 121}, "SWEEP_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_POLL_CAP_SECONDS"),
        (
            {"event_floor": 0},
            "SWEEP_EVENT_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_EVENT_POLL_CAP_SECONDS",
        ),
        (
            {"event_floor": 28801},
            "SWEEP_EVENT_POLL_FLOOR_SECONDS must be > 0 and <= SWEEP_EVENT_POLL_CAP_SECONDS",
        ),
        ({"event_cap": 5 * 24 * 3600 + 1}, "SWEEP_EVENT_POLL_CAP_SECONDS must be at most 5 days"),
        ({"polls_per_generation": 0}, "SWEEP_POLLS_PER_GENERATION must be at least 1"),
        ({"outage_limit": 0}, "SWEEP_OUTAGE_LIMIT_SECONDS must be > 0"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_naming_the_setting(policy: dict, message: str) -> None:
    """Also for a policy read back from a run's stored input (`from_dict`), not only from settings."""
    with pytest.raises(ValueError) as exc:
        PollPolicy.from_dict(policy)
    assert str(exc.value) == message


def test_the_edges_of_a_workable_policy_are_accepted() -> None:
    edge = PollPolicy(
        floor=60,
        cap=60,
        event_floor=5 * 24 * 3600,
        event_cap=5 * 24 * 3600,
        polls_per_generation=1,
        watch_period=0,
    )
    assert next_interval(60, edge, events_seen=False, status_changed=False) == 60
    assert PollPolicy.from_dict(None) == PollPolicy.from_dict({"unknown": 1})


def test_an_interval_below_the_floor_starts_at_the_floor() -> None:
    """After a switch of regime (events arrived) the old short interval does not double on."""
    assert next_interval(10, POLICY, events_seen=False, status_changed=False) == 15
    assert next_interval(16, POLICY, events_seen=False, status_changed=False) == 32
    assert next_interval(120, POLICY, events_seen=True, status_changed=False) == 3600
    assert next_interval(3599, POLICY, events_seen=True, status_changed=False) == 3600
    assert next_interval(-1, POLICY, events_seen=False, status_changed=False) == 15


def test_retry_backs_off_like_polling_but_honours_retry_after() -> None:
    from orchestrators.polling import retry_interval

    assert retry_interval(0, POLICY, None) == (15, 15)
    assert retry_interval(15, POLICY, None) == (30, 30)
    assert retry_interval(30, POLICY, 45) == (60, 60)
    assert retry_interval(30, POLICY, 300) == (60, 300)  # never sooner than Retry-After
    assert retry_interval(28800, POLICY, None) == (120, 120)  # the no-events regime, even after events
    assert retry_interval(15, POLICY, 10 * 24 * 3600) == (30, 5 * 24 * 3600)  # the longest durable timer
    assert retry_interval(15, POLICY, 0) == (30, 30)


def test_loop_state_reads_inputs_of_older_and_newer_versions() -> None:
    state = LoopState.from_dict({"azure_status": "Queued", "polls": 3, "field_from_the_future": True})
    assert (state.azure_status, state.polls, state.interval, state.events_seen) == ("Queued", 3, 0.0, False)
    assert LoopState().to_dict()["azure_status"] == "NotStarted"


def test_sub_second_floors_double_like_any_other():
    """SWEEP_POLL_FLOOR_SECONDS may be under a second (tests, fast local runs)."""
    fast = PollPolicy(floor=0.25, cap=4, watch_period=0)
    assert next_interval(0.5, fast, events_seen=False, status_changed=False) == 1.0
    assert next_interval(1, fast, events_seen=False, status_changed=False) == 2
    assert next_interval(0, fast, events_seen=False, status_changed=False) == 0.25
    from orchestrators.polling import retry_interval

    assert retry_interval(0, fast, None) == (0.25, 0.25)
    assert retry_interval(0.5, fast, None) == (1.0, 1.0)


def test_retry_uses_the_no_events_regime_after_events_arrived():
    from orchestrators.polling import retry_interval

    slow_events = PollPolicy(floor=10, cap=80, event_floor=3600, event_cap=7200, watch_period=0)
    assert retry_interval(20, slow_events, None) == (40, 40)
    assert retry_interval(7200, slow_events, None) == (80, 80)
