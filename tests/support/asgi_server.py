"""A real ASGI server for tests: uvicorn in a subprocess, plus an SSE client for its stream.

Interface
---------

``AsgiServer(app, *, env=None, cwd=ROOT, factory=False, log_dir=None)``
    ``app`` is uvicorn's ``module:attribute``; ``factory=True`` when it names a callable
    that returns the application. ``env`` is the whole environment of the subprocess
    (build it with :func:`django_env`); ``cwd`` its working directory.

    ``.start(timeout=30)`` binds a free port on 127.0.0.1 in *this* process and hands the
    listening socket to uvicorn (``--fd``), so there is no race for the port; it returns
    once an HTTP request is answered. ``.url(path)`` → ``http://127.0.0.1:<port><path>``.
    ``.stop()`` sends SIGTERM to the process group (graceful shutdown is cut short after
    one second, open streams included) and SIGKILL if it is still alive after ten;
    ``.log()`` is uvicorn's output (the access log included). Usable as a context
    manager.

Two ways to run Django under it:

- the test settings against the test process's PostgreSQL database::

      env = django_env(connection.settings_dict["NAME"], {"REALTIME_BROKER": "redis", ...})
      server = AsgiServer(TEST_APP, env=env, factory=True).start()

  ``TEST_APP`` is :func:`django_application` below: ``tests.support.worker_settings`` (the test
  settings, the database name and the ``DJANGO_NOTIFY`` dict taken from the
  environment) with the loopback names added to ``ALLOWED_HOSTS``. The test process must
  use ``django_db(transaction=True)`` so the server sees its rows.

- the example project: ``AsgiServer("example.asgi:application", cwd=ROOT /
  "example_project", env={**os.environ, "DATABASE_URL": "postgres://…"})``.

Parallel runs sharing one Redis server set ``REALTIME_CHANNEL_PREFIX`` to something of
their own in the ``DJANGO_NOTIFY`` dict (Redis pub/sub ignores the database number).

``SseClient(url, headers=None, cookies=None)`` reads an event stream in a background
thread with httpx: ``.start()`` (waits for the response headers), ``.next(event=None,
timeout=5)`` → the next :class:`SseEvent` (of that type, skipping others), ``.events``
(everything received so far, heartbeat comments included as ``event == ":"``),
``.close()``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEST_APP = "tests.support.asgi_server:django_application"


def django_application():
    """uvicorn ``--factory`` entry point: the Django ASGI app on
    ``tests.support.worker_settings``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.worker_settings")
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    # The test settings run with DEBUG off and no ALLOWED_HOSTS (the test runner adds
    # "testserver" in-process); a real server is reached as 127.0.0.1.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"]
    return get_asgi_application()


def django_env(db_name: str, notify_settings: dict[str, Any], **extra: str) -> dict[str, str]:
    """The environment for :data:`TEST_APP` (and any ``tests.support.worker_settings`` process)."""
    path = os.pathsep.join(
        [str(ROOT), str(ROOT / "example_project"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return {
        **os.environ,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "tests.support.worker_settings",
        "NOTIFY_WORKER_DB_NAME": db_name,
        "NOTIFY_WORKER_DJANGO_NOTIFY": json.dumps(notify_settings),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class AsgiServer:
    def __init__(
        self,
        app: str,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | str = ROOT,
        factory: bool = False,
        log_dir: str | None = None,
    ) -> None:
        self.app = app
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd)
        self.factory = factory
        self.log_path = Path(tempfile.mkstemp(prefix="uvicorn-", suffix=".log", dir=log_dir)[1])
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 30) -> AsgiServer:
        import httpx

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        cmd = [
            sys.executable, "-m", "uvicorn", self.app, "--fd", str(sock.fileno()),
            "--lifespan", "off", "--loop", "asyncio", "--http", "h11",
            "--timeout-graceful-shutdown", "1", "--log-level", "info",
        ]  # fmt: skip
        if self.factory:
            cmd.append("--factory")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
                start_new_session=True,
            )
        sock.close()  # the child holds its own copy
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({self.proc.returncode}):\n{self.log()}")
            try:
                httpx.get(self.url("/"), timeout=1)
                return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not answer within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> AsgiServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- reading an event stream ---------------------------------------------------------------


@dataclass
class SseEvent:
    event: str  # "message" when the block has no event field; ":" for a comment
    data: Any = None  # the JSON of the data field, or the comment text
    id: str | None = None
    retry: int | None = None
    received_at: float = field(default_factory=time.perf_counter)


def parse_block(block: str) -> SseEvent | None:
    """One SSE block (the lines between blank lines) → an event; ``None`` if empty."""
    fields: dict[str, str] = {}
    comment = None
    for line in block.split("\n"):
        if not line:
            continue
        if line.startswith(":"):
            comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    if not fields:
        return SseEvent(":", comment) if comment is not None else None
    data = fields.get("data")
    return SseEvent(
        event=fields.get("event", "message"),
        data=json.loads(data) if data is not None else None,
        id=fields.get("id"),
        retry=int(fields["retry"]) if "retry" in fields else None,
    )


def parse_stream(text: str) -> list[SseEvent]:
    return [e for e in map(parse_block, text.replace("\r\n", "\n").split("\n\n")) if e]


class SseClient:
    def __init__(
        self, url: str, headers: dict[str, str] | None = None, cookies: dict | None = None
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.cookies = cookies or {}
        self.events: list[SseEvent] = []
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._queue: queue.Queue[SseEvent] = queue.Queue()
        self._ready = threading.Event()
        self._loop = None
        self._task = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 10) -> SseClient:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"no response headers from {self.url} within {timeout}s")
        if self.error is not None and self.status is None:
            raise self.error
        return self

    def _run(self) -> None:
        # An asyncio client in its own loop: close() cancels the read, which closes the
        # connection at once (a blocking read in another thread could not be woken).
        import asyncio

        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(self._read())
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self.error = exc
        finally:
            loop.close()
            self._ready.set()
            self.finished.set()

    async def _read(self) -> None:
        import httpx

        timeout = httpx.Timeout(5, read=None)
        async with httpx.AsyncClient(timeout=timeout, cookies=self.cookies) as client:
            async with client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                self.response_headers = dict(response.headers)
                self._ready.set()
                buffer = ""
                async for text in response.aiter_text():
                    buffer += text.replace("\r\n", "\n")
                    *blocks, buffer = buffer.split("\n\n")
                    for block in blocks:
                        event = parse_block(block)
                        if event is not None:
                            self.events.append(event)
                            self._queue.put(event)

    def next(self, event: str | None = None, timeout: float = 5) -> SseEvent:
        """The next event (of type ``event``), skipping heartbeats and other types."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=max(left, 0))
            except queue.Empty:
                raise AssertionError(
                    f"no {event or 'event'} within {timeout}s; got {self.events!r}"
                ) from None
            if item.event == ":" and event != ":":
                continue
            if event is None or item.event == event:
                return item

    def pending(self) -> list[SseEvent]:
        """Everything received but not yet taken with next()."""
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        """Drop the connection (the server sees a client disconnect)."""
        if not self.finished.is_set() and self._task is not None:
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # the loop closed meanwhile: the stream had ended
                pass
        self._thread.join(10)

    def __enter__(self) -> SseClient:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
