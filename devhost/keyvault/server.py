"""Azure Key Vault emulator: the secrets data plane the connector and its training
scripts use, served over TLS on 127.0.0.1 with the shared `devhost.clock` clock.

Sources (named again in tests/devhost/keyvault/test_conformance.py, which drives this with
the real `azure-keyvault-secrets` SDK):
- REST shapes: Azure/azure-rest-api-specs
  `specification/keyvault/data-plane/Microsoft.KeyVault/stable/2025-07-01/secrets.json`
  (SecretBundle, DeletedSecretBundle, SecretItem, KeyVaultError, name pattern
  `^[0-9a-zA-Z-]+$`, `maxresults` 1..25, set = a new version, delete/purge statuses).
- Challenge authentication: azure-keyvault-secrets `_shared/challenge_auth_policy.py`
  (the first request goes out without a token or body; the 401's `WWW-Authenticate`
  names the authority, whose path is the tenant, and the resource; the vault host
  must lie inside the resource's domain) and the service's own 401 as recorded by
  Azure/azure-sdk-for-js key vault tests:
  `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`.
- Soft delete: `GET /deletedsecrets/{name}` answers 404 `SecretNotFound`
  "Deleted Secret not found: {name}" until the deletion completes, and purging meanwhile is
  409 `Conflict` with innererror `ObjectIsBeingDeleted` (same recordings); the SDK's
  `DeleteRecoverPollingMethod` polls for exactly that.
- Unknown api-version: 400 `BadParameter` "The specified version (x) is not recognized.
  Consider using the latest supported version (y)." (as Key Vault answers it).

Why the vault lives at `https://127.0.0.1:PORT` with resource `https://0.0.1:PORT`:
the SDK only sends a token to a host inside the challenge's resource domain
(`name.vault.azure.net` inside `vault.azure.net`). The one loopback name that has a
parent domain is the IP literal, so the emulator's "cloud" is `0.0.1:PORT` and the
SDK's check runs unchanged.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from devhost.clock import Clock, TimerHandle

from . import tls

log = logging.getLogger(__name__)

# Every published secrets api-version (azure-rest-api-specs data-plane/Microsoft.KeyVault)
# plus 2026-04-01, the azure-keyvault-secrets 4.12 default (`ApiVersion.V2026_04_01`).
API_VERSIONS = (
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
)
LATEST_STABLE = "2025-07-01"
NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024  # Key Vault service limits: a secret value is at most 25 KB
MAX_TAGS = 15
MAX_RESULTS = 25
RECOVERY_LEVEL = "Recoverable+Purgeable"  # soft delete on, purge protection off (workspace vault default)


class VaultError(Exception):
    """Answered as KeyVaultError: `{"error": {"code", "message", "innererror"?}}`."""

    def __init__(
        self, status: int, code: str, message: str, inner: str | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def _not_found(name: str) -> VaultError:
    return VaultError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted this "
        "secret you may be able to recover it using the correct recovery command. For help resolving "
        "this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


@dataclass
class _Version:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)
    deleted_at: int | None = None
    deletion_done: bool = False

    @property
    def latest(self) -> _Version:
        return self.versions[-1]


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class KeyVaultEmulator:
    """One vault's secrets, served over https on 127.0.0.1."""

    def __init__(
        self,
        *,
        clock: Clock,
        tenant_id: str = "00000000-0000-0000-0000-0000000000aa",
        token: str = "keyvault-token",  # noqa: S107 - the emulator's fixed test token
        host: str = "127.0.0.1",
        port: int = 0,
        recoverable_days: int = 90,
        deletion_seconds: float = 0.0,
    ) -> None:
        self.clock = clock
        self.tenant_id = tenant_id
        self.token = token
        self.host = host
        self.port = port
        self.recoverable_days = recoverable_days
        self.deletion_seconds = deletion_seconds
        self.calls: collections.Counter = collections.Counter()
        self._lock = threading.RLock()
        self._secrets: dict[str, _Secret] = {}
        self._timers: list[TimerHandle] = []
        self._certificate: tls.LoopbackCertificate | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what a client needs
    @property
    def vault_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def resource(self) -> str:
        """The challenge's resource: the parent 'domain' of the vault host (see module doc)."""
        parent = self.host.split(".", 1)[1] if "." in self.host else self.host
        return f"https://{parent}:{self.port}"

    @property
    def ca_bundle(self) -> str:
        if self._certificate is None:
            raise RuntimeError("start() the emulator first")
        return str(self._certificate.ca_path)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> KeyVaultEmulator:
        if self._server is not None:
            return self
        self.clock.start()
        self._certificate = tls.generate(self.host)
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        server.context = self._certificate.server_context()
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="keyvault-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for handle in self._timers:
                handle.cancel()
            self._timers.clear()

    def __enter__(self) -> KeyVaultEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test helpers
    def secret_names(self) -> list[str]:
        """Names of live (not deleted) secrets."""
        with self._lock:
            return sorted(s.name for s in self._secrets.values() if s.deleted_at is None)

    def deleted_names(self) -> list[str]:
        """Names of deleted secrets not yet purged (their values are still recoverable)."""
        with self._lock:
            return sorted(s.name for s in self._secrets.values() if s.deleted_at is not None)

    def value(self, name: str) -> str | None:
        with self._lock:
            secret = self._secrets.get(name.lower())
            return secret.latest.value if secret is not None and secret.deleted_at is None else None

    def tags(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._secrets[name.lower()].latest.tags)

    def expires(self, name: str) -> datetime | None:
        with self._lock:
            exp = self._secrets[name.lower()].latest.exp
        return None if exp is None else datetime.fromtimestamp(exp, tz=self.clock.now().tzinfo)

    def all_values(self) -> list[str]:
        """Every value held, live, deleted or old versions (what a purge must erase)."""
        with self._lock:
            return [v.value for s in self._secrets.values() for v in s.versions]

    # ------------------------------------------------------------------ dispatch
    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
        origin = f"https://{headers.get('host') or f'{self.host}:{self.port}'}"
        try:
            self._authenticate(headers)
            version = query.get("api-version")
            if version not in API_VERSIONS:
                raise VaultError(
                    400,
                    "BadParameter",
                    f"The specified version ({version or ''}) is not recognized. Consider using the latest "
                    f"supported version ({LATEST_STABLE}).",
                )
            return self._route(method, segments, query, body, origin)
        except VaultError as exc:
            return _Reply(exc.status, exc.body(), dict(exc.headers))

    def _challenge(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": (
                f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", '
                f'resource="{self.resource}"'
            )
        }

    def _authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "pop") or not token.strip():
            raise VaultError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers=self._challenge(),
            )
        if token.strip() != self.token:
            raise VaultError(401, "Unauthorized", "AKV10022: Invalid audience.", headers=self._challenge())

    def _route(self, method: str, segs: list[str], query: dict[str, str], body: bytes, origin: str) -> _Reply:
        self.calls[f"{method} {'/'.join(segs[:1])}"] += 1
        if segs == ["secrets"] and method == "GET":
            return self._list(query, origin)
        if segs == ["deletedsecrets"] and method == "GET":
            return self._list(query, origin, deleted=True)
        if len(segs) in (2, 3) and segs[0] == "secrets":
            name, version = segs[1], (segs[2] if len(segs) == 3 else "")
            if method == "PUT" and len(segs) == 2:
                return self._set(name, body, origin)
            if method == "GET":
                return self._get(name, version, origin)
            if method == "DELETE" and len(segs) == 2:
                return self._delete(name, origin)
            raise VaultError(405, "MethodNotAllowed", f"The requested resource does not support {method}.")
        if len(segs) == 2 and segs[0] == "deletedsecrets":
            if method == "GET":
                return self._get_deleted(segs[1], origin)
            if method == "DELETE":
                return self._purge(segs[1])
            raise VaultError(405, "MethodNotAllowed", f"The requested resource does not support {method}.")
        raise VaultError(404, "NotFound", "The requested resource was not found.")

    # ------------------------------------------------------------------ operations
    def _set(self, name: str, body: bytes, origin: str) -> _Reply:
        if not NAME_RE.fullmatch(name):
            raise VaultError(
                400,
                "BadParameter",
                f"The request URI contains an invalid name: {name}. Secret names may contain only "
                "alphanumeric characters and dashes, at most 127.",
            )
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise VaultError(400, "BadParameter", "The request body is not valid JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("value"), str):
            raise VaultError(400, "BadParameter", "Property value is required and must be a string.")
        value = data["value"]
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise VaultError(400, "BadParameter", f"The secret value exceeds {MAX_VALUE_BYTES} bytes.")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise VaultError(400, "BadParameter", "Tags must be a map of strings.")
        if len(tags) > MAX_TAGS:
            raise VaultError(400, "BadParameter", f"A secret may have at most {MAX_TAGS} tags.")
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise VaultError(400, "BadParameter", "attributes must be an object.")
        now = self._now()
        with self._lock:
            secret = self._secrets.get(name.lower())
            if secret is not None and secret.deleted_at is not None:
                raise VaultError(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                    "reused; in this state, the secret can only be recovered or purged.",
                    inner="ObjectIsDeletedButRecoverable",
                )
            if secret is None:
                secret = self._secrets[name.lower()] = _Secret(name)
            version = _Version(
                version=uuid.uuid4().hex,
                value=value,
                content_type=data.get("contentType") if isinstance(data.get("contentType"), str) else None,
                tags={str(k): v for k, v in tags.items()},
                enabled=attributes.get("enabled") is not False,
                nbf=_int_or_none(attributes.get("nbf")),
                exp=_int_or_none(attributes.get("exp")),
                created=now,
                updated=now,
            )
            secret.versions.append(version)
            return _Reply(200, self._bundle(secret, version, origin))

    def _live(self, name: str) -> _Secret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_at is not None:
            raise _not_found(name)
        return secret

    def _get(self, name: str, version: str, origin: str) -> _Reply:
        with self._lock:
            secret = self._live(name)
            if not version:
                chosen = secret.latest
            else:
                found = [v for v in secret.versions if v.version == version]
                if not found:
                    raise VaultError(
                        404,
                        "SecretNotFound",
                        f"A secret with (name/id) {name}/{version} was not found in this key vault.",
                    )
                chosen = found[0]
            if not chosen.enabled:
                raise VaultError(
                    403,
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    inner="SecretDisabled",
                )
            return _Reply(200, self._bundle(secret, chosen, origin))

    def _delete(self, name: str, origin: str) -> _Reply:
        with self._lock:
            secret = self._live(name)
            secret.deleted_at = self._now()
            secret.deletion_done = self.deletion_seconds <= 0
            if not secret.deletion_done:
                self._timers.append(
                    self.clock.call_later(self.deletion_seconds, lambda s=secret: self._finish_deletion(s))
                )
            return _Reply(200, self._deleted_bundle(secret, origin))

    def _finish_deletion(self, secret: _Secret) -> None:
        with self._lock:
            secret.deletion_done = True

    def _deleted(self, name: str) -> _Secret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_at is None or not secret.deletion_done:
            raise VaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return secret

    def _get_deleted(self, name: str, origin: str) -> _Reply:
        with self._lock:
            return _Reply(200, self._deleted_bundle(self._deleted(name), origin))

    def _purge(self, name: str) -> _Reply:
        with self._lock:
            secret = self._secrets.get(name.lower())
            if secret is not None and secret.deleted_at is not None and not secret.deletion_done:
                raise VaultError(
                    409, "Conflict", "Secret is currently being deleted.", inner="ObjectIsBeingDeleted"
                )
            self._deleted(name)
            del self._secrets[name.lower()]
            return _Reply(204)

    def _list(self, query: dict[str, str], origin: str, *, deleted: bool = False) -> _Reply:
        try:
            size = int(query.get("maxresults") or MAX_RESULTS)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_RESULTS:
            raise VaultError(
                400, "BadParameter", f"Invalid maxresults: the value must be between 1 and {MAX_RESULTS}."
            )
        try:
            skip = int(query.get("$skiptoken") or 0)
        except ValueError:
            raise VaultError(400, "BadParameter", "Invalid $skiptoken.") from None
        with self._lock:
            chosen = sorted(
                (s for s in self._secrets.values() if (s.deleted_at is not None) == deleted),
                key=lambda s: s.name.lower(),
            )
            if deleted:
                chosen = [s for s in chosen if s.deletion_done]
            page = chosen[skip : skip + size]
            items = [self._item(s, origin, deleted=deleted) for s in page]
        result: dict[str, Any] = {"value": items, "nextLink": None}
        if skip + size < len(chosen):
            path = "deletedsecrets" if deleted else "secrets"
            result["nextLink"] = (
                f"{origin}/{path}?api-version={quote(query['api-version'])}"
                f"&$skiptoken={skip + size}&maxresults={size}"
            )
        return _Reply(200, result)

    # ------------------------------------------------------------------ shapes
    def _attributes(self, version: _Version) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": version.enabled}
        if version.nbf is not None:
            attrs["nbf"] = version.nbf
        if version.exp is not None:
            attrs["exp"] = version.exp
        attrs.update(
            created=version.created,
            updated=version.updated,
            recoveryLevel=RECOVERY_LEVEL,
            recoverableDays=self.recoverable_days,
        )
        return attrs

    def _bundle(self, secret: _Secret, version: _Version, origin: str) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "value": version.value,
            "id": f"{origin}/secrets/{secret.name}/{version.version}",
            "attributes": self._attributes(version),
            "tags": dict(version.tags),
        }
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        return bundle

    def _deleted_bundle(self, secret: _Secret, origin: str) -> dict[str, Any]:
        bundle = self._bundle(secret, secret.latest, origin)
        deleted_at = secret.deleted_at or self._now()
        bundle.update(
            recoveryId=f"{origin}/deletedsecrets/{secret.name}",
            deletedDate=deleted_at,
            scheduledPurgeDate=deleted_at + int(timedelta(days=self.recoverable_days).total_seconds()),
        )
        bundle.pop("value", None)  # a deleted secret's value is not returned
        return bundle

    def _item(self, secret: _Secret, origin: str, *, deleted: bool) -> dict[str, Any]:
        version = secret.latest
        item: dict[str, Any] = {
            "id": f"{origin}/secrets/{secret.name}",
            "attributes": self._attributes(version),
            "tags": dict(version.tags),
        }
        if version.content_type is not None:
            item["contentType"] = version.content_type
        if deleted:
            deleted_at = secret.deleted_at or self._now()
            item.update(
                recoveryId=f"{origin}/deletedsecrets/{secret.name}",
                deletedDate=deleted_at,
                scheduledPurgeDate=deleted_at + int(timedelta(days=self.recoverable_days).total_seconds()),
            )
        return item


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


# ---------------------------------------------------------------------- HTTP server
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: KeyVaultEmulator
    context: ssl.SSLContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        # The TLS handshake happens in the handler thread (first read), never in the
        # accept loop, so one stalled client cannot block the server.
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.close_connection = True

    def _handle(self) -> None:
        emu = self.server.emulator
        emu.clock.acquire()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = emu.dispatch(self.command, self.path, headers, body)
        except Exception:
            log.exception("key vault emulator failed handling %s %s", self.command, self.path)
            reply = _Reply(500, VaultError(500, "InternalServerError", "The emulator failed.").body())
        finally:
            emu.clock.release()
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-keyvault-service-version", "devhost")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle
