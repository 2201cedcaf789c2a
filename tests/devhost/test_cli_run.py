"""`devhost run`'s interrupt path, below the subprocess tests of tests/e2e/test_cli_workspace.py:
what it does when the app cannot answer at the moment of a Ctrl-C."""

from __future__ import annotations

from devhost.cli_run import Signals, _refresh
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
