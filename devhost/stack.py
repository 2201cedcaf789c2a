"""The whole app on one machine: clock + Azure ML emulator + Key Vault emulator +
local Durable host running the unmodified `function_app`.

Used by `python -m devhost`, the end-to-end tests and the benchmarks, so they
all exercise the same production code paths. The app reads its settings from
the process environment (as in Azure), so one stack runs per process at a time.

Function keys are checked as on Azure (devhost/durable/keys.py): the stack's own `post`/`get`
send its `default` key; anything else calling the app must bring one.
"""

from __future__ import annotations

import importlib
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devhost.clock import Clock, RealClock, VirtualClock
from devhost.durable import DurableHost
from devhost.durable.keys import KEY_HEADER, HostKeys
from devhost.durable.observer import HostObserver
from devhost.emulator import FaultPlan, WorkspaceEmulator
from devhost.emulator.rehearsals import RehearsalSetup
from devhost.eventgrid import AdvancedFilter, delivered, subscription_filters
from devhost.keyvault import KeyVaultEmulator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RECONCILE_SCHEDULE = "0 */10 * * * *"


@dataclass
class LocalStack:
    clock: Clock
    host: DurableHost
    emulator: WorkspaceEmulator | None
    env: dict[str, str]
    keyvault: KeyVaultEmulator | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        *,
        virtual: bool = True,
        events: bool = True,
        faults: FaultPlan | None = None,
        templates_dir: Path | None = None,
        page_size: int = 20,
        settings: dict[str, str] | None = None,
        workspace_id: str | None = None,
        function_key: str | None = None,
        keys: HostKeys | None = None,
        timers: bool = False,
        observer: HostObserver | None = None,
        event_delay_seconds: float = 1.0,
        port: int = 0,
        emulator_port: int = 0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        rerun_activities: bool = False,
        rehearsal: RehearsalSetup | None = None,
        event_filters: bool = True,
        lose_events: Callable[[dict[str, Any]], bool] | None = None,
    ) -> LocalStack:
        """Start everything. With `workspace_id` the app talks to that real Azure ML
        workspace with the developer's own credential instead of the emulator.
        `on_event` sees each Azure ML Event Grid event (at its virtual time) before
        the app does; `events=False` still calls it but delivers nothing to the app.
        `rerun_activities` runs every activity twice (at-least-once delivery, as on
        Azure) so that tests prove each one idempotent. `rehearsal` makes the emulator run the
        sweeps whose code it maps for real (docs/rehearsal.md). `keys` (or a `function_key` as the
        `default` host key; else generated) are enforced on every non-anonymous route. `timers`
        runs the timer triggers (the orphan reconciler) on their schedules, as the host does.
        `observer` hears of requests, timer invocations and instance changes (the serve console).
        `event_filters` plays the deployed Event Grid subscription's advanced filters
        (devhost/eventgrid.py): only the app's sweeps' own events reach it; False delivers every run
        event of the workspace (no filters). `lose_events(event)` True drops that event on its way to
        the app (Event Grid gave up on it), after `on_event` saw it. A port that is taken raises
        OSError (EADDRINUSE) with nothing left running."""
        clock: Clock = VirtualClock() if virtual else RealClock()
        clock.start()
        started: list[Any] = []
        try:
            return cls._start(
                clock,
                started,
                events=events,
                faults=faults,
                templates_dir=templates_dir,
                page_size=page_size,
                settings=settings,
                workspace_id=workspace_id,
                keys=keys or HostKeys.generate(function_key=function_key),
                timers=timers,
                observer=observer,
                event_delay_seconds=event_delay_seconds,
                port=port,
                emulator_port=emulator_port,
                on_event=on_event,
                rerun_activities=rerun_activities,
                rehearsal=rehearsal,
                event_filters=event_filters,
                lose_events=lose_events,
            )
        except BaseException:
            for component in reversed(started):
                component.stop()
            clock.stop()
            raise

    @classmethod
    def _start(
        cls,
        clock: Clock,
        started: list[Any],
        *,
        events: bool,
        faults: FaultPlan | None,
        templates_dir: Path | None,
        page_size: int,
        settings: dict[str, str] | None,
        workspace_id: str | None,
        keys: HostKeys,
        timers: bool,
        observer: HostObserver | None,
        event_delay_seconds: float,
        port: int,
        emulator_port: int,
        on_event: Callable[[dict[str, Any]], None] | None,
        rerun_activities: bool,
        rehearsal: RehearsalSetup | None,
        event_filters: bool,
        lose_events: Callable[[dict[str, Any]], bool] | None,
    ) -> LocalStack:
        emulator: WorkspaceEmulator | None = None
        keyvault: KeyVaultEmulator | None = None
        env = {
            "TASKHUB_NAME": "polysyncsweeps",
            "INSTANCE_ID_KEY": secrets.token_urlsafe(32),
            "RECONCILE_SCHEDULE": DEFAULT_RECONCILE_SCHEDULE,  # as infra/app/function.bicep sets it
        }
        if workspace_id:
            env["AZUREML_WORKSPACE_ID"] = workspace_id
        else:
            # The workspace's Key Vault: Secret parameters go there (RUN_SECRETS_VAULT_URL).
            keyvault = KeyVaultEmulator(clock=clock).start()
            started.append(keyvault)
            env.update(
                {
                    "RUN_SECRETS_VAULT_URL": keyvault.vault_url,
                    "RUN_SECRETS_VAULT_STATIC_TOKEN": keyvault.token,
                    "RUN_SECRETS_VAULT_CA_BUNDLE": keyvault.ca_bundle,
                }
            )
            emulator = WorkspaceEmulator(
                clock=clock,
                templates_dir=templates_dir or WorkspaceEmulator.default_templates_dir(),
                page_size=page_size,
                faults=faults,
                event_delay_seconds=event_delay_seconds,
                port=emulator_port,
                rehearsal=rehearsal,
            ).start()
            started.append(emulator)
            env.update(
                {
                    "AZUREML_WORKSPACE_ID": emulator.workspace_id,
                    "AZUREML_ARM_ENDPOINT": emulator.arm_endpoint,
                    "AZUREML_STATIC_TOKEN": emulator.token,
                }
            )
        env.update(settings or {})
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        started.append(_Environment(saved))
        app = _load_app()
        from runtime import services

        services.use_sleep(clock.sleep)  # the client's retry back-off passes this clock's time
        host = DurableHost(
            app, clock=clock, keys=keys, observer=observer, port=port, rerun_activities=rerun_activities
        ).start()
        if timers:
            host.schedule_timer_triggers()
        if emulator is not None and (events or on_event):
            filters = subscription_filters(env.get("TASKHUB_NAME")) if event_filters else ()
            emulator.set_event_sink(
                _event_sink(host, deliver=events, observer=on_event, filters=filters, lose=lose_events)
            )
        return cls(clock=clock, host=host, emulator=emulator, env=env, keyvault=keyvault, _saved_env=saved)

    def stop(self) -> None:
        self.host.stop()
        if self.emulator is not None:
            self.emulator.stop()
        if self.keyvault is not None:
            self.keyvault.stop()
        self.clock.stop()
        _Environment(self._saved_env).stop()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- conveniences for callers that speak HTTP to the app ------------------
    @property
    def api(self) -> str:
        return self.host.api_url

    @property
    def keys(self) -> HostKeys:
        assert self.host.keys is not None  # a stack always checks keys
        return self.host.keys

    @property
    def function_key(self) -> str:
        """The `default` host key: what a caller of the app's routes sends."""
        return self.keys.default

    @property
    def key_header(self) -> dict[str, str]:
        """`{"x-functions-key": <default key>}`, for callers that build their own requests."""
        return {KEY_HEADER: self.function_key}

    def url(self, path: str) -> str:
        return f"{self.api}/{path.lstrip('/')}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """POST to the app with its function key (pass `headers` to send your own)."""
        return requests.post(self.url(path), json=body, timeout=30, **self._keyed(kwargs))

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=30, **self._keyed(kwargs))

    def _keyed(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "headers" in kwargs or "code" in (kwargs.get("params") or {}):
            return kwargs
        return {**kwargs, "headers": self.key_header}


@dataclass
class _Environment:
    """The process environment as it was before the stack set the app's settings."""

    saved: dict[str, str | None]

    def stop(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        from runtime import services

        services.use_sleep(None)
        services.reset()


def _event_sink(
    host: DurableHost,
    *,
    deliver: bool,
    observer: Callable[[dict[str, Any]], None] | None,
    filters: tuple[AdvancedFilter, ...] = (),
    lose: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[dict[str, Any]], None]:
    def sink(event: dict[str, Any]) -> None:
        if observer is not None:
            observer(event)
        if deliver and delivered(event, filters) and not (lose is not None and lose(event)):
            host.deliver_event_grid(event)

    return sink


def _load_app() -> Any:
    """Import (or re-import) `function_app` with the current environment."""
    from runtime import services

    services.reset()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module("function_app")
    return module.app
