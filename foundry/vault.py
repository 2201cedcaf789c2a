"""The run-secret store: the workspace's Key Vault through `azure-keyvault-secrets`.

Values go in with `put`, are never read back by the app, and leave with `remove`
(delete, wait for Key Vault's asynchronous soft delete, then purge so the value is
not recoverable for the vault's retention period). Errors become FoundryErrors
that never quote a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foundry import run_secrets
from foundry.errors import FoundryError

log = logging.getLogger("foundry.vault")

DELETE_WAIT_SECONDS = 60


@dataclass(frozen=True)
class StoredSecret:
    """What the reconciler needs to know about one secret (never its value)."""

    name: str
    instance_id: str | None
    task_hub: str | None
    created: datetime | None
    expires: datetime | None


class VaultError(FoundryError):
    pass


def _fail(action: str, exc: Exception) -> VaultError:
    status = getattr(exc, "status_code", None)
    code = getattr(getattr(exc, "error", None), "code", None) or type(exc).__name__
    return VaultError(
        f"Key Vault refused to {action} a run secret ({status or 'no answer'} {code}).",
        code="RunSecretVaultError",
        hint="Check RUN_SECRETS_VAULT_URL and that the app identity has 'Key Vault Secrets Officer' on "
        "that vault; then start the run again.",
        status=503 if status is None or status >= 500 or status == 429 else 502,
    )


class RunSecretVault:
    """Write, list and erase run secrets in one vault."""

    def __init__(self, vault_url: str, client_factory: Callable[[], Any]) -> None:
        self.vault_url = vault_url.rstrip("/")
        self._factory = client_factory
        self._client: Any = None

    def __repr__(self) -> str:
        return f"RunSecretVault({self.vault_url!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def reference(self, name: str) -> str:
        return run_secrets.secret_reference(self.vault_url, name)

    def put(
        self,
        name: str,
        value: str,
        *,
        instance_id: str,
        parameter: str,
        task_hub: str | None,
        expires: datetime,
    ) -> None:
        tags = {run_secrets.INSTANCE_TAG: instance_id, run_secrets.PARAMETER_TAG: parameter[:256]}
        if task_hub:
            tags[run_secrets.TASK_HUB_TAG] = task_hub
        try:
            self.client.set_secret(
                name, value, tags=tags, expires_on=expires, content_type=run_secrets.CONTENT_TYPE
            )
        except Exception as exc:  # noqa: BLE001 - any SDK failure becomes one clear error
            raise _fail("store", exc) from None

    def remove(self, name: str) -> bool:
        """Delete and purge `name`; False when it was already gone. Purge refused (purge
        protection) leaves the soft-deleted secret to Key Vault's retention, logged."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            poller = self.client.begin_delete_secret(name)
        except ResourceNotFoundError:
            return self._purge(name)
        except Exception as exc:  # noqa: BLE001
            raise _fail("delete", exc) from None
        try:
            poller.wait(timeout=DELETE_WAIT_SECONDS)
        except Exception as exc:  # noqa: BLE001
            raise _fail("delete", exc) from None
        self._purge(name)
        return True

    def _purge(self, name: str) -> bool:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.client.purge_deleted_secret(name)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if exc.status_code in (403, 409):
                # Purge protection, or a deletion still completing: Key Vault keeps the
                # soft-deleted value until its retention ends; nothing else can be done here.
                log.warning("run secret %s deleted but not purged (%s)", name, exc.status_code)
                return True
            raise _fail("purge", exc) from None
        return True

    def run_secrets(self) -> Iterator[StoredSecret]:
        """Every secret tagged as a run secret (properties only; values are never listed)."""
        try:
            for props in self.client.list_properties_of_secrets():
                tags = props.tags or {}
                if run_secrets.INSTANCE_TAG not in tags:
                    continue
                yield StoredSecret(
                    name=props.name,
                    instance_id=tags.get(run_secrets.INSTANCE_TAG),
                    task_hub=tags.get(run_secrets.TASK_HUB_TAG),
                    created=props.created_on,
                    expires=props.expires_on,
                )
        except Exception as exc:  # noqa: BLE001
            raise _fail("list", exc) from None


def vault_from_settings(settings: Any) -> RunSecretVault | None:
    """The vault named by RUN_SECRETS_VAULT_URL, or None when Secret parameters are off."""
    url = getattr(settings, "run_secrets_vault_url", None)
    if not url:
        return None

    def factory() -> Any:
        from azure.keyvault.secrets import SecretClient  # heavy: loaded by the first Secret

        from foundry.auth import credential_for_vault

        kwargs: dict[str, Any] = {}
        if getattr(settings, "run_secrets_vault_ca_bundle", None):
            kwargs["connection_verify"] = settings.run_secrets_vault_ca_bundle
        return SecretClient(url, credential_for_vault(settings), **kwargs)

    return RunSecretVault(url, factory)
