"""What `devhost serve` prints while it runs, one line per thing that happened, close to
Azure Functions Core Tools' console (`[2026-01-05T09:00:00.123Z] Executed 'Functions.name'
(Succeeded, Duration=12ms)`):

- each request to the app's routes and the Durable management URLs: method, path, status,
  duration and the function that answered (never the query string, which may carry a key);
- each timer invocation (the orphan reconciler) with its outcome;
- each run whose status changes (`run_line`, which `devhost run` prints too);
- WARNING and above from the app's own loggers (the reconciler's cancels, refused requests).

Lines go to stderr, so stdout keeps the one JSON line scripts read. Callbacks come from the
host's threads; a lock keeps lines whole.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from devhost.clock import Clock
from devhost.durable.observer import FunctionRan, HttpServed

# Loggers of the app whose warnings a developer should see while serving.
APP_LOGGERS = ("triggers", "activities", "orchestrators", "foundry", "runtime", "polysync")
FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


def stamp(moment: datetime) -> str:
    """Core Tools' timestamp: ISO-8601 UTC with milliseconds and a Z."""
    return "[" + moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z]"


def run_line(view: dict[str, Any]) -> str:
    """One run's state in words, from the status route's view (or the same fields)."""
    status = view.get("status") or "Starting"
    azure = view.get("azureStatus")
    job = view.get("jobName")
    runtime = view.get("runtimeStatus")
    error = view.get("error") if isinstance(view.get("error"), dict) else {}
    if runtime == "Terminated":
        where = f"; the reconciler cancels Azure ML job {job}" if job else ""
        return f"{status}: the orchestration was terminated{where}"
    if runtime in FINISHED and status != "Success":
        reason = error.get("code") or "error"
        message = str(error.get("message") or "").split("\n")[0][:200]
        return f"{status}: {reason}: {message}" if message else f"{status}: {reason}"
    if not job:
        return f"{status}: submitting the sweep job"
    if azure in (None, "NotStarted"):
        return f"{status}: Azure ML job {job} submitted"
    trials = view.get("trials")
    counted = f"; {trials_line(trials)}" if isinstance(trials, dict) else ""
    return f"{status}: Azure ML job {job} is {azure}{counted}"


def trials_line(trials: dict[str, Any]) -> str:
    """customStatus.trials in words (README "Trial progress")."""
    line = (
        f"trials {trials.get('done')}/{trials.get('total')} done, {trials.get('running')} running, "
        f"{trials.get('failed')} failed, {trials.get('cancelled')} cancelled"
    )
    best = trials.get("best")
    if isinstance(best, dict):
        line += f"; best {best.get('trial')} = {best.get('score')}"
    return line


def status_view_of(stack: Any, instance_id: str) -> dict[str, Any] | None:
    """A run's status as the status route composes it, read from the host."""
    from triggers.http.status_view import compose_status

    status = stack.host.get_status(instance_id, show_input=False)
    if status is None:
        return None
    return compose_status(
        instance_id, status.get("runtimeStatus"), status.get("customStatus"), status.get("output")
    )


class Console:
    """Implements devhost.durable.observer.HostObserver for the serve command."""

    def __init__(
        self,
        clock: Clock,
        *,
        out: TextIO | None = None,
        view_of: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.clock = clock
        self.out = out or sys.stderr
        self.view_of = view_of  # instance id -> its status view (set once the host exists)
        self._lock = threading.Lock()
        self._runs: dict[str, str] = {}
        self._handler: logging.Handler | None = None

    def say(self, text: str) -> None:
        with self._lock:
            print(f"{stamp(self.clock.now())} {text}", file=self.out, flush=True)

    # -- HostObserver ------------------------------------------------------------------------
    def http_served(self, served: HttpServed) -> None:
        by = f"Functions.{served.function}, " if served.function else ""
        self.say(f"{served.method} {served.path} {served.status} ({by}Duration={served.milliseconds:.0f}ms)")

    def function_ran(self, ran: FunctionRan) -> None:
        outcome = "Succeeded" if ran.succeeded else "Failed"
        self.say(
            f"Executed 'Functions.{ran.function}' ({outcome}, Reason='{ran.reason}', "
            f"Duration={ran.milliseconds:.0f}ms)"
        )

    def instance_touched(self, instance_id: str) -> None:
        view = self.view_of(instance_id) if self.view_of is not None else None
        if view is None:
            return
        line = run_line(view)  # a change that reads the same (the orchestration completing) is no news
        with self._lock:
            if self._runs.get(instance_id) == line:
                return
            self._runs[instance_id] = line
        self.say(f"Run {instance_id}: {line}")

    # -- the app's own warnings ---------------------------------------------------------------
    def show_app_warnings(self) -> None:
        console = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                console.say(f"{record.levelname}: {record.getMessage()}")

        self._handler = Handler(level=logging.WARNING)
        for name in APP_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)

    def close(self) -> None:
        if self._handler is not None:
            for name in APP_LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            self._handler = None
