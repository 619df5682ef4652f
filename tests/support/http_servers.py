"""A real HTTP(S) server on loopback for channel tests.

``RecordingServer`` records every request (and every accepted connection, so a test can
prove that nothing even connected) and answers per path as told::

    with RecordingServer() as server:
        server.respond("/hook", status=503, headers={"Retry-After": "7"})
        ...
        assert server.requests[0].json()["type"] == "task.created"
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_address: str
    sni: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    # An answer is written in two pieces; with Nagle's algorithm on, the second waits for
    # the client's delayed ACK (about 45 ms per request on loopback).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be observed
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sni = getattr(self.connection, "_recorded_sni", None)
        self.server.owner._record(
            Recorded(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                self.client_address[0],
                sni,
            )
        )
        answer = self.server.owner.answer_for(self.path)
        if answer.delay:
            time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_POST = do_GET = do_PUT = _handle  # noqa: N815 - stdlib naming


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: RecordingServer

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner.connections += 1
        return True


class RecordingServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        self.requests: list[Recorded] = []
        self.connections = 0
        self.answers: dict[str, Answer] = {}
        self.default = Answer()
        self._lock = threading.Lock()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self.tls = tls
        if tls is not None:
            tls.sni_callback = _record_sni
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.host = host
        self.port = self._httpd.server_address[1]
        # A short poll keeps shutdown() (every test's teardown) from waiting 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/hook", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def respond(
        self,
        path: str,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"ok",
        delay: float = 0.0,
    ) -> None:
        if isinstance(body, str):
            body = body.encode()
        self.answers[path] = Answer(status, dict(headers or {}), body, delay)

    def answer_for(self, path: str) -> Answer:
        return self.answers.get(path.split("?")[0], self.default)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _record_sni(sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
    sock._recorded_sni = server_name  # type: ignore[attr-defined]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificate(directory: str, hostname: str = "localhost") -> tuple[str, str] | None:
    """A self-signed certificate for ``hostname`` (cert path, key path), made with the
    openssl command line; None when openssl is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={hostname}",
            "-addext", f"subjectAltName=DNS:{hostname}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
