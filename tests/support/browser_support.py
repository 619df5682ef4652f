"""The browser tests' peers: the example site under uvicorn (ASGI, the event stream) and
under ``runserver`` (WSGI, the polling fallback), both on this process's PostgreSQL test
database, and Debian's Chromium driven by Playwright.

Wiring
------
The test process creates the test database (pytest-django) and starts the servers with
``example.settings`` and the environment of :func:`site_env`:

- ``DATABASE_URL`` names the *test* database, so the servers read the rows the tests
  commit (``django_db(transaction=True)``);
- ``DJANGO_SECRET_KEY`` is the test settings' key, so a session made here with
  ``Client.force_login`` (its data and the user's session hash are signed with it) is
  valid there: tests that are not about logging in skip the login form;
- ``NOTIFY_REALTIME_BROKER=redis`` with a per-run ``NOTIFY_REALTIME_CHANNEL_PREFIX``:
  the test process installs the same broker with ``override_settings`` (see
  :func:`publishing_settings`), so what it commits reaches the open pages, and parallel
  runs sharing one Redis do not hear each other.

Chromium is Debian's ``/usr/bin/chromium`` (``NOTIFY_CHROMIUM`` overrides the path);
Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from tests.support.asgi_server import ROOT, AsgiServer
from tests.support.services import REDIS_URL, missing, redis_client  # noqa: F401 - missing is re-exported

EXAMPLE = ROOT / "example_project"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_IMAGES = ROOT / "docs" / "img"


def chromium_path() -> str:
    path = os.environ.get("NOTIFY_CHROMIUM") or "/usr/bin/chromium"
    found = shutil.which(path)
    if not found:
        missing(f"no Chromium at {path} (apt-get install chromium, or set NOTIFY_CHROMIUM)")
    return found


def check_redis() -> None:
    redis_client().close()


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def site_env(settings_dict: dict, secret_key: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of the example site's processes (servers and scripts)."""
    import django_notify

    package_root = str(Path(django_notify.__file__).resolve().parents[1])
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "EXAMPLE_DB_PATH") and not k.startswith("NOTIFY_")
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        DJANGO_SETTINGS_MODULE="example.settings",
        DATABASE_URL=database_url(settings_dict),
        DJANGO_SECRET_KEY=secret_key,
        DJANGO_DEBUG="1",  # the example serves the widget's static files only in DEBUG
        NOTIFY_REALTIME_BROKER="redis",
        NOTIFY_REDIS_URL=REDIS_URL,
        NOTIFY_REALTIME_CHANNEL_PREFIX=prefix,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


def publishing_settings(prefix: str) -> dict:
    """The ``DJANGO_NOTIFY`` keys that make the test process publish where the site
    listens (merged into its own with ``notify_override``)."""
    return {
        "REALTIME_BROKER": "redis",
        "REDIS_URL": REDIS_URL,
        "REALTIME_CHANNEL_PREFIX": prefix,
    }


class WsgiServer:
    """``manage.py runserver --noreload`` of the example site: Django's WSGI dev server,
    under which the event stream answers 204 and the widget polls."""

    def __init__(self, env: dict[str, str], log_dir: str | None = None) -> None:
        self.env = env
        self.log_path = Path(tempfile.mkstemp(prefix="runserver-", suffix=".log", dir=log_dir)[1])
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 30) -> WsgiServer:
        # runserver binds the port itself: take a free one and retry if another process
        # grabbed it in between (rare).
        for _attempt in range(3):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            if self._run(timeout):
                return self
        raise RuntimeError(f"runserver did not start:\n{self.log()}")

    def _run(self, timeout: float) -> bool:
        import httpx

        cmd = [
            sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}",
            "--noreload", "--skip-checks",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=EXAMPLE,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                httpx.get(self.url("/accounts/login/"), timeout=1)
                return True
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)


def asgi_site(env: dict[str, str], log_dir: str | None = None) -> AsgiServer:
    """The example site's ASGI application under uvicorn (tests/support/asgi_server.py)."""
    return AsgiServer("example.asgi:application", cwd=EXAMPLE, env=env, log_dir=log_dir)


#: Installed in every page before its scripts run. Observers only: they record what the
#: widget did (events, toasts, stream events) so the tests can assert on it afterwards;
#: nothing the widget sees changes.
OBSERVER_SCRIPT = """
(() => {
  window.__notify = {events: [], toasts: [], streamEvents: [], loads: 1};
  for (const name of ["notification", "read", "dismissed", "count", "storm"]) {
    document.addEventListener("notify:" + name, (event) => {
      window.__notify.events.push({name, at: Date.now(), id: event.detail && event.detail.id});
    });
  }
  const Native = window.EventSource;
  if (Native) {
    // A subclass, so EventSource.CLOSED and the rest stay what the widget expects.
    window.EventSource = class extends Native {
      constructor(url, init) {
        super(url, init);
        for (const name of ["count", "notification", "read", "dismissed"]) {
          this.addEventListener(name, (event) => {
            window.__notify.streamEvents.push({name, at: Date.now(), data: event.data});
          });
        }
      }
    };
  }
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType === 1 && node.classList.contains("notify-toast")) {
          window.__notify.toasts.push({
            summary: node.classList.contains("notify-toast--summary"),
            text: node.textContent,
            at: Date.now(),
          });
        }
      }
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""


def screenshot(page, name: str, *, docs: bool = False, **options) -> Path:
    """Save a PNG under test-artifacts/screenshots/ (kept by CI). The ``docs`` ones are
    copied to docs/img/ too when ``NOTIFY_DOCS_SCREENSHOTS=1``: refreshing the docs'
    pictures is a decision, not a side effect of every run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide", **options)
    if docs and os.environ.get("NOTIFY_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)
    return path
