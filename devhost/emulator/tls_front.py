"""A local TLS front for the emulator: terminates https on 127.0.0.1 with a
throw-away CA's certificate (`devhost.keyvault.tls`, made with `cryptography`) and forwards each request to the plain-http emulator,
as a reverse proxy in front of a real service would.

Azure is https only, and clients behave differently over TLS (azure-core refuses
to send a bearer token over http for most of the SDK's clients), so the SDK's
conformance suite runs through this front. It preserves `Host` and adds
`X-Forwarded-Proto: https`, so the emulator's absolute links (`nextLink`,
`Location`, the discovery URL) point back at the front. A dropped backend
connection (the emulator's `drop` faults) is passed on as a dropped connection.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devhost.keyvault.tls import generate

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}
)


class TlsFront:
    """`https://127.0.0.1:{port}` in front of `http://{backend_host}:{backend_port}`."""

    def __init__(
        self, backend_host: str, backend_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.backend = (backend_host, backend_port)
        self.host = host
        self.port = port
        self._certificate = generate(host)
        self._context = self._certificate.server_context()
        self._server: _FrontServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_path(self) -> Path:
        """The CA a client trusts (`connection_verify=`, `verify=`)."""
        return self._certificate.ca_path

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> TlsFront:
        server = _FrontServer((self.host, self.port), _FrontHandler)
        server.front = self
        server.context = self._context
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-tls-front",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        shutil.rmtree(self._certificate.directory, ignore_errors=True)

    def __enter__(self) -> TlsFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: TlsFront
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs on the request's own thread, never on the accept loop.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _FrontServer
    _backend: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-For"] = self.client_address[0]
        if self._backend is None:
            self._backend = http.client.HTTPConnection(*self.server.front.backend, timeout=60)
            self._backend.connect()
            self._backend.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._backend.request(self.command, self.path, body=body, headers=headers)
            reply = self._backend.getresponse()
            payload = reply.read()
        except (http.client.HTTPException, OSError):
            # The backend dropped the connection without an answer: so does the front.
            self._backend.close()
            self._backend = None
            self.close_connection = True
            return
        self.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() not in ("content-length", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
        if reply.will_close:
            self._backend.close()
            self._backend = None

    def finish(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        try:
            super().finish()
        except OSError:
            pass

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _forward
