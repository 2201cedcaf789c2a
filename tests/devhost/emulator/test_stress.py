from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devhost.clock import VirtualClock
from devhost.emulator import WorkspaceEmulator
from devhost.emulator.trials import TRIAL_RUN_TYPE

from .conftest import Client, sweep_body

VALID = {"NotStarted", "Queued", "Running", "Finalizing", "Completed"}


@pytest.fixture
def auto_emu():
    clock = VirtualClock(auto=True).start()
    events: list[dict] = []
    lock = threading.Lock()

    def sink(e: dict) -> None:
        with lock:
            events.append(e)

    emu = WorkspaceEmulator(clock=clock, event_sink=sink, page_size=50).start()
    yield emu, events
    emu.stop()
    clock.stop()


def test_concurrent_put_get_pairs_are_consistent(auto_emu):
    emu, events = auto_emu

    def worker(w: int) -> list[tuple[int, int, str]]:
        client = Client(emu)
        out = []
        for i in range(25):
            name = f"w{w}-j{i}"
            body = sweep_body(worker=str(w))
            put = client.put(name, body)
            got = client.get(name)
            assert got.json()["name"] == name
            assert got.json()["properties"]["tags"]["worker"] == str(w)
            out.append((put.status_code, got.status_code, got.json()["properties"]["status"]))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [r for rs in pool.map(worker, range(8)) for r in rs]
    assert len(results) == 200
    assert all(p == 201 and g == 200 and s in VALID for p, g, s in results)
    assert emu.calls["put"] == 200 and emu.calls["get"] == 200 and emu.calls["put_created"] == 200
    client = Client(emu)
    listed = client.list_all()
    assert len(listed) == 200 and len({j["name"] for j in listed}) == 200
    assert emu.clock.wait_quiet(10)
    # the auto clock runs everything out
    deadline = time.monotonic() + 30  # generous: a loaded CI box is slow, the clock is virtual
    while emu.active_jobs() and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    assert emu.active_jobs() == []
    assert all(j["properties"]["status"] == "Completed" for j in emu.jobs())

    def own() -> list[dict]:
        # each sweep's own events; its trials raise theirs too (their own run type), as Azure ML's
        # child runs do
        return [e for e in list(events) if e["data"].get("runType") != TRIAL_RUN_TYPE]

    while len(own()) < 200 * 5 and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    assert len(own()) == 200 * 5
    assert len(events) > len(own())  # the trials' events came too
