"""The Key Vault emulator (devhost/keyvault) driven by the real `azure-keyvault-secrets`
SDK over TLS, with the SDK's challenge authentication and resource check left on.

Sources each behaviour follows:
- Azure/azure-rest-api-specs `specification/keyvault/data-plane/Microsoft.KeyVault/stable/2025-07-01/secrets.json`:
  routes, SecretBundle / DeletedSecretBundle / SecretItem shapes, the name pattern, maxresults <= 25, nextLink.
- azure-keyvault-secrets `_shared/challenge_auth_policy.py`: a first request without token or body,
  the 401 `WWW-Authenticate` (authority path = tenant, resource -> scope), https only, resource domain check.
- Key Vault's own answers as recorded in Azure/azure-sdk-for-js keyvault-secrets test recordings:
  401 `Unauthorized` "AKV10000: Request is missing a Bearer or PoP token.", 404 `SecretNotFound`
  "A secret with (name/id) ... was not found in this key vault", 404 "Deleted Secret not found: ..."
  while a deletion completes, 409 `Conflict`/`ObjectIsBeingDeleted` on an early purge.
- azure-keyvault-secrets `_shared/_polling.py` (DeleteRecoverPollingMethod): deletion is done when
  GET /deletedsecrets/{name} stops answering 404.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.keyvault.secrets import KeyVaultSecretIdentifier, SecretClient

from devhost.clock import VirtualClock
from devhost.keyvault import KeyVaultEmulator

UTC = timezone.utc  # datetime.UTC is 3.11+; the app supports 3.10


class RecordingCredential:
    """A TokenCredential that records what the SDK asks for (scope, tenant)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[tuple[tuple[str, ...], dict]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.requests.append((scopes, kwargs))
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def vault():
    clock = VirtualClock().start()
    with KeyVaultEmulator(clock=clock) as emulator:
        yield emulator
    clock.stop()


def client(vault: KeyVaultEmulator, token: str | None = None) -> tuple[SecretClient, RecordingCredential]:
    credential = RecordingCredential(token or vault.token)
    return SecretClient(vault.vault_url, credential, connection_verify=vault.ca_bundle), credential


def test_challenge_flow_gets_a_token_for_the_challenge_resource_and_tenant(vault):
    """The SDK's first request carries no token; the 401 challenge tells it the scope and tenant."""
    secrets, credential = client(vault)
    secrets.set_secret("challenge-probe", "v")
    scopes, options = credential.requests[0]
    assert scopes == (vault.resource + "/.default",)
    assert options.get("tenant_id") == vault.tenant_id
    raw = requests.get(
        f"{vault.vault_url}/secrets?api-version=2025-07-01", verify=vault.ca_bundle, timeout=10
    )
    assert raw.status_code == 401
    assert raw.json() == {
        "error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}
    }
    challenge = raw.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization=") and f'resource="{vault.resource}"' in challenge


def test_set_get_versions_tags_and_expiry_round_trip(vault):
    secrets, _ = client(vault)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    first = secrets.set_secret(
        "round-trip", "one", tags={"run": "r1"}, expires_on=expires, content_type="text"
    )
    second = secrets.set_secret("round-trip", "two")
    assert first.properties.version != second.properties.version  # a set is a new version
    assert secrets.get_secret("round-trip").value == "two"
    assert secrets.get_secret("round-trip", first.properties.version).value == "one"
    old = secrets.get_secret("round-trip", first.properties.version).properties
    assert old.tags == {"run": "r1"} and old.expires_on == expires and old.content_type == "text"
    assert old.recovery_level == "Recoverable+Purgeable" and old.enabled is True
    ref = KeyVaultSecretIdentifier(second.id)
    assert (ref.vault_url, ref.name) == (vault.vault_url, "round-trip")


def test_missing_secret_is_secret_not_found(vault):
    secrets, _ = client(vault)
    with pytest.raises(ResourceNotFoundError) as raised:
        secrets.get_secret("never-set")
    assert raised.value.error.code == "SecretNotFound"
    assert "was not found in this key vault" in raised.value.error.message


def test_names_outside_the_spec_pattern_are_refused(vault):
    secrets, _ = client(vault)
    with pytest.raises(HttpResponseError) as raised:
        secrets.set_secret("under_score", "v")
    assert raised.value.status_code == 400 and raised.value.error.code == "BadParameter"


def test_wrong_token_is_refused_with_a_challenge(vault):
    secrets, _ = client(vault, token="not-the-vault-token")
    with pytest.raises(ClientAuthenticationError):
        secrets.get_secret("round-trip")


def test_unknown_api_version_is_bad_parameter(vault):
    answer = requests.get(
        f"{vault.vault_url}/secrets?api-version=1.0",
        headers={"Authorization": f"Bearer {vault.token}"},
        verify=vault.ca_bundle,
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadParameter"
    assert "is not recognized" in answer.json()["error"]["message"]


def test_the_sdk_still_refuses_plain_http(vault):
    """The emulator does not ask the SDK to relax: a plain-http vault URL is refused by the SDK."""
    secrets = SecretClient(
        vault.vault_url.replace("https://", "http://"), RecordingCredential(vault.token), retry_total=0
    )
    with pytest.raises(ServiceRequestError):
        secrets.get_secret("round-trip")


def test_listing_follows_next_links(vault):
    secrets, _ = client(vault)
    for i in range(30):
        secrets.set_secret(f"page-{i:02d}", "v", tags={"batch": "paging"})
    names = [p.name for p in secrets.list_properties_of_secrets(max_page_size=7)]
    assert [n for n in names if n.startswith("page-")] == [f"page-{i:02d}" for i in range(30)]
    listed = next(p for p in secrets.list_properties_of_secrets() if p.name == "page-00")
    assert listed.tags == {"batch": "paging"}


def test_delete_wait_purge_and_the_deleted_state(vault):
    secrets, _ = client(vault)
    secrets.set_secret("to-delete", "gone-soon")
    poller = secrets.begin_delete_secret("to-delete")
    deleted = poller.result()
    assert deleted.recovery_id.endswith("/deletedsecrets/to-delete") and deleted.scheduled_purge_date
    poller.wait()
    assert "to-delete" in vault.deleted_names()
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret("to-delete")
    with pytest.raises(ResourceExistsError) as raised:  # the name is held until purged
        secrets.set_secret("to-delete", "again")
    assert raised.value.error.code == "Conflict"
    assert secrets.get_deleted_secret("to-delete").name == "to-delete"
    secrets.purge_deleted_secret("to-delete")
    assert "to-delete" not in vault.deleted_names() and "gone-soon" not in vault.all_values()
    with pytest.raises(ResourceNotFoundError):
        secrets.get_deleted_secret("to-delete")


def test_purge_before_the_deletion_completes_is_a_conflict():
    """Deletion is asynchronous on Key Vault; a client must wait (the SDK poller) before purging.
    A stopped clock holds the deletion open until the test moves time."""
    clock = VirtualClock(auto=False).start()
    try:
        with KeyVaultEmulator(clock=clock, deletion_seconds=1.0) as slow:
            secrets, _ = client(slow)
            secrets.set_secret("slow-delete", "v")
            poller = secrets.begin_delete_secret("slow-delete")
            with pytest.raises(ResourceExistsError) as raised:
                secrets.purge_deleted_secret("slow-delete")
            assert raised.value.error.code == "Conflict"
            with pytest.raises(ResourceNotFoundError) as early:
                secrets.get_deleted_secret("slow-delete")
            assert "Deleted Secret not found" in early.value.error.message
            clock.advance(2)
            poller.wait(timeout=30)
            assert poller.done()
            secrets.purge_deleted_secret("slow-delete")
            assert slow.deleted_names() == [] and slow.all_values() == []
    finally:
        clock.stop()
