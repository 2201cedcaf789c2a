"""One trial's process: the command in its own process group (a new session), its stdout and
stderr in one log file, and a stop that leaves nothing behind.

Azure ML tears a trial's container down when the trial ends or is cancelled, so nothing the
command started survives it. Here the process group plays the container: when the command's
shell exits, or on a stop, the whole group is killed, and the trial only counts as ended once
no live member of the group is left. (A process that deliberately leaves the group with
`setsid` escapes; on Azure the container would still take it down.)

The group is signalled only while its leader is unreaped (`waitid(..., WNOWAIT)` peeks at the
exit without reaping), so the group id can never have been reused by an unrelated process.
POSIX only, like the rest of devhost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path


def live_group_members(pgid: int) -> list[int]:
    """Pids of processes in group `pgid` that are not zombies (Linux /proc; elsewhere a signal probe)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class TrialProcess:
    """Starts at construction. `wait_ended()` blocks until the command exited and its group is gone."""

    def __init__(self, argv: list[str], *, cwd: Path, env: Mapping[str, str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab", buffering=0)
        try:
            self._popen = subprocess.Popen(  # noqa: S603 - the trial command is the user's own, quoted by command.render
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise
        self.pid = self._popen.pid
        self.pgid = self.pid  # session leader: its pid is the group id
        self._lock = threading.Lock()
        self._reaped = False
        self._exited = threading.Event()
        self.returncode: int | None = None
        self.leftovers: list[int] = []

    def _signal_group(self, sig: int) -> None:
        with self._lock:
            if self._reaped:
                return
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass

    def wait_ended(self, linger_seconds: float = 5.0) -> int:
        """Wait for the command's exit, kill what it left in its group, reap it, and wait (at most
        `linger_seconds`) for the group to empty; `leftovers` lists pids still alive after that."""
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        self._exited.set()
        with self._lock:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.returncode = self._popen.wait()
            self._reaped = True
        self._log.close()
        deadline = time.monotonic() + linger_seconds
        delay = 0.005
        while (members := live_group_members(self.pgid)) and time.monotonic() < deadline:
            time.sleep(delay)  # killed processes only need their parent (init) to reap them
            delay = min(delay * 2, 0.1)
        self.leftovers = members
        return self.returncode

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM to the group, SIGKILL once `grace_seconds` pass without the command exiting.
        Blocks for at most the grace period; `wait_ended` (on another thread) sees the exit."""
        self._signal_group(signal.SIGTERM)
        if not self._exited.wait(grace_seconds):
            self._signal_group(signal.SIGKILL)
