"""Bearer tokens for ARM (and the workspace's run-history data plane). azure-identity is imported only when a token is needed
(cold start), and tokens never reach logs or exception text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from foundry.errors import AuthError

ARM_SCOPE = "https://management.azure.com/.default"
# The run-history data plane (a sweep's trials): azure-ai-ml's RunHistoryClient asks for this scope.
ML_SCOPE = "https://ml.azure.com/.default"
REFRESH_MARGIN_SECONDS = 300


@runtime_checkable
class TokenProvider(Protocol):
    def get_token(self) -> str: ...


class StaticTokenProvider:
    """A fixed token (the emulator; never production)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(<token hidden>)"


class AzureIdentityTokenProvider:
    """DefaultAzureCredential (managed identity first in Azure), cached until 5 min before expiry."""

    def __init__(
        self,
        client_id: str | None = None,
        *,
        scope: str = ARM_SCOPE,
        credential_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id = client_id
        self._scope = scope
        self._factory = credential_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._credential: Any = None
        self._token: str | None = None
        self._expires_on: float = 0.0

    def __repr__(self) -> str:
        return f"AzureIdentityTokenProvider(client_id={self._client_id!r})"

    def _make_credential(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from azure.identity import DefaultAzureCredential  # heavy: imported on first use only

        return DefaultAzureCredential(managed_identity_client_id=self._client_id)

    def invalidate(self) -> None:
        """Forget the cached token (after a 401) so the next call fetches a fresh one."""
        with self._lock:
            self._token = None
            self._expires_on = 0.0

    def get_token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token and now < self._expires_on - REFRESH_MARGIN_SECONDS:
                return self._token
            try:
                if self._credential is None:
                    self._credential = self._make_credential()
                access = self._credential.get_token(self._scope)
            except Exception as exc:  # noqa: BLE001 - any credential failure becomes one clear error
                raise AuthError(
                    f"Could not get an Azure token ({type(exc).__name__}).",
                    code="CredentialUnavailable",
                    hint="In Azure, assign a managed identity to the function app (set AZURE_CLIENT_ID "
                    "for a user-assigned one); locally, run `az login`.",
                    status=401,
                ) from None
            self._token = access.token
            self._expires_on = float(access.expires_on)
            return self._token


def token_provider_from_settings(settings: Any, scope: str = ARM_SCOPE) -> TokenProvider:
    """Static token when AZUREML_STATIC_TOKEN is set (emulator), else azure-identity for `scope`."""
    if getattr(settings, "static_token", None):
        return StaticTokenProvider(settings.static_token)
    return AzureIdentityTokenProvider(getattr(settings, "client_id", None), scope=scope)


class StaticTokenCredential:
    """An azure-core TokenCredential returning a fixed token (the Key Vault emulator; never production)."""

    def __init__(self, token: str, lifetime_seconds: int = 3600) -> None:
        self._token = token
        self._lifetime = lifetime_seconds

    def __repr__(self) -> str:
        return "StaticTokenCredential(<token hidden>)"

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + self._lifetime)


def credential_for_vault(settings: Any) -> Any:
    """The credential the Key Vault SDK uses: the static emulator token when
    RUN_SECRETS_VAULT_STATIC_TOKEN is set, else DefaultAzureCredential (the app's
    managed identity in Azure). The SDK asks it for the scope Key Vault's challenge names."""
    if getattr(settings, "run_secrets_vault_static_token", None):
        return StaticTokenCredential(settings.run_secrets_vault_static_token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=getattr(settings, "client_id", None))
