"""JobStatus: progress order, terminal and stalled statuses."""

from __future__ import annotations

from foundry.job_status import STALLED, TERMINAL, JobStatus, rank


def test_rank_order() -> None:
    order = [
        "NotStarted",
        "Starting",
        "Provisioning",
        "Preparing",
        "Queued",
        "Running",
        "Finalizing",
        "CancelRequested",
    ]
    ranks = [rank(s) for s in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert all(rank(t) > rank("CancelRequested") for t in TERMINAL)
    assert rank("running") == rank("Running") and rank("bogus") == -1


def test_terminal_and_stalled_statuses() -> None:
    assert TERMINAL == {"Completed", "Failed", "Canceled"}
    assert STALLED == {"NotResponding", "Paused", "Unknown"}
    assert {s for s in JobStatus if s.is_terminal} == TERMINAL
    assert {s for s in JobStatus if s.is_stalled} == STALLED


def test_parse_reads_any_casing_and_the_british_spelling() -> None:
    assert JobStatus.parse(" running ") is JobStatus.RUNNING
    assert JobStatus.parse("Cancelled") is JobStatus.CANCELED
    assert JobStatus.parse("Exploded") is None and JobStatus.parse(None) is None
    assert JobStatus.RUNNING == "Running" and f"{JobStatus.PAUSED}" == "Paused"


def test_a_later_real_status_always_wins_over_a_stalled_one() -> None:
    """The orchestrator compares ranks when an event arrives: every status has an int rank
    (never None: a TypeError mid-run), stalled ones sit beside Running."""
    assert all(isinstance(s.rank, int) and not isinstance(s.rank, bool) for s in JobStatus)
    for stalled in STALLED:
        assert rank(stalled) == rank("Running")
        for later in ("Finalizing", "CancelRequested", *TERMINAL):
            assert rank(later) > rank(stalled)
        for earlier in ("NotStarted", "Queued"):
            assert rank(earlier) < rank(stalled)
    assert len({rank(t) for t in TERMINAL}) == 1


def test_rank_of_anything_that_is_not_a_status_is_below_every_status() -> None:
    assert rank(None) == rank(5) == rank("") == -1
    assert min(s.rank for s in JobStatus) == 0
