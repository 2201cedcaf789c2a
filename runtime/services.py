"""Process-wide services built lazily from app settings.

Built on first use, not at import: `import function_app` must stay cheap (cold
start on Flex Consumption). requests, azure-identity and the Key Vault SDK are only
imported when an Azure ML call or a Secret actually needs them; orchestrator
replays, the most frequent invocations, need none of them. `reset()` exists for the local host and tests, which change the
environment between runs in one process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from runtime.settings import Settings

if TYPE_CHECKING:
    from foundry.auth import TokenProvider
    from foundry.catalog import WorkspaceCatalog
    from foundry.client import AzureMLClient
    from foundry.template_cache import TemplateCache
    from foundry.vault import RunSecretVault

_lock = threading.Lock()
# How the Azure ML client waits between its own retries. The local host swaps in
# its clock's sleep (which, in virtual time, returns at once: see devhost/clock.py).
_sleep: Callable[[float], None] = time.sleep


@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


def client() -> AzureMLClient:
    with _lock:
        return _client()


@cache
def _client() -> AzureMLClient:
    from foundry.auth import ML_SCOPE, token_provider_from_settings

    return _built(data_plane_tokens=token_provider_from_settings(settings(), ML_SCOPE))


def start_client() -> AzureMLClient:
    """The client of the start route, which a caller waits on: two attempts within 10 s, then
    the route starts the run anyway and the orchestration waits Azure ML out on durable timers."""
    with _lock:
        return _start_client()


@cache
def _start_client() -> AzureMLClient:
    return _built(max_attempts=2, max_total_seconds=10)


def _built(**options: Any) -> AzureMLClient:
    """A client of the configured workspace, waiting on the swappable sleep."""
    from foundry.client import AzureMLClient

    s = settings()
    return AzureMLClient(
        s.workspace,
        _tokens(),
        arm_endpoint=s.arm_endpoint,
        sleep=lambda seconds: _sleep(seconds),
        **options,
    )


def catalog() -> WorkspaceCatalog:
    """What the workspace holds (computes, environment versions), remembered for a while."""
    with _lock:
        return _catalog()


@cache
def _catalog() -> WorkspaceCatalog:
    from foundry.catalog import WorkspaceCatalog

    return WorkspaceCatalog(start_client)


def template_cache() -> TemplateCache:
    """Template definitions the start route read within TEMPLATE_CACHE_SECONDS."""
    with _lock:
        return _template_cache()


@cache
def _template_cache() -> TemplateCache:
    from foundry.template_cache import TemplateCache

    return TemplateCache(ttl=settings().template_cache_seconds)


@cache
def _tokens() -> TokenProvider:
    from foundry.auth import token_provider_from_settings

    return token_provider_from_settings(settings())


def use_sleep(sleep: Callable[[float], None] | None) -> None:
    """Make the Azure ML client back off with `sleep` (None: `time.sleep`)."""
    global _sleep
    _sleep = sleep or time.sleep


def vault() -> RunSecretVault | None:
    """The run-secret vault (RUN_SECRETS_VAULT_URL), or None when Secret parameters are off."""
    with _lock:
        return _vault()


@cache
def _vault() -> RunSecretVault | None:
    from foundry.vault import vault_from_settings

    return vault_from_settings(settings())


def reset() -> None:
    """Forget cached services so the next call re-reads the environment."""
    with _lock:
        settings.cache_clear()
        _client.cache_clear()
        _start_client.cache_clear()
        _catalog.cache_clear()
        _template_cache.cache_clear()
        _tokens.cache_clear()
        _vault.cache_clear()
