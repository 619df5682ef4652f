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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from django_notify.realtime.brokers import reset_brokers
from tests.support.asgi_server import ROOT, AsgiServer
from tests.support.notify_settings import notify_override
from tests.support.services import (  # noqa: F401 - missing is re-exported
    REDIS_URL,
    missing,
    redis_client,
    require_postgres_for,
)

try:  # the browser tox env installs it; without it the browser tests skip (or fail, if required)
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

EXAMPLE = ROOT / "example_project"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_IMAGES = ROOT / "docs" / "img"
VIEWPORT = {"width": 1280, "height": 800}


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


def axe_script() -> str:
    """axe-core's own ``axe.min.js`` as the axe-playwright-python package ships it: read
    from disk, so nothing is fetched while the tests run."""
    try:
        import axe_playwright_python
    except ImportError:
        missing("axe-core is not installed (pip install axe-playwright-python)")
    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text("utf-8")


def axe_violations(
    page, *, context: str | None = None, skip: tuple = (), impacts=("serious", "critical")
) -> list:
    """axe-core's violations of ``impacts`` on the page as it is now (or inside the
    ``context`` selector), one short line per rule with the elements it names; the rules
    in ``skip`` are not run."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_script())
    options = {"resultTypes": ["violations"], "rules": {rule: {"enabled": False} for rule in skip}}
    results = page.evaluate(
        "([context, options]) => axe.run(context || document, options)", [context, options]
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}: "
        + "; ".join(
            f"{' '.join(map(str, node['target']))} [{node.get('failureSummary', '').strip()}]"
            for node in violation["nodes"][:6]
        )
        for violation in results["violations"]
        if violation["impact"] in impacts
    ]


# --- the fixtures and helpers the browser test modules share ------------------------------
# A module imports the fixtures (site_fixture, each_browser_test, and wsgi_site_fixture
# if it uses it); each module starts its own servers and browser, once.


@dataclass
class Site:
    browser: object
    asgi: object
    env: dict
    prefix: str
    log_dir: str
    wsgi: WsgiServer | None = None
    contexts: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)

    def logs(self) -> str:
        parts = [f"===== uvicorn =====\n{self.asgi.log()[-8000:]}"]
        if self.wsgi is not None:
            parts.append(f"===== runserver =====\n{self.wsgi.log()[-8000:]}")
        return "\n".join(parts)


@pytest.fixture(scope="module", name="site")
def site_fixture(django_db_setup, tmp_path_factory):
    require_postgres_for("the browser tests")
    if sync_playwright is None:
        missing("Playwright for Python is not installed (pip install playwright)")
    executable = chromium_path()
    check_redis()

    prefix = f"notify-browser-{uuid.uuid4().hex[:10]}"
    env = site_env(connection.settings_dict, settings.SECRET_KEY, prefix)
    log_dir = str(tmp_path_factory.mktemp("servers"))
    server = asgi_site(env, log_dir)
    # Playwright's sync API keeps its event loop marked as running in this thread, and
    # Django then refuses every ORM call as "async unsafe". Nothing here shares a
    # connection with that loop (it only talks to the browser), so the calls are safe.
    patch = pytest.MonkeyPatch()
    patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        server.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            site = Site(browser, server, env, prefix, log_dir)
            try:
                yield site
            finally:
                browser.close()
                if site.wsgi is not None:
                    site.wsgi.stop()
    finally:
        server.stop()
        patch.undo()


@pytest.fixture(name="wsgi_site")
def wsgi_site_fixture(site):
    """The same site under WSGI with a one-second poll, started on first use."""
    if site.wsgi is None:
        site.wsgi = WsgiServer({**site.env, "NOTIFY_POLL_INTERVAL": "1"}, site.log_dir).start()
    return site.wsgi


@pytest.fixture(autouse=True)
def each_browser_test(require_postgres, site, request):
    """This process publishes where the site listens; each test's browser contexts are
    closed before its rows are flushed; a failing test prints the servers' logs."""
    reset_brokers()
    failed_before = request.session.testsfailed
    errors = site.page_errors = []
    with notify_override(**publishing_settings(site.prefix)):
        yield
    for context in site.contexts:
        context.close()
    site.contexts.clear()
    reset_brokers()
    if request.session.testsfailed > failed_before:
        print(site.logs())
    # An uncaught exception in the widget or the pages fails the test that caused it.
    assert errors == [], errors


def new_page(site: Site, user=None, *, base: str | None = None, **context_options):
    """A fresh browser context (own cookies and storage), signed in as ``user`` unless
    None, with the observers of OBSERVER_SCRIPT. ``context_options`` go to Playwright's
    ``new_context`` (``viewport``, ``color_scheme``, ``forced_colors``)."""
    context_options.setdefault("viewport", VIEWPORT)
    context = site.browser.new_context(base_url=base or site.asgi.url(""), **context_options)
    site.contexts.append(context)
    context.add_init_script(OBSERVER_SCRIPT)
    if user is not None:
        client = Client()
        client.force_login(user)  # a committed session row, signed with the shared key
        name = settings.SESSION_COOKIE_NAME
        context.add_cookies(
            [{"name": name, "value": client.cookies[name].value, "url": base or site.asgi.url()}]
        )
    page = context.new_page()
    page.on("pageerror", lambda error: site.page_errors.append(str(error)))
    return page


def visit(page, path: str = "/", *, stream: bool = True):
    """Go to ``path`` and wait for the widget; with ``stream`` until the stream's first
    ``count`` event, sent once the server's Redis subscription is confirmed."""
    page.goto(path)
    page.wait_for_function("() => window.DjangoNotify && window.DjangoNotify.ready")
    if stream:
        page.wait_for_function(
            "() => window.__notify.streamEvents.some((event) => event.name === 'count')"
        )
    return page
