"""The example site's tour, run for real: ``check``, ``migrate`` and ``seed_demo`` (twice)
in subprocesses under ``example.settings``, then ``runserver`` on a free port with ``PORT``
set to it and no ``SITE_URL``, driven over HTTP as each demo login.

The database is a temporary SQLite file, or with ``NOTIFY_DB=postgres`` a PostgreSQL
database of its own (``<NOTIFY_PG_NAME>_tour``, created and dropped here). What the site
wrote is read back through ``manage.py shell`` in the site's own settings.

Each system of the tour: the landing page for anonymous visitors and every page each
stop names, as each of its logins; a portal announcement reaching every participant (one
bulk insert: the same number of queries for 3 participants as for 30); an alert raised
twice as one row with two occurrences, then resolved; a phase change, leave and a client
change reaching the people the rules name; the email's link on the server's port; the
unread count shown once; the staff user's admin link.
"""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import subprocess
import sys

import pytest
from demo.tour import TOUR

from tests.example_project.test_example_project import (
    EXAMPLE,
    Browser,
    _env,
    _manage,
    _postgres_database,
    _shell,
    _start_server,
    _stop_server,
)

USERNAMES = ("light", "dev", "orgadmin", "staff", "admin", "globex")
PARTICIPANTS = {"light", "dev", "orgadmin", "globex"}


# --- the site ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example_tour")
    env = _env(tmp / "db.sqlite3")
    for name in ("SITE_URL", "PORT", "EMAIL_BACKEND"):
        env.pop(name, None)  # the defaults: links from PORT, emails on the console
    drop = None
    if os.environ.get("NOTIFY_DB") == "postgres":
        env["DATABASE_URL"], drop = _postgres_database("tour")
    try:
        site = {"env": env, "check": _manage(env, "check")}
        _manage(env, "migrate", "--noinput")
        site["seed1"] = _manage(env, "seed_demo")
        site["state1"] = _state(env)
        site["seed2"] = _manage(env, "seed_demo")
        site["state2"] = _state(env)
        with open(tmp / "runserver.log", "w+") as log:
            proc, port = _start_server(env, log)
            site.update(port=port, base=f"http://127.0.0.1:{port}", log=log)
            try:
                yield site
            finally:
                _stop_server(proc)
            log.seek(0)
            output = log.read()
        assert "Traceback" not in output, f"the server logged an error:\n{output}"
    finally:
        if drop is not None:
            drop()


def _state(env) -> dict:
    return _shell(
        env,
        """
        import json
        from django.contrib.auth.models import Group
        from django_notify import get_notification_model
        from django_notify.models import PlatformAlert
        from django_notify.rules import SubscriptionRule
        from jobs.models import Job, LeaveRequest, Phase
        groups = {
            g.name: sorted(g.user_set.values_list("username", flat=True))
            for g in Group.objects.all()
        }
        perms = {
            g.name: g.permissions.count() for g in Group.objects.all()
        }
        print(json.dumps({
            "groups": groups, "perms": perms,
            "rules": SubscriptionRule.objects.count(), "jobs": Job.objects.count(),
            "phases": Phase.objects.count(), "leave": LeaveRequest.objects.count(),
            "alerts": PlatformAlert.objects.count(),
            "notifications": get_notification_model().objects.count(),
        }))
        """,
    )


def _login(tour, username: str) -> Browser:
    browser = Browser(tour["base"])
    browser.get("/")  # the landing page sets the CSRF cookie
    status, headers, _ = browser.post(
        "/accounts/login/", username=username, password="demo", next="/"
    )
    assert (status, headers["Location"]) == (302, "/"), username
    return browser


def _ok(browser: Browser, path: str) -> str:
    status, _, page = browser.get(path)
    assert status == 200, (path, status)
    return page


def _unread(page: str) -> int:
    """The unread count as the bell renders it (its data attribute holds the exact one)."""
    match = re.search(r'data-notify-unread="(\d+)"', page)
    assert match, "the page has no bell"
    return int(match.group(1))


def _feed_titles(browser: Browser) -> str:
    return _ok(browser, "/")


def _emails(output: str) -> list:
    """The messages the console email backend printed (each followed by a line of dashes)."""
    messages = []
    for chunk in output.split("-" * 79):
        # From the first header: Django 5.2 prints Content-Type before MIME-Version.
        found = [i for i in (chunk.find("Content-Type: "), chunk.find("MIME-Version: ")) if i >= 0]
        start = min(found, default=-1)
        if start != -1 and "\nSubject:" in chunk:
            messages.append(email.message_from_string(chunk[start:], policy=email.policy.default))
    return messages


def _recipients(env, type_key: str, title_contains: str) -> list[str]:
    return _shell(
        env,
        f"""
        import json
        from django_notify import get_notification_model
        rows = get_notification_model().objects.filter(
            notification_type={type_key!r}, title__contains={title_contains!r}
        )
        print(json.dumps({{"users": sorted(rows.values_list("recipient__username", flat=True))}}))
        """,
    )["users"]


# --- set-up -------------------------------------------------------------------------------------
def test_seeding_twice_adds_the_tour_data_once(tour):
    assert "System check identified no issues" in tour["check"]
    state = tour["state1"]
    assert state == tour["state2"], "a second seed_demo changed the data"
    assert state["groups"]["Portal participants"] == sorted(PARTICIPANTS)
    assert state["groups"]["Demo staff"] == ["admin", "staff"]
    assert state["perms"]["Demo staff"] == 13
    assert state["rules"] == 8
    assert "subscription rules: 8 (0 new)" in tour["seed2"]


# --- the landing page and the tour's pages ------------------------------------------------------
def test_anonymous_visitors_get_the_tour_and_the_login_form(tour):
    browser = Browser(tour["base"])
    for path in ("/", "/accounts/login/"):
        page = _ok(browser, path)
        assert 'name="username"' in page and 'name="password"' in page
        assert 'action="/accounts/login/"' in page
        for stop in TOUR:
            assert f'id="tour-{stop.key}"' in page
            assert html.escape(stop.title) in page
            for step in stop.steps:
                assert html.escape(step) in page
            for login in stop.logins:
                assert f"<code>{login}</code>" in page
        for username in USERNAMES:
            assert f"<code>{username}</code>" in page
        assert 'href="/channels/"' in page
        assert "in-process" in page and "docs/quickstart.md" in page
        assert "data-notify-bell" not in page
    # The tour's pages need a login.
    status, headers, _ = browser.get("/jobs/")
    assert status == 302 and headers["Location"].startswith("/accounts/login/")


def test_every_page_of_the_tour_opens_for_the_logins_it_names(tour):
    browsers = {}
    for stop in TOUR:
        for login in stop.logins:
            browser = browsers.get(login) or browsers.setdefault(login, _login(tour, login))
            for _label, path in stop.pages:
                page = _ok(browser, path)
                assert "data-notify-bell" in page, (login, path)
    # Everyone reaches the common pages; the alerts page is staff's alone.
    for username in USERNAMES:
        browser = browsers.get(username) or _login(tour, username)
        for path in ("/", "/jobs/", "/portal/", "/notifications/"):
            page = _ok(browser, path)
            assert 'id="live-note"' in page and "in-process" in page
        status = browser.get("/alerts/")[0]
        assert status == (200 if username in ("staff", "admin") else 403), username


def test_the_header_shows_the_unread_count_once(tour):
    page = _ok(_login(tour, "dev"), "/")
    unread = _unread(page)
    assert unread > 9
    assert page.count("data-notify-badge") == 1
    assert re.search(r"data-notify-badge[^>]*>9\+</span>", page)
    assert 'id="unread-count"' not in page and "Unread " not in page
    assert f"{unread} unread" in page  # the bell's accessible label, once
    assert page.count(f"{unread} unread") == 1


def test_the_staff_users_admin_link_works(tour):
    staff = _login(tour, "staff")
    page = _ok(staff, "/")
    assert 'id="admin-link" href="/admin/"' in page
    admin = _ok(staff, "/admin/")
    assert "permission to view or edit anything" not in admin
    for path in (
        "/admin/jobs/job/",
        "/admin/jobs/phase/",
        "/admin/jobs/leaverequest/",
        "/admin/portal/announcement/",
        "/admin/portal/announcement/add/",
        "/admin/django_notify/platformalert/",
        "/admin/django_notify/subscriptionrule/",
    ):
        assert f'href="{path}"' in admin or path.endswith("/add/"), path
        _ok(staff, path)
    # Non-staff users get no admin link.
    assert 'id="admin-link"' not in _ok(_login(tour, "dev"), "/")


# --- the portal ---------------------------------------------------------------------------------
def test_a_posted_announcement_notifies_every_participant(tour):
    readers = {name: _login(tour, name) for name in (*sorted(PARTICIPANTS), "staff", "admin")}
    before = {name: _unread(_ok(browser, "/")) for name, browser in readers.items()}

    # Only those with portal.add_announcement see the form, and may post.
    assert "Post to every participant" not in _ok(readers["dev"], "/portal/")
    assert readers["dev"].post("/portal/", title="Not mine to post")[0] == 403
    staff = readers["staff"]
    assert "Post to every participant" in _ok(staff, "/portal/")
    status, headers, _ = staff.post(
        "/portal/", title="Office closed on Friday", body="The office is closed on Friday."
    )
    assert (status, headers["Location"]) == (302, "/portal/")
    assert "4 participants notified" in _ok(staff, "/portal/")

    assert _recipients(tour["env"], "portal.announcement", "Office closed") == sorted(PARTICIPANTS)
    for name, browser in readers.items():
        page = _ok(browser, "/")
        if name in PARTICIPANTS:
            assert "Office closed on Friday" in page, name
            assert _unread(page) == before[name] + 1, name
        else:
            assert "Office closed on Friday" not in page, name
            assert _unread(page) == before[name], name

    # Saved in the admin: the same receiver, the same audience.
    status, headers, _ = staff.post(
        "/admin/portal/announcement/add/", title="Admin-made notice", body="", _save="Save"
    )
    assert status == 302, status
    assert _recipients(tour["env"], "portal.announcement", "Admin-made") == sorted(PARTICIPANTS)


def test_an_announcement_costs_the_same_queries_for_3_or_30_participants(tour):
    result = _shell(
        tour["env"],
        """
        import json
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext
        from portal.models import PARTICIPANTS_GROUP, Announcement

        class Undo(Exception):
            pass

        def post(extra):
            try:
                with transaction.atomic():
                    group = Group.objects.get(name=PARTICIPANTS_GROUP)
                    User = get_user_model()
                    group.user_set.add(*[
                        User.objects.create(username=f"reader{n}") for n in range(extra)
                    ])
                    author = User.objects.get(username="staff")
                    with CaptureQueriesContext(connection) as queries:
                        announcement = Announcement.objects.create(
                            title="Counted", created_by=author
                        )
                    rows = announcement.recipients().count()
                    raise Undo((len(queries), rows))
            except Undo as done:
                return done.args[0]

        post(0)  # the first one loads what every later one finds cached (content types)
        small, large = post(0), post(26)
        print(json.dumps({"small": small, "large": large}))
        """,
    )
    (small_queries, small_rows), (large_queries, large_rows) = result["small"], result["large"]
    assert (small_rows, large_rows) == (4, 30)
    assert small_queries == large_queries, result
    # The announcement's insert, the audience, the bulk insert and their bookkeeping.
    assert small_queries <= 15, result


# --- alerts -------------------------------------------------------------------------------------
def test_an_alert_raised_twice_is_one_row_with_two_occurrences_then_resolved(tour):
    staff = _login(tour, "staff")
    page = _ok(staff, "/alerts/")
    assert 'href="/notifications/?tab=alerts"' in page
    status, _, _ = staff.post("/alerts/", problem="disk")
    assert status == 302
    assert "Opened alert #" in _ok(staff, "/alerts/")
    staff.post("/alerts/", problem="disk")
    page = _ok(staff, "/alerts/")
    assert "occurred again: 2 occurrences, still one alert" in page

    code = """
        import json
        from django_notify.models import PlatformAlert
        rows = PlatformAlert.objects.filter(title="Disk usage above 85% on db-2")
        print(json.dumps([
            {"pk": a.pk, "count": a.occurrence_count, "resolved": a.is_resolved,
             "by": a.resolved_by.username if a.resolved_by else None}
            for a in rows
        ]))
    """
    (alert,) = _shell(tour["env"], code)
    assert (alert["count"], alert["resolved"]) == (2, False)
    row = re.search(rf'<tr id="alert-{alert["pk"]}">.*?</tr>', page, re.S).group(0)
    assert '<td class="occurrences">2</td>' in row

    # Resolved where the page links to: the admin's change form takes the notes.
    path = f"/admin/django_notify/platformalert/{alert['pk']}/change/"
    assert f'href="{path}"' in row
    status, _, _ = staff.post(path, resolution_notes="Grew the volume.", _save="Save")
    assert status == 302
    (alert,) = _shell(tour["env"], code)
    assert (alert["count"], alert["resolved"], alert["by"]) == (2, True, "staff")
    assert f'id="alert-{alert["pk"]}"' not in _ok(staff, "/alerts/")


# --- jobs: phases, leave, clients ---------------------------------------------------------------
def _job_page(browser: Browser) -> tuple[str, str]:
    page = _ok(browser, "/jobs/")
    job = re.search(r'href="/jobs/(\d+)/">Acme external pentest<', page).group(1)
    return job, _ok(browser, f"/jobs/{job}/")


def test_phase_leave_and_client_events_reach_the_people_the_rules_name(tour):
    users = {name: _login(tour, name) for name in ("staff", "dev", "orgadmin", "light")}
    job, page = _job_page(users["staff"])

    # A phase's status: its project lead (dev) hears about it, nobody else.
    phase = re.search(r'id="phase-(\d+)">\s*<strong>External infrastructure</strong>', page).group(
        1
    )
    assert f'action="/phases/{phase}/status/"' in page
    assert f'action="/phases/{phase}/status/"' not in _job_page(users["light"])[1]
    status, _, _ = users["light"].post(f"/phases/{phase}/status/", status="ready", next="/")
    assert status == 302
    status, headers, _ = users["staff"].post(
        f"/phases/{phase}/status/", status="in_progress", next=f"/jobs/{job}/"
    )
    assert (status, headers["Location"]) == (302, f"/jobs/{job}/")
    moved = "Phase Acme external pentest / External infrastructure moved from"
    assert _recipients(tour["env"], "phase.status_changed", moved) == ["dev"]
    assert f"{moved} Pending scheduling to In progress" in _feed_titles(users["dev"])
    assert "In progress" in _ok(users["staff"], f"/jobs/{job}/")

    # Leave: dev reports it, the job's account manager and deputy hear.
    status, headers, _ = users["dev"].post(
        f"/jobs/{job}/leave/", first_day="2026-12-21", last_day="2026-12-24"
    )
    assert (status, headers["Location"]) == (302, f"/jobs/{job}/")
    leave_text = "dev, 21 Dec to 24 Dec 2026 (Acme external pentest)"
    assert _recipients(tour["env"], "leave.submitted", leave_text) == ["orgadmin", "staff"]
    assert f"Leave request {leave_text} submitted" in _feed_titles(users["orgadmin"])
    # A last day before the first is a form error, never a row.
    status, _, page = users["dev"].post(
        f"/jobs/{job}/leave/", first_day="2026-12-24", last_day="2026-12-21"
    )
    assert status == 200 and "The last day cannot be before the first day." in page

    # Only the account managers decide; the decision goes to dev, in the bell and by email.
    page = _ok(users["orgadmin"], f"/jobs/{job}/")
    leave = re.search(r'action="/leave/(\d+)/decide/"', page).group(1)
    users["light"].post(f"/leave/{leave}/decide/", decision="approved")
    assert _recipients(tour["env"], "leave.approved", leave_text) == []
    status, _, _ = users["orgadmin"].post(f"/leave/{leave}/decide/", decision="approved")
    assert status == 302
    assert _recipients(tour["env"], "leave.approved", leave_text) == ["dev"]
    assert f"Leave request {leave_text} approved" in _feed_titles(users["dev"])

    # The email (console backend: the server's output) links to the port it runs on.
    tour["log"].seek(0)
    (mail,) = [m for m in _emails(tour["log"].read()) if m["Subject"].endswith("approved")]
    assert mail["To"] == "dev@example.com"
    assert mail["Subject"].strip() == f"Leave request {leave_text} approved"
    text = mail.get_body(("plain",)).get_content()
    assert f"http://127.0.0.1:{tour['port']}/jobs/{job}/#leave-{leave}" in text
    assert "127.0.0.1:8000" not in mail.get_body(("html",)).get_content()

    # A client change: the account manager (orgadmin) and the primary contact (dev).
    status, _, _ = users["light"].post(f"/jobs/{job}/client-renewal/")
    assert status == 302
    assert _recipients(tour["env"], "client.onboarding_renewal", "Acme") == []
    status, _, _ = users["staff"].post(f"/jobs/{job}/client-renewal/")
    assert status == 302
    assert _recipients(tour["env"], "client.onboarding_renewal", "Acme") == ["dev", "orgadmin"]
    assert "Onboarding of client Acme needs renewal" in _feed_titles(users["dev"])
    assert "Onboarding of client Acme needs renewal" not in _feed_titles(users["light"])


# --- the link base of emails -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"PORT": "8123", "SITE_URL": "https://demo.example"}, "https://demo.example"),
    ],
)
def test_emails_link_to_the_port_the_demo_runs_on(tmp_path, environ, expected):
    env = _env(tmp_path / "db.sqlite3")
    for name in ("SITE_URL", "PORT"):
        env.pop(name, None)
    env.update(environ)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import example.settings as s; print(s.DJANGO_NOTIFY['SITE_URL'])",
        ],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_scripts_demo_passes_its_port_to_the_settings():
    script = (EXAMPLE.parent / "scripts" / "demo").read_text()
    assert 'export PORT="$port"' in script
    assert script.index('export PORT="$port"') < script.index("manage.py seed_demo")
