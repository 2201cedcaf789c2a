"""The whole app on one machine: clock + Azure ML emulator + Key Vault emulator +
local Durable host running the unmodified `function_app`.

Used by `python -m devhost`, the end-to-end tests and the benchmarks, so they
all exercise the same production code paths. The app reads its settings from
the process environment (as in Azure), so one stack runs per process at a time.
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
from devhost.emulator import FaultPlan, WorkspaceEmulator
from devhost.emulator.rehearsals import RehearsalSetup
from devhost.keyvault import KeyVaultEmulator

ROOT = Path(__file__).resolve().parent.parent


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
        event_delay_seconds: float = 1.0,
        port: int = 0,
        emulator_port: int = 0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        rerun_activities: bool = False,
        rehearsal: RehearsalSetup | None = None,
    ) -> LocalStack:
        """Start everything. With `workspace_id` the app talks to that real Azure ML
        workspace with the developer's own credential instead of the emulator.
        `on_event` sees each Azure ML Event Grid event (at its virtual time) before
        the app does; `events=False` still calls it but delivers nothing to the app.
        `rerun_activities` runs every activity twice (at-least-once delivery, as on
        Azure) so that tests prove each one idempotent. `rehearsal` makes the emulator run the
        sweeps whose code it maps for real (docs/rehearsal.md)."""
        clock: Clock = VirtualClock() if virtual else RealClock()
        clock.start()
        emulator: WorkspaceEmulator | None = None
        keyvault: KeyVaultEmulator | None = None
        env = {
            "TASKHUB_NAME": "polysyncsweeps",
            "INSTANCE_ID_KEY": secrets.token_urlsafe(32),
        }
        if workspace_id:
            env["AZUREML_WORKSPACE_ID"] = workspace_id
        else:
            # The workspace's Key Vault: Secret parameters go there (RUN_SECRETS_VAULT_URL).
            keyvault = KeyVaultEmulator(clock=clock).start()
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
        app = _load_app()
        from runtime import services

        services.use_sleep(clock.sleep)  # the client's retry back-off passes this clock's time
        host = DurableHost(
            app, clock=clock, function_key=function_key, port=port, rerun_activities=rerun_activities
        ).start()
        if emulator is not None and (events or on_event):
            emulator.set_event_sink(_event_sink(host, deliver=events, observer=on_event))
        return cls(clock=clock, host=host, emulator=emulator, env=env, keyvault=keyvault, _saved_env=saved)

    def stop(self) -> None:
        self.host.stop()
        if self.emulator is not None:
            self.emulator.stop()
        if self.keyvault is not None:
            self.keyvault.stop()
        self.clock.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        from runtime import services

        services.use_sleep(None)
        services.reset()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- conveniences for callers that speak HTTP to the app ------------------
    @property
    def api(self) -> str:
        return self.host.api_url

    def url(self, path: str) -> str:
        return f"{self.api}/{path.lstrip('/')}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), json=body, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=30, **kwargs)


def _event_sink(
    host: DurableHost, *, deliver: bool, observer: Callable[[dict[str, Any]], None] | None
) -> Callable[[dict[str, Any]], None]:
    def sink(event: dict[str, Any]) -> None:
        if observer is not None:
            observer(event)
        if deliver:
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
