"""A trial script that lingers until it is stopped, and how a test reads what it wrote: the
rehearsal's cancel and shutdown tests (emulator and end to end) check that no trial process,
nor a child it started, outlives its job."""

from __future__ import annotations

import textwrap
from pathlib import Path

# Writes its own pid and a child's into PIDS_DIR/<run id>, then waits to be stopped.
LINGER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    path = os.path.join(os.environ["PIDS_DIR"], os.environ["AZUREML_RUN_ID"])
    with open(path + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.rename(path + ".tmp", path)
    time.sleep(300)
    """
)


def pid_files(pids_dir: Path) -> list[Path]:
    """The pid files LINGER has finished writing: it writes `<run id>.tmp` and renames it, so a
    `.tmp` seen in a listing may be gone by the time it is read."""
    return sorted(f for f in pids_dir.iterdir() if f.suffix != ".tmp")


def written_pids(pids_dir: Path) -> list[int]:
    """Every pid the finished files name (each trial's and its child's)."""
    return [int(p) for f in pid_files(pids_dir) for p in f.read_text().split()]
