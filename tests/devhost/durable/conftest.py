from __future__ import annotations

import pytest

from devhost.clock import VirtualClock
from devhost.durable import DurableHost
from tests.devhost.durable import sample_app


@pytest.fixture(autouse=True)
def _reset_sample_state():
    sample_app.FLAKY.update(fail_times=2, calls=0)
    sample_app.EVENTS.clear()
    sample_app.TIMER_STATUSES.clear()
    sample_app.SHIFT["first"] = "say_hello"
    sample_app.GATE.clear()
    yield
    sample_app.GATE.set()  # never leave an activity blocked


def _hosted(*, auto: bool, **kw):
    """A started host of the sample app on its own virtual clock, stopped after the test."""
    clock = VirtualClock(auto=auto)
    host = DurableHost(sample_app.app, clock=clock, **kw).start()
    yield host
    host.stop()
    clock.stop()


@pytest.fixture
def auto_host():
    yield from _hosted(auto=True)


@pytest.fixture
def manual_host():
    yield from _hosted(auto=False)


@pytest.fixture
def keyed_host():
    yield from _hosted(auto=True, function_key="s3cret")
