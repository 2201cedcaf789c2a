"""Bearer tokens for ARM: cached until near expiry, thread-safe, azure-identity imported on first use."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from foundry.auth import (
    ARM_SCOPE,
    AzureIdentityTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    token_provider_from_settings,
)
from foundry.errors import AuthError


@dataclass
class Access:
    token: str
    expires_on: int


class FakeCredential:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_token(self, scope: str) -> Access:
        self.calls.append(scope)
        return Access(f"tok-{len(self.calls)}", 1000 + 3600)


def test_identity_provider_caches_until_margin() -> None:
    now = [1000.0]
    cred = FakeCredential()
    p = AzureIdentityTokenProvider("cid", credential_factory=lambda: cred, clock=lambda: now[0])
    assert isinstance(p, TokenProvider)
    assert p.get_token() == "tok-1" and p.get_token() == "tok-1"
    now[0] = 1000 + 3600 - 301
    assert p.get_token() == "tok-1"
    now[0] = 1000 + 3600 - 299  # inside the 5-minute margin
    assert p.get_token() == "tok-2"
    assert cred.calls == [ARM_SCOPE, ARM_SCOPE]
    p.invalidate()
    assert p.get_token() == "tok-3"


def test_identity_provider_thread_safe() -> None:
    cred = FakeCredential()
    p = AzureIdentityTokenProvider(None, credential_factory=lambda: cred, clock=lambda: 1000.0)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(p.get_token())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {"tok-1"} and len(cred.calls) == 1


def test_identity_failure_is_auth_error_without_details() -> None:
    class Broken:
        def get_token(self, scope: str) -> Access:
            raise RuntimeError("secret-internal-detail")

    p = AzureIdentityTokenProvider(None, credential_factory=Broken)
    with pytest.raises(AuthError) as exc:
        p.get_token()
    assert (
        "secret-internal-detail" not in str(exc.value.to_dict()) and exc.value.code == "CredentialUnavailable"
    )


def test_provider_from_settings_and_lazy_import() -> None:
    static = token_provider_from_settings(SimpleNamespace(static_token="abc", client_id=None))
    assert (
        isinstance(static, StaticTokenProvider) and static.get_token() == "abc" and "abc" not in repr(static)
    )
    ident = token_provider_from_settings(SimpleNamespace(static_token=None, client_id="cid"))
    assert isinstance(ident, AzureIdentityTokenProvider)
    code = (
        "import sys, foundry.client, foundry.auth, runtime.settings;"
        "from foundry.auth import token_provider_from_settings as f;"
        "from types import SimpleNamespace as N;"
        "f(N(static_token=None, client_id=None));"
        "assert 'azure.identity' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).parents[3])
