"""Point the official `azure-ai-ml` SDK at the emulator, with nothing patched.

The SDK reaches ARM through a cloud's metadata; registering the emulator as a custom
cloud (`MLClient(..., cloud=..., cloud_metadata=...)`, the SDK's documented way to
reach sovereign clouds) makes every client it builds talk to the emulator. It needs a
bearer token from a real azure-core `TokenCredential`: `EmulatorCredential` hands out
the emulator's static token.

    from azure.ai.ml import MLClient
    from devhost.emulator.sdk import EmulatorCredential, ml_client_kwargs

    ml = MLClient(EmulatorCredential(emu.token), emu.subscription_id, emu.resource_group,
                  emu.workspace_name, **ml_client_kwargs(front.url, ca_bundle=front.ca_path))

azure-core refuses to send a bearer token over plain http for most of the SDK's clients,
so use the emulator behind its TLS front (`devhost.emulator.tls_front.TlsFront`) for
anything beyond `jobs.get`, `jobs.create_or_update`, `jobs.begin_cancel` and
`environments.get(name, version=...)`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo


class EmulatorCredential:
    """An azure-core `TokenCredential` (and `SupportsTokenInfo`) for the emulator's token."""

    def __init__(self, token: str, lifetime_seconds: int = 3600) -> None:
        self._token = token
        self._lifetime = lifetime_seconds

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + self._lifetime)

    def close(self) -> None:
        pass

    def __enter__(self) -> EmulatorCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def ml_client_kwargs(base_url: str, *, ca_bundle: str | Path | None = None) -> dict[str, Any]:
    """Keyword arguments for `MLClient` so that it talks to the emulator at `base_url`
    (`http://127.0.0.1:PORT` or the TLS front's `https://...`). Telemetry is off: nothing
    leaves the machine."""
    split = urlsplit(base_url)
    root = f"{split.scheme}://{split.netloc}/"
    kwargs: dict[str, Any] = {
        # one cloud per endpoint: the SDK keeps the first metadata registered under a name
        "cloud": f"DevhostEmulator-{split.scheme}-{split.netloc}",
        "cloud_metadata": {
            "azure_portal": "https://portal.azure.com/",
            "resource_manager": root,
            "active_directory": "https://login.microsoftonline.com/",
            "aml_resource_id": "https://ml.azure.com/",
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": root,
        },
        "enable_telemetry": False,
    }
    if ca_bundle is not None:
        kwargs["connection_verify"] = str(ca_bundle)
    return kwargs
