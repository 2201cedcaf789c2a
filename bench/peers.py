"""What peers' connectors cost when they wait on a remote job, modelled as what they are: a loop
that GETs the job's status on its own schedule until it sees the end, one loop per run, no events.
Only calls and detection are reported for them (their hosting, histories and replays are not ours
to measure).

Each peer's schedule comes from its own code (source named in `PEERS`); the azure-ai-ml peer calls
the SDK's own back-off function (`_wait_before_polling`, imported from the installed package), so
its curve is the real one: 2 s rising to 59 s (int() of a sigmoid towards 60) over the first
minutes, never reset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    source: str
    interval: float | None = None  # a fixed poll interval, seconds; None: the SDK's curve


PEERS = (
    Peer(
        "kestra-adf",
        "Kestra Azure Data Factory CreateRun (fixed 5 s)",
        "kestra-io/plugin-azure src/main/java/io/kestra/plugin/azure/datafactory/CreateRun.java "
        "@145a9a2: CheckFrequency.interval defaults to Duration.ofSeconds(5)",
        5.0,
    ),
    Peer(
        "airflow-adf",
        "Airflow AzureDataFactoryRunPipelineOperator (fixed 60 s)",
        "apache/airflow providers/microsoft/azure/src/airflow/providers/microsoft/azure/operators/"
        "data_factory.py @03d000c: check_interval: int = 60",
        60.0,
    ),
    Peer(
        "aiml-stream",
        "azure-ai-ml job stream() (2 s rising to 59 s, no reset)",
        "azure-ai-ml 1.35.2 azure/ai/ml/operations/_job_ops_helper.py: _wait_before_polling(t) = "
        "max(2, int(60 / (1 + 100 e^(-t/20)))), t = seconds since polling began; one GET before the loop",
    ),
)


def sdk_wait() -> Callable[[float], float] | None:
    """The installed azure-ai-ml's own back-off, or None when the package is not installed."""
    try:
        from azure.ai.ml.operations._job_ops_helper import _wait_before_polling
    except ImportError:
        return None
    return _wait_before_polling


def polls_until(end: float, wait: Callable[[float], float]) -> tuple[int, float]:
    """(status GETs, detection seconds) for a loop that GETs once at t = 0 (right after the
    submit), then sleeps `wait(t)` and GETs again, until a GET at or after `end` sees the end."""
    t, polls = 0.0, 1
    while t < end:
        t += wait(t)
        polls += 1
    return polls, t - end


def model(peer: Peer, end: float) -> dict[str, Any] | None:
    """Calls (submit + status GETs) and detection for one run whose job ends `end` s after submit."""
    if peer.interval is not None:
        interval = peer.interval
        polls = 1 + math.ceil(end / interval)
        return {
            "status_get": polls,
            "calls": polls + 1,
            "detection_s": math.ceil(end / interval) * interval - end,
        }
    wait = sdk_wait()
    if wait is None:
        return None
    polls, detection = polls_until(end, lambda t: float(wait(t)))
    return {"status_get": polls, "calls": polls + 1, "detection_s": detection}
