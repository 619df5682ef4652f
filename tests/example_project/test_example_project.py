"""The example site, run for real the way a newcomer runs it.

``manage.py check``, ``migrate`` and ``seed_demo`` (twice) in subprocesses under
``example.settings`` with a temporary SQLite file, then ``runserver --noreload`` on a
free loopback port, driven over HTTP with a cookie jar: log in, read the feed, mark a
row read, page back with the keyset link, and get a refusal shown as a form error; then
change a job's status on the jobs page and find it in the account manager's feed.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from contextlib import closing
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest
from django.core.exceptions import ImproperlyConfigured

import django_notify

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
TABLES = (
    "auth_user",
    "organizations_organization",
    "organizations_team",
    "organizations_membership",
    "django_notify_notification",
    "django_notify_notificationreceipt",
)


def _env(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_DEBUG")}
    # The subprocesses import django_notify from wherever this process does (an
    # installed package, or src/ on PYTHONPATH), whatever their working directory.
    package_root = str(Path(django_notify.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.update(
        DJANGO_SETTINGS_MODULE="example.settings",
        EXAMPLE_DB_PATH=str(db_path),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{output}"
    return output


def _shell(env: dict[str, str], code: str) -> dict:
    """Run ``code`` in the site's settings (``manage.py shell``); it prints one JSON line."""
    output = _manage(env, "shell", "--no-imports", "-c", textwrap.dedent(code))
    return json.loads(output.strip().splitlines()[-1])


def _counts(db_path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db_path)) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(env: dict[str, str], log) -> tuple[subprocess.Popen, int]:
    """runserver (threaded, as scripts/demo runs it) on a free port, with PORT set to it
    as scripts/demo does; retried if another process grabs the port first."""
    output = ""
    for _attempt in range(3):
        port = _free_port()
        log.seek(0)
        log.truncate()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=EXAMPLE,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proc, port
            except OSError:
                time.sleep(0.1)
        _stop_server(proc)
        log.seek(0)
        output = log.read()
        if "already in use" not in output:
            break
    pytest.fail(f"runserver did not start:\n{output}")


def _postgres_database(label: str):
    """A fresh PostgreSQL database for a site of its own, and the function that drops it."""
    import psycopg

    base = os.environ.get("NOTIFY_PG_NAME", "notify").replace("-", "_").replace(".", "_")
    name = f"{base}_{label}_{uuid.uuid4().hex[:6]}"
    host = os.environ.get("NOTIFY_PG_HOST", "127.0.0.1")
    port = os.environ.get("NOTIFY_PG_PORT", "5432")
    user = os.environ.get("NOTIFY_PG_USER", "postgres")
    admin = f"host={host} port={port} user={user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgres://{user}@{host}:{port}/{name}", drop


def _stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # surface the 302 itself


class Browser:
    """A tiny HTTP client with cookies and Django's CSRF token, following no redirects."""

    def __init__(self, base: str):
        self.base = base
        self.jar = CookieJar()
        self.opener = build_opener(HTTPCookieProcessor(self.jar), _NoRedirect)

    def csrf_token(self) -> str:
        return next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")

    def request(self, path: str, data: dict | None = None) -> tuple[int, dict, str]:
        body = None
        if data is not None:
            body = urlencode({"csrfmiddlewaretoken": self.csrf_token(), **data}).encode()
        try:
            with self.opener.open(Request(self.base + path, data=body), timeout=15) as response:
                return response.status, response.headers, response.read().decode()
        except HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def get(self, path: str) -> tuple[int, dict, str]:
        return self.request(path)

    def post(self, path: str, **data) -> tuple[int, dict, str]:
        return self.request(path, data)


def _unread(page: str) -> int:
    match = re.search(r'data-notify-unread="(\d+)"', page)
    assert match, "the header's bell shows no unread count"
    return int(match.group(1))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example project, checked, migrated, seeded twice and served."""
    tmp = tmp_path_factory.mktemp("example_project")
    db_path = tmp / "db.sqlite3"
    env = _env(db_path)
    result = {"db": db_path}
    result["check"] = _manage(env, "check")
    _manage(env, "migrate", "--noinput")
    result["seed1"] = _manage(env, "seed_demo")
    result["counts1"] = _counts(db_path)
    result["seed2"] = _manage(env, "seed_demo")
    result["counts2"] = _counts(db_path)
    with open(tmp / "runserver.log", "w+") as log:
        proc, port = _start_server(env, log)
        result["base"] = f"http://127.0.0.1:{port}"
        try:
            yield result
        finally:
            _stop_server(proc)
        log.seek(0)
        output = log.read()
    assert "Traceback" not in output, f"the server logged an error:\n{output}"


def test_check_migrate_and_seed_are_idempotent(site):
    assert "System check identified no issues" in site["check"]
    for username in ("light", "dev", "orgadmin", "staff", "admin", "globex"):
        assert re.search(rf"^\s+{username}\s", site["seed1"], re.M), site["seed1"]
    assert 'password "demo"' in site["seed1"]
    counts = site["counts1"]
    assert counts["auth_user"] == 6
    assert counts["organizations_organization"] == 2
    assert counts["organizations_team"] == 3
    assert counts["django_notify_notification"] > 20
    assert site["counts2"] == counts, "a second seed_demo changed the data"
    assert "0 notifications created" in site["seed2"]


def test_home_shows_the_tour_and_the_login_form_before_logging_in(site):
    browser = Browser(site["base"])
    for path in ("/", "/accounts/login/"):
        status, _, page = browser.get(path)
        assert status == 200
        assert "Log in" in page and "globex" in page and "What to try" in page
    status, headers, _ = browser.get("/jobs/")
    assert status == 302
    assert headers["Location"].startswith("/accounts/login/")


def test_dev_reads_pages_marks_and_is_refused(site):
    browser = Browser(site["base"])
    browser.get("/accounts/login/")
    status, headers, _ = browser.post("/accounts/login/", username="dev", password="demo", next="/")
    assert (status, headers["Location"]) == (302, "/")

    status, _, page = browser.get("/")
    assert status == 200
    assert "Model review required" in page  # team row (Research)
    assert "Welcome to Acme" in page  # organization-global row
    assert "Planned maintenance tonight" in page  # system-global row
    assert "Dataset ready" in page  # direct row
    assert "Deploy freeze from Friday" not in page  # Ops: shared with dev, not a member
    unread = _unread(page)
    assert unread > 0

    # The keyset "older" link leads to the rest of the feed.
    older = re.search(r'id="older" href="([^"]+)"', page)
    assert older, "dev has more than one page of notifications"
    status, _, older_page = browser.get("/" + html.unescape(older.group(1)))
    assert status == 200
    assert "Nightly build #76 passed" in older_page
    assert "Nightly build #76 passed" not in page

    # Mark read is POST-only and drops the unread count by one.
    action = re.search(r'action="(/notifications/\d+/read/)"', page).group(1)
    assert browser.get(action)[0] == 405
    status, headers, _ = browser.post(action, next="/")
    assert (status, headers["Location"]) == (302, "/")
    assert _unread(browser.get("/")[2]) == unread - 1

    # Dismiss hides the row; a double submit is a quiet no-op, not an error page.
    dismiss = action.replace("/read/", "/dismiss/")
    for _ in range(2):
        status, headers, _ = browser.post(dismiss, next="/")
        assert (status, headers["Location"]) == (302, "/")
    page = browser.get("/")[2]
    assert "no longer in your feed" not in page
    assert f'action="{dismiss}"' not in page
    # Another user's row is not theirs to touch: a notice, never a 500.
    status, headers, _ = browser.post("/notifications/999999/dismiss/", next="/")
    assert (status, headers["Location"]) == (302, "/")
    assert "That notification is no longer in your feed." in browser.get("/")[2]

    # A send to another organization's user is refused on the form, not with a 500.
    globex = re.search(r'<option value="(\d+)">globex \(Globex\)</option>', page).group(1)
    before = _counts(site["db"])["django_notify_notification"]
    status, _, page = browser.post(
        "/send/",
        title="Hello Globex",
        description="",
        level="IN",
        priority="20",
        target="user",
        user=globex,
    )
    assert status == 200
    assert "organization.same_organization_user" in page
    assert "Targeted users must belong to the sender" in page
    assert _counts(site["db"])["django_notify_notification"] == before

    # Bad input is a form error too; a permitted send lands in the feed.
    status, _, page = browser.post("/send/", title="", level="IN", priority="20", target="self")
    assert status == 200 and "This field is required." in page
    status, headers, _ = browser.post(
        "/send/", title="Note to self", level="IN", priority="20", target="self"
    )
    assert (status, headers["Location"]) == (302, "/")
    page = browser.get("/")[2]
    assert "Note to self" in page
    assert _unread(page) == unread


def _login(site, username: str) -> Browser:
    browser = Browser(site["base"])
    browser.get("/accounts/login/")
    status, _, _ = browser.post("/accounts/login/", username=username, password="demo", next="/")
    assert status == 302
    return browser


def test_a_job_status_change_reaches_the_account_manager(site):
    assert "Jobs: 2 (2 new)" in site["seed1"] and "Jobs: 2 (0 new)" in site["seed2"]
    # dev may see the jobs but not change them: a message, never a 500.
    dev = _login(site, "dev")
    status, _, page = dev.get("/jobs/")
    assert status == 200 and 'id="jobs-link"' in page
    job = re.search(r'href="/jobs/(\d+)/">Acme external pentest<', page).group(1)
    assert f'action="/jobs/{job}/status/"' not in page
    status, headers, _ = dev.post(f"/jobs/{job}/status/", status="in_progress", next="/jobs/")
    assert (status, headers["Location"]) == (302, "/jobs/")
    page = dev.get("/jobs/")[2]
    assert "Only staff or the account manager of Acme external pentest" in page
    assert dev.get(f"/jobs/{job}/")[0] == 200

    # staff may: the save's hook emits job.status_changed, the rule notifies orgadmin.
    staff = _login(site, "staff")
    assert f'action="/jobs/{job}/status/"' in staff.get("/jobs/")[2]
    status, headers, _ = staff.post(f"/jobs/{job}/status/", status="in_progress", next="/jobs/")
    assert (status, headers["Location"]) == (302, "/jobs/")
    moved = "Job Acme external pentest moved from Pending scoping to In progress"
    assert moved in staff.get("/jobs/")[2]  # the success message; staff is the deputy too

    page = _login(site, "orgadmin").get("/")[2]
    assert moved in page
    assert f'href="/jobs/{job}/"' in page
    assert moved not in dev.get("/")[2]


def test_database_url_is_parsed_without_dependencies():
    from example.settings import database_from_url

    config = database_from_url("postgres://app:p%40ss@db.internal:6543/notify?sslmode=require")
    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "notify",
        "USER": "app",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }
    assert database_from_url("postgresql:///notify")["HOST"] == ""
    assert database_from_url("sqlite:////tmp/x.db")["NAME"] == "/tmp/x.db"
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://localhost/notify")
