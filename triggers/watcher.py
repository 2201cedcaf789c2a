"""Keeping the sweep watcher alive while sweeps run: the start route calls `ensure_watcher` after
starting a run, and the orphan reconciler calls it when its listing shows a watched job running.

The watcher completes after a few empty passes, so "ensure" means: start it (with its fixed
instance id) unless it is Pending or Running. Two starts racing for the same id: the loser's
`start_new` fails and is ignored, the winner watches. The remaining window (the watcher's last
empty pass ends just as a run starts, before that run's job exists) is closed by the reconciler's
next pass (`RECONCILE_SCHEDULE`), and bounded meanwhile by the run's own safety poll.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df

from contracts import WATCHER, WatcherInput, watcher_instance_id
from runtime.settings import Settings
from triggers import instances

log = logging.getLogger("triggers.watcher")

ALIVE = frozenset({"Pending", "Running"})


async def ensure_watcher(client: df.DurableOrchestrationClient, settings: Settings) -> bool:
    """Start the watcher unless it runs already; True when this call started it. Never raises:
    a run must not fail to start because the watcher could not be looked at."""
    if not settings.poll.watched:
        return False
    instance_id = watcher_instance_id(settings.taskhub_name)
    try:
        status = await client.get_status(instance_id)
        if status and instances.runtime_status(status) in ALIVE:
            return False
        watch = WatcherInput(settings.poll.watch_period, settings.poll.use_events, settings.taskhub_name)
        await client.start_new(WATCHER, instance_id, watch.to_dict())
    except Exception as exc:  # noqa: BLE001 - a concurrent start won, or Durable storage hiccuped
        log.info("watcher %s not started (%s)", instance_id, str(exc)[:200])
        return False
    log.info("started the sweep watcher %s", instance_id)
    return True
