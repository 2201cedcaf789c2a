"""`devhost run`'s interrupt path, below the subprocess tests of tests/e2e/test_cli_workspace.py:
what it does when the app cannot answer at the moment of a Ctrl-C."""

from __future__ import annotations

import signal
import sys

import pytest

from devhost.cli_run import Interrupted, Signals, _refresh
from devhost.stack import LocalStack


def test_a_status_the_app_cannot_answer_leaves_the_last_view_for_the_cancel(capsys):
    """The refresh before the question or the cancel is a nicety: when the app's status route
    cannot be reached (here the stack has stopped: connection refused), the last view stands and
    the interrupt goes on to the cancel, instead of escaping with the paid job left running and
    unnamed."""
    stack = LocalStack.start(virtual=True, events=False)
    stack.stop()
    seen = {"jobName": "train-sweep-long-0ed1677c861e88e8", "status": "Running"}
    again = _refresh(stack, "ps-gone", seen, Signals())
    assert again is False
    assert seen == {"jobName": "train-sweep-long-0ed1677c861e88e8", "status": "Running"}
    assert "could not refresh the run's status (ConnectionError); going on with the last one" in (
        capsys.readouterr().err
    )


class _ClosesOnCollection:
    """Stands for urllib3's pooled socket: work done in a finalizer, where a signal may land."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)
        # the handler has run by now, inside this finalizer: its Interrupted is "ignored"
        for _ in range(1000):
            pass


def test_a_ctrl_c_that_lands_in_a_finalizer_is_not_lost():
    """Python runs signal handlers in whatever the main thread executes; an exception raised in a
    finalizer is reported through sys.unraisablehook and dropped (Python docs, `object.__del__`:
    "exceptions that occur during their execution are ignored"), which CI saw swallow a Ctrl-C
    while a socket was closed by the garbage collector. The next poll raises it again."""
    dropped: list[BaseException | None] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: dropped.append(u.exc_value)
    signals = Signals().install()
    try:
        obj = _ClosesOnCollection()
        del obj
        assert dropped and isinstance(dropped[0], Interrupted)  # the first raise went nowhere
        with pytest.raises(Interrupted):
            signals.check()
        try:
            signals.check()  # raised again once, not for ever
        except Interrupted:
            pytest.fail("the dropped interrupt was raised twice")
    finally:
        signals.restore()
        sys.unraisablehook = hook


def test_an_interrupt_that_was_handled_is_not_raised_again():
    signals = Signals().install()
    try:
        with pytest.raises(Interrupted):
            signal.raise_signal(signal.SIGINT)
        signals.hold()  # what every handler of the interrupt does first
        signals.settle()
        try:
            signals.check()
        except Interrupted:
            pytest.fail("an interrupt already handled was raised again")
    finally:
        signals.restore()
