"""HTTP/1.1 framing for the emulator: a threading server with keep-alive, a lean
request parser, the fault plan applied before dispatch, call counting, and ARM's
response headers (`x-ms-request-id`, `x-ms-correlation-request-id`,
`x-ms-ratelimit-remaining-subscription-reads/-writes`).

Each request runs between `clock.acquire()` and `clock.release()`, so a virtual clock
never jumps while a request is being answered.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .errors import ArmError
from .routes import Headers, Request, Response, classify

if TYPE_CHECKING:
    from .server import WorkspaceEmulator

log = logging.getLogger("devhost.emulator")


class EmulatorHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    emulator: WorkspaceEmulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

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


def fault_response(kind: str, retry_after_seconds: int | None) -> Response:
    retry_after = {} if retry_after_seconds is None else {"Retry-After": str(retry_after_seconds)}
    if kind == "429":
        err = ArmError(
            429,
            "TooManyRequests",
            f"The request is being throttled. Please retry after {retry_after_seconds or 0} seconds.",
            headers=retry_after,
        )
    elif kind == "500":
        err = ArmError(500, "InternalServerError", "Encountered an internal server error. Please retry.")
    else:
        err = ArmError(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry.",
            headers=retry_after,
        )
    return Response(err.status, err.body(), dict(err.headers))


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: EmulatorHttpServer
    _ratelimit = itertools.count()
    _date_cache: tuple[int, str] = (0, "")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        if EmulatorHandler._date_cache[0] != now:
            EmulatorHandler._date_cache = (now, super().date_time_string(now))
        return EmulatorHandler._date_cache[1]

    def parse_request(self) -> bool:
        """A lean replacement of the stdlib parser (its email-based header parsing costs
        more than the rest of a request); HTTP/1.0 and 1.1 only."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(400, f"Bad request line {requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = Headers()
        for _ in range(101):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            key, _sep, value = line.decode("iso-8859-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        conn = headers.get("connection", "").lower()
        if conn == "close":
            self.close_connection = True
        elif self.request_version == "HTTP/1.1" or conn == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        emu.clock.acquire()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(method, self.path, self.headers, body, emu.arm_endpoint)  # type: ignore[arg-type]
            route = classify(method, request.path)
            if route.kind == "admin":
                self._send(emu.router.dispatch(request, route), method)
                return
            fault = emu.draw_fault(method, route.kind)
            effect = "drop" if fault == "drop_after_apply" and route.kind not in ("put", "cancel") else fault
            emu.count(route.kind, fault)
            if effect in ("429", "500", "503"):
                emu.count_job(route.kind, route.job, int(effect))
                self._send(fault_response(effect, emu.retry_after_seconds()), method)
                return
            if effect == "drop":
                emu.count_job(route.kind, route.job, 0)
                self.close_connection = True
                return
            if effect == "slow":
                time.sleep(emu.slow_seconds())
            response = emu.router.dispatch(request, route)
            emu.count_job(route.kind, route.job, 0 if effect == "drop_after_apply" else response.status)
            if effect == "drop_after_apply":
                self.close_connection = True
                return
            self._send(response, method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("emulator failed handling %s %s", method, self.path)
            err = ArmError(500, "InternalServerError", "The emulator failed to handle the request.")
            try:
                self._send(Response(500, err.body()), method)
            except OSError:
                self.close_connection = True
        finally:
            emu.clock.release()

    def _send(self, response: Response, method: str) -> None:
        body = response.body
        payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(response.status)
        request_id = str(uuid.uuid4())
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        remaining = 0 if response.status == 429 else None
        if method == "GET":
            value = remaining if remaining is not None else 11999 - next(self._ratelimit) % 1000
            self.send_header("x-ms-ratelimit-remaining-subscription-reads", str(value))
        else:
            value = remaining if remaining is not None else 1199 - next(self._ratelimit) % 100
            self.send_header("x-ms-ratelimit-remaining-subscription-writes", str(value))
        for key, val in response.headers.items():
            self.send_header(key, val)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
