"""The notification centre in a real browser: Debian's headless Chromium, driven by
Playwright, on the example site served by uvicorn (ASGI: the event stream) and, for the
polling fallback, by ``runserver`` (WSGI), both on this process's PostgreSQL test
database with the Redis broker (wiring in tests/support/browser_support.py).

Every test is one user's journey through the real pages, scripts and styles: logging in,
the badge, the dropdown by mouse and keyboard, following a notification, marking all
read, a notification committed by another process arriving live, polling under WSGI,
storm protection, the notification centre (stats, filters, infinite scroll, bulk read,
dismiss, alerts), the preferences page, text that looks like HTML, and the bell in the
Django admin. Assertions are Playwright's auto-waiting ``expect``: no fixed sleeps.
Screenshots go to test-artifacts/screenshots/ (``NOTIFY_DOCS_SCREENSHOTS=1`` refreshes
docs/img/ too).

Needs PostgreSQL (``NOTIFY_DB=postgres``), Redis at ``NOTIFY_REDIS_URL`` and Chromium
(``NOTIFY_CHROMIUM`` or /usr/bin/chromium); skipped without them, failed instead when
``NOTIFY_REQUIRE_SERVICES=1``. Run with ``pytest -m browser``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import time as clock
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import transaction
from django.utils import timezone

from django_notify import Priority, notify
from django_notify.models import NotificationPreference, PlatformAlert, RecipientSettings

try:  # the browser tox env installs it; without it these tests skip (or fail, if required)
    from playwright.sync_api import expect
except ImportError:
    expect = None

from tests.support.browser_support import (  # noqa: F401 - the fixtures
    EXAMPLE,
    Site,
    each_browser_test,
    new_page,
    screenshot,
    site_fixture,
    visit,
    wsgi_site_fixture,
)

pytestmark = pytest.mark.browser
#: The servers must see the rows the tests commit, and on-commit publishing must run.
live_db = pytest.mark.django_db(transaction=True)

#: Generous ceilings for auto-waiting assertions; they return as soon as the page is right.
LIVE = 5_000  # ms: an event pushed through Redis and the stream
POLL = 8_000  # ms: POLL_INTERVAL (1 s) plus a request, with room for a loaded machine


def bell(page):
    return page.locator("[data-notify-bell]").first


def toggle(page):
    return bell(page).locator("[data-notify-toggle]")


def open_menu(page):
    """Open the bell's menu and wait for the list it fetches on opening. Until that
    arrives the rows shown are the server-rendered ones, which the list replaces; a
    click that lands just as they are replaced reaches no row."""
    toggle(page).click()
    page.evaluate("() => window.DjangoNotify.refresh()")


def badge(page):
    return bell(page).locator("[data-notify-badge]")


def dropdown(page):
    return bell(page).locator("[data-notify-dropdown]")


def menu_items(page):
    return bell(page).get_by_role("menuitem")


def unread(user) -> int:
    from django_notify import get_notification_model

    return get_notification_model().objects.unread_count(user)


def feed(user, count: int, title: str = "Notification", **content) -> list:
    """``count`` notifications for ``user``, oldest first, a minute apart."""
    return [sent(user, f"{title} {i + 1}", minutes_ago=count - i, **content) for i in range(count)]


def sent(user, title: str, *, minutes_ago: float = 0, **content):
    """One notification, backdated (trusted ``created_at``) for a readable timeline."""
    (row,) = notify(
        [user],
        title=title,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        **content,
    )
    return row


def report(request, line: str) -> None:
    """A figure in the run's output. The terminal reporter writes to the captured stdout
    while a test runs, so capturing is suspended for the line."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n{line}")


# --- logging in, the badge and the dropdown ---------------------------------------------------


@live_db
def test_log_in_see_the_badge_and_open_the_dropdown_with_the_mouse(site, make_user):
    ada = make_user(username="ada")
    # The site checks passwords with its own (default) hashers, not the tests' MD5.
    ada.password = make_password("correct horse", hasher=PBKDF2PasswordHasher())
    ada.save(update_fields=["password"])
    sent(ada, "Nightly build passed", minutes_ago=180, priority=Priority.LOW)
    sent(ada, "Welcome to the notification centre", minutes_ago=150)
    sent(ada, "Job ACME pentest moved to In progress", minutes_ago=95)
    read = sent(ada, "Quarterly report is ready", minutes_ago=60, body="Q3 figures.")
    read.mark_read(ada)
    sent(ada, "Disk space on db-1 below 10%", minutes_ago=25, priority=Priority.HIGH)
    sent(
        ada,
        "Payment provider unreachable",
        minutes_ago=4,
        priority=Priority.CRITICAL,
        body="<p>Card payments fail since 06:12 UTC.</p>",
    )
    sent(ada, "Bob commented on your report", minutes_ago=1, body="Looks good, one question.")

    page = new_page(site)
    page.goto("/")
    # Before logging in, the home page is the demo's tour with the login form.
    expect(page.get_by_role("heading", name="What to try")).to_be_visible()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(site.asgi.url("/"))
    visit(page, "/")

    expect(badge(page)).to_be_visible()
    expect(badge(page)).to_have_text("6")
    expect(toggle(page)).to_have_attribute("aria-label", "Notifications, 6 unread")
    expect(toggle(page)).to_have_attribute("aria-expanded", "false")
    expect(dropdown(page)).to_be_hidden()
    screenshot(page, "bell", docs=True, clip={"x": 0, "y": 0, "width": 1280, "height": 60})

    toggle(page).click()
    expect(dropdown(page)).to_be_visible()
    expect(toggle(page)).to_have_attribute("aria-expanded", "true")
    expect(bell(page).get_by_role("menu")).to_be_visible()
    items = menu_items(page)
    # The latest five, newest first; the read one is not highlighted.
    expect(items).to_have_count(5)
    expect(items.locator(".notify-item__title")).to_have_text(
        [
            "Bob commented on your report",
            "Payment provider unreachable",
            "Disk space on db-1 below 10%",
            "Quarterly report is ready",
            "Job ACME pentest moved to In progress",
        ]
    )
    for index in (0, 1, 2, 4):
        expect(items.nth(index)).to_have_class(re.compile(r"\bnotify-item--unread\b"))
    expect(items.nth(3)).not_to_have_class(re.compile(r"\bnotify-item--unread\b"))
    # Priority colour coding, as the stylesheet paints it (the left edge).
    expect(items.nth(1)).to_have_class(re.compile(r"\bnotify-priority-critical\b"))
    expect(items.nth(2)).to_have_class(re.compile(r"\bnotify-priority-high\b"))
    expect(items.nth(0)).to_have_class(re.compile(r"\bnotify-priority-normal\b"))
    expect(items.nth(1)).to_have_css("border-left-color", "rgb(220, 38, 38)")
    expect(items.nth(2)).to_have_css("border-left-color", "rgb(245, 158, 11)")
    expect(items.nth(0)).to_have_css("border-left-color", "rgb(37, 99, 235)")
    expect(items.nth(3)).not_to_have_css("background-color", "rgb(239, 246, 255)")
    expect(items.nth(0)).to_have_css("background-color", "rgb(239, 246, 255)")
    expect(items.nth(1).locator(".notify-pill--critical")).to_have_text(
        re.compile("critical", re.I)
    )
    # The description is shown as plain text, never as its HTML.
    expect(items.nth(1).locator(".notify-item__text")).to_have_text(
        "Card payments fail since 06:12 UTC."
    )
    screenshot(page, "dropdown", docs=True, clip={"x": 560, "y": 0, "width": 720, "height": 640})

    # A click outside closes it.
    page.locator("main").click(position={"x": 5, "y": 5})
    expect(dropdown(page)).to_be_hidden()
    expect(toggle(page)).to_have_attribute("aria-expanded", "false")


@live_db
def test_more_than_nine_unread_shows_9_plus_and_reads_elsewhere_update_it_live(site, make_user):
    ada = make_user(username="ada")
    rows = feed(ada, 12)
    page = visit(new_page(site, ada))
    expect(badge(page)).to_have_text("9+")
    expect(toggle(page)).to_have_attribute("aria-label", "Notifications, 12 unread")

    # Read in another tab (here: this process), pushed through the stream.
    with transaction.atomic():
        for row in rows[:3]:
            row.mark_read(ada)
    expect(badge(page)).to_have_text("9", timeout=LIVE)
    expect(toggle(page)).to_have_attribute("aria-label", "Notifications, 9 unread")


@live_db
def test_the_dropdown_works_from_the_keyboard(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 3, url="/jobs/")
    page = visit(new_page(site, ada))
    items = menu_items(page)

    toggle(page).focus()
    page.keyboard.press("Enter")
    expect(dropdown(page)).to_be_visible()
    expect(toggle(page)).to_have_attribute("aria-expanded", "true")
    expect(items.first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # wraps around
    expect(items.first).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.last).to_be_focused()
    page.keyboard.press("Home")
    expect(items.first).to_be_focused()
    # Roving tabindex: only the focused item is in the tab order.
    expect(items.first).to_have_attribute("tabindex", "0")
    expect(items.nth(1)).to_have_attribute("tabindex", "-1")

    page.keyboard.press("Escape")
    expect(dropdown(page)).to_be_hidden()
    expect(toggle(page)).to_be_focused()
    expect(toggle(page)).to_have_attribute("aria-expanded", "false")

    # ArrowUp on the closed bell opens it on the last item.
    page.keyboard.press("ArrowUp")
    expect(dropdown(page)).to_be_visible()
    expect(items.last).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle(page)).to_be_focused()

    # ArrowDown on the closed bell opens it too; Enter on an item follows it.
    page.keyboard.press("ArrowDown")
    expect(dropdown(page)).to_be_visible()
    expect(items.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.asgi.url("/jobs/"))
    expect(badge(page)).to_have_text("2")
    assert unread(ada) == 2


@live_db
def test_a_list_landing_between_press_and_release_does_not_swallow_the_click(
    site, make_user, Notification
):
    """The menu's list can land while a row is pressed (a new row arrived, a poll came
    back). Rendering it then would replace the row under the pointer and the release
    would reach no row: the list waits for the click, which opens the row pressed."""
    ada = make_user(username="ada")
    pressed = sent(ada, "Deploy of web-3 finished", url="/jobs/")
    page = visit(new_page(site, ada))
    open_menu(page)
    box = menu_items(page).filter(has_text="Deploy of web-3 finished").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # Newer, so first in the list that now lands: rendered at once, it would put this
    # row under the pointer.
    sent(ada, "Backup of db-1 failed")
    page.evaluate("() => window.DjangoNotify.refresh()")
    page.mouse.up()
    expect(page).to_have_url(site.asgi.url("/jobs/"))
    assert Notification.objects.visible_to(ada).get(pk=pressed.pk).user_read_at is not None
    open_menu(page)  # on the page it led to, the newer row is listed too
    expect(menu_items(page).first).to_contain_text("Backup of db-1 failed")


@live_db
def test_clicking_a_notification_lands_on_its_link_with_the_badge_decremented(
    site, make_user, Notification
):
    from jobs.models import Job
    from organizations.models import Membership

    ada = make_user(username="ada")
    org = Membership.objects.get(user=ada).organization
    job = Job.objects.create(title="ACME external pentest", organization=org)
    job_url = f"/jobs/{job.pk}/"  # the site's job-detail route (not in the tests' URLconf)
    baseline = unread(ada)  # whatever the job's own hooks sent
    target = sent(ada, "Scope of ACME external pentest signed off", url=job_url, target=job)
    action = sent(
        ada,
        "Approve the leave request of Bob",
        action_required=True,
        action_url="/jobs/",
        priority=Priority.HIGH,
    )
    page = visit(new_page(site, ada))
    expect(badge(page)).to_have_text(str(baseline + 2))

    open_menu(page)
    menu_items(page).filter(has_text="Scope of ACME external pentest").click()
    expect(page).to_have_url(site.asgi.url(job_url))
    expect(page.get_by_role("heading", name="ACME external pentest")).to_be_visible()
    expect(badge(page)).to_have_text(str(baseline + 1))
    assert Notification.objects.visible_to(ada).get(pk=target.pk).user_read_at is not None

    # A notification with only an action_url goes there.
    visit(page, page.url)
    open_menu(page)
    item = menu_items(page).filter(has_text="Approve the leave request")
    expect(item).to_have_attribute("href", "/jobs/")
    item.click()
    expect(page).to_have_url(site.asgi.url("/jobs/"))
    if baseline:
        expect(badge(page)).to_have_text(str(baseline))
    else:
        expect(badge(page)).to_be_hidden()
    assert unread(ada) == baseline
    assert Notification.objects.visible_to(ada).get(pk=action.pk).user_read_at is not None


@live_db
def test_mark_all_read_hides_the_badge_here_and_in_another_tab(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 4)
    page = visit(new_page(site, ada))
    # The same user in another browser, on another page.
    elsewhere = visit(new_page(site, ada), "/jobs/")
    expect(badge(page)).to_have_text("4")
    expect(badge(elsewhere)).to_have_text("4")
    toggle(page).click()
    expect(menu_items(page)).to_have_count(4)
    mark_all = bell(page).get_by_role("button", name="Mark all read")
    mark_all.click()
    expect(badge(page)).to_be_hidden()
    expect(toggle(page)).to_have_attribute("aria-label", "Notifications")
    expect(bell(page).locator(".notify-item--unread")).to_have_count(0)
    expect(mark_all).to_be_disabled()
    assert unread(ada) == 0
    # The other tab heard it through the stream.
    expect(badge(elsewhere)).to_be_hidden(timeout=LIVE)
    expect(toggle(elsewhere)).to_have_attribute("aria-label", "Notifications")
    # Stays so after a reload: the server agrees.
    visit(page, "/")
    expect(badge(page)).to_be_hidden()


# --- live updates ------------------------------------------------------------------------


SEND_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import transaction
from django_notify import notify

user = get_user_model().objects.get(pk=int(sys.argv[1]))
committed = []
with transaction.atomic():
    # Registered first, so it runs first on commit: the clock starts at the commit.
    transaction.on_commit(lambda: committed.append(time.time()))
    (row,) = notify([user], title=sys.argv[2], body=sys.argv[3])
print(json.dumps({"id": row.pk, "committed_at": committed[0]}))
"""


def send_from_another_process(site: Site, user, title: str, body: str = "") -> dict:
    """``notify()`` in a separate Python process of the site (a script, a worker)."""
    done = subprocess.run(
        [sys.executable, "-c", SEND_SCRIPT, str(user.pk), title, body],
        cwd=EXAMPLE,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@live_db
def test_a_notification_sent_by_another_process_appears_live_through_the_stream(
    site, make_user, request
):
    ada = make_user(username="ada")
    feed(ada, 1)
    page = visit(new_page(site, ada))
    assert page.evaluate("DjangoNotify.mode") == "stream"
    expect(badge(page)).to_have_text("1")
    toggle(page).click()
    expect(menu_items(page)).to_have_count(1)
    page.evaluate("window.__samePage = true")  # gone if the page reloaded

    sent_row = send_from_another_process(site, ada, "Deploy of web-3 finished", "All green.")
    expect(badge(page)).to_have_text("2", timeout=LIVE)
    toast = page.locator("[data-notify-toasts] .notify-toast", has_text="Deploy of web-3 finished")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("All green.")
    # The open dropdown shows it too, first.
    expect(menu_items(page).first).to_contain_text("Deploy of web-3 finished")
    expect(menu_items(page).first).to_have_attribute("data-notify-id", str(sent_row["id"]))
    assert page.evaluate("window.__samePage") is True

    arrived_at = page.evaluate(
        "() => window.__notify.streamEvents.find((event) => event.name === 'notification').at"
    )
    latency = arrived_at / 1000 - sent_row["committed_at"]
    report(
        request,
        f"browser SSE latency: commit in another process -> event in Chromium "
        f"{latency * 1000:.0f} ms",
    )
    assert latency < 2.0, latency


@live_db
def test_under_wsgi_the_widget_polls_and_still_shows_new_notifications(
    site, wsgi_site, make_user, request
):
    ada = make_user(username="ada")
    feed(ada, 1)
    page = new_page(site, ada, base=wsgi_site.url(""))
    streams = []
    page.on(
        "response",
        lambda response: "/notifications/stream/" in response.url and streams.append(response),
    )
    with page.expect_response(re.compile(r"/api/notifications/recent/")):
        visit(page, "/", stream=False)  # the first poll: the widget's baseline
    page.wait_for_function("() => window.DjangoNotify.mode === 'polling'")
    assert [r.status for r in streams] == [204]
    assert streams[0].headers["x-notify-stream"] == "unavailable"
    page.evaluate("window.__samePage = true")

    started = time.time()
    (row,) = notify([ada], title="Invoice #1042 was paid", body="By ACME Corp.")
    expect(badge(page)).to_have_text("2", timeout=POLL)
    toast = page.locator("[data-notify-toasts] .notify-toast", has_text="Invoice #1042 was paid")
    expect(toast).to_be_visible()
    assert page.evaluate("window.__samePage") is True
    seen_at = page.evaluate(
        "(id) => window.__notify.events.find((e) => e.name === 'notification' && e.id === id).at",
        row.pk,
    )
    report(
        request,
        f"polling fallback (WSGI, POLL_INTERVAL=1): commit -> notification event in Chromium "
        f"{seen_at / 1000 - started:.2f} s",
    )


@live_db
def test_a_storm_of_eight_becomes_one_summary_toast(site, make_user):
    ada = make_user(username="ada")
    page = visit(new_page(site, ada))
    with transaction.atomic():
        for n in range(8):
            notify([ada], title=f"Build {n + 1} failed", priority=Priority.HIGH)
    expect(badge(page)).to_have_text("8", timeout=LIVE)
    toasts = page.locator("[data-notify-toasts] .notify-toast")
    summary = toasts.filter(has_text="8 new notifications")
    expect(summary).to_have_count(1)
    expect(summary).to_have_class(re.compile(r"\bnotify-toast--summary\b"))
    # The first arrivals' single toasts (if any got shown) gave way to the summary.
    expect(toasts).to_have_count(1)
    made = page.evaluate("window.__notify.toasts")
    assert [t["summary"] for t in made].count(True) == 1, made
    assert page.evaluate("window.__notify.events.filter((e) => e.name === 'storm').length") == 1

    # Clicking the summary opens the bell on the newest.
    summary.get_by_role("button", name="8 new notifications").click()
    expect(dropdown(page)).to_be_visible()
    expect(menu_items(page)).to_have_count(5)
    expect(menu_items(page).first).to_contain_text("Build 8 failed")


# --- the notification centre ---------------------------------------------------------------


@live_db
def test_the_notification_centre_stats_filters_and_infinite_scroll(site, make_user):
    ada = make_user(username="ada")
    now = timezone.now()
    titles = []
    for i in range(25):
        priority = Priority.HIGH if i % 6 == 0 else Priority.NORMAL
        title = f"Report {i + 1} is ready" if priority == Priority.NORMAL else f"Alert {i + 1}"
        row = sent(
            ada,
            title,
            minutes_ago=(25 - i) * 7,
            priority=priority,
            action_required=(i in (20, 22)),
            action_url="/jobs/" if i in (20, 22) else "",
        )
        if i < 3:
            row.mark_read(ada)
        titles.append(title)
    assert (timezone.now() - now).total_seconds() < 60

    page = new_page(site, ada)
    list_requests = []
    page.on(
        "request",
        lambda r: re.search(r"/api/notifications/(\?|$)", r.url) and list_requests.append(r.url),
    )
    visit(page, "/notifications/")
    rows = page.locator("[data-notify-rows] > .notify-row")
    stat = page.locator("[data-notify-stats]")
    expect(stat.locator('[data-notify-stat="unread"]')).to_have_text("22")
    expect(stat.locator('[data-notify-stat="total"]')).to_have_text("25")
    expect(stat.locator('[data-notify-stat="action_required"]')).to_have_text("2")
    # Not staff: no alert cards, no tabs.
    expect(page.locator("[data-notify-alert-stat]")).to_have_count(0)
    expect(page.get_by_role("tablist")).to_have_count(0)
    # The first page (API_PAGE_SIZE = 20), newest first.
    expect(rows).to_have_count(20)
    expect(rows.first.locator(".notify-row__title")).to_have_text(titles[-1])
    expect(rows.locator(".notify-pill--action")).to_have_count(2)
    expect(rows.first.get_by_role("link", name="Take action")).to_have_count(0)
    screenshot(page, "page", docs=True)

    # Scrolling to the end loads the next page through next_cursor.
    page.mouse.wheel(0, 20_000)
    expect(rows).to_have_count(25)
    expect(rows.last.locator(".notify-row__title")).to_have_text(titles[0])
    expect(page.locator("[data-notify-more]")).to_be_hidden()
    assert any("cursor=" in url for url in list_requests), list_requests
    expect(rows.last).to_have_class(re.compile(r"\bnotify-priority-high\b"))
    expect(rows.last).not_to_have_class(re.compile(r"\bnotify-row--unread\b"))

    # Filter by priority: only the high ones, kept in the address bar.
    page.get_by_label("Priority").select_option("high")
    expect(rows).to_have_count(5)
    for index in range(5):
        expect(rows.nth(index)).to_have_class(re.compile(r"\bnotify-priority-high\b"))
    expect(page).to_have_url(re.compile(r"\?priority=high$"))
    page.get_by_label("Show").select_option("unread")
    expect(rows).to_have_count(4)  # "Alert 1" was read
    expect(page).to_have_url(re.compile(r"\?priority=high&state=unread$"))
    # A reload keeps the filters.
    visit(page, page.url)
    expect(page.get_by_label("Priority")).to_have_value("high")
    expect(rows).to_have_count(4)


@live_db
def test_the_notification_centre_bulk_mark_read_and_dismiss(site, make_user, Notification):
    ada = make_user(username="ada")
    rows_made = [sent(ada, f"Ticket #{100 + i} updated", minutes_ago=10 - i) for i in range(5)]
    page = visit(new_page(site, ada), "/notifications/")
    rows = page.locator("[data-notify-rows] > .notify-row")
    expect(rows).to_have_count(5)
    unread_stat = page.locator('[data-notify-stat="unread"]')
    expect(unread_stat).to_have_text("5")

    # Bulk: select two rows, mark them read.
    page.get_by_label("Select: Ticket #104 updated").check()
    page.get_by_label("Select: Ticket #103 updated").check()
    expect(page.locator("[data-notify-selection]")).to_have_text("2 selected")
    page.get_by_role("button", name="Mark selected read").click()
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bnotify-row--unread\b"))
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bnotify-row--unread\b"))
    expect(rows.nth(2)).to_have_class(re.compile(r"\bnotify-row--unread\b"))
    expect(unread_stat).to_have_text("3")
    expect(badge(page)).to_have_text("3")
    expect(page.locator("[data-notify-selection]")).to_have_text("")
    assert unread(ada) == 3

    # The bell agrees (its list is refreshed by the read event of the stream).
    toggle(page).click()
    expect(menu_items(page).filter(has_text="Ticket #104 updated")).not_to_have_class(
        re.compile(r"\bnotify-item--unread\b")
    )
    expect(menu_items(page).filter(has_text="Ticket #102 updated")).to_have_class(
        re.compile(r"\bnotify-item--unread\b")
    )
    page.keyboard.press("Escape")

    # Select all, then the whole page.
    page.get_by_label("Select all").check()
    expect(page.locator("[data-notify-selection]")).to_have_text("5 selected")
    page.get_by_label("Select all").uncheck()
    expect(page.get_by_role("button", name="Mark selected read")).to_be_disabled()

    # Dismiss one: it leaves the list, the stats and the feed.
    victim = rows.filter(has_text="Ticket #102 updated")
    victim.get_by_role("button", name="Dismiss").click()
    expect(victim).to_have_count(0)
    expect(rows).to_have_count(4)
    expect(page.locator('[data-notify-stat="total"]')).to_have_text("4")
    expect(unread_stat).to_have_text("2")
    expect(badge(page)).to_have_text("2")
    assert not Notification.objects.visible_to(ada).filter(pk=rows_made[2].pk).exists()
    # The bell's list forgot it too.
    with page.expect_response(re.compile(r"/api/notifications/recent/")):
        toggle(page).click()
    expect(menu_items(page)).to_have_count(4)
    expect(menu_items(page).filter(has_text="Ticket #102 updated")).to_have_count(0)
    page.keyboard.press("Escape")

    # Mark unread again, one row.
    first = rows.filter(has_text="Ticket #104 updated")
    first.get_by_role("button", name="Mark unread").click()
    expect(first).to_have_class(re.compile(r"\bnotify-row--unread\b"))
    expect(first.get_by_role("button", name="Mark read")).to_be_visible()
    expect(badge(page)).to_have_text("3")
    expect(unread_stat).to_have_text("3")

    # A read made elsewhere (another tab, a script) is applied in place.
    with transaction.atomic():
        rows_made[0].mark_read(ada)
    expect(rows.filter(has_text="Ticket #100 updated")).not_to_have_class(
        re.compile(r"\bnotify-row--unread\b"), timeout=LIVE
    )
    expect(unread_stat).to_have_text("2")

    # A new arrival is announced, not spliced into what the user is reading.
    sent(ada, "Ticket #105 opened")
    show_new = page.get_by_role("button", name="1 new notification: show")
    expect(show_new).to_be_visible(timeout=LIVE)
    expect(rows).to_have_count(4)
    show_new.click()
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Ticket #105 opened")
    expect(show_new).to_be_hidden()

    # "Mark all read" on the page: every row, the stats and the bell.
    page.locator("[data-notify-page-mark-all]").click()
    expect(page.locator("[data-notify-rows] > .notify-row--unread")).to_have_count(0)
    expect(unread_stat).to_have_text("0")
    expect(badge(page)).to_be_hidden()
    assert unread(ada) == 0

    visit(page, "/notifications/")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="Ticket #102 updated")).to_have_count(0)


@live_db
def test_staff_resolve_an_alert_on_the_alerts_tab(site, make_user):
    from django_notify import alerts

    staff = make_user(staff=True, username="opsstaff")
    feed(staff, 2)
    disk, _ = alerts.raise_alert(
        "capacity", "warning", "Disk usage above 85% on db-1", "Volume /var/lib/pg at 87%.",
        affected_systems=["db-1"],
    )  # fmt: skip
    alerts.raise_alert("capacity", "warning", "Disk usage above 85% on db-1")  # occurs again
    alerts.raise_alert("security", "critical", "Repeated failed admin logins", "From 203.0.113.7")

    page = visit(new_page(site, staff), "/notifications/")
    expect(page.locator('[data-notify-alert-stat="active"]')).to_have_text("2")
    expect(page.locator('[data-notify-alert-stat="critical"]')).to_have_text("1")
    expect(page.locator('[data-notify-alert-stat="resolved_today"]')).to_have_text("0")
    # The tabs work from the keyboard (arrow keys) as well as with the mouse.
    page.get_by_role("tab", name="Notifications").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Alerts")).to_be_focused()
    expect(page.get_by_role("tab", name="Alerts")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Notifications")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Alerts").click()
    expect(page.get_by_role("tab", name="Alerts")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Notifications")).to_have_attribute(
        "aria-selected", "false"
    )
    expect(page).to_have_url(re.compile(r"\?tab=alerts$"))
    panel = page.get_by_role("tabpanel")
    alert_rows = panel.locator("[data-notify-alert-rows] > .notify-alert")
    expect(alert_rows).to_have_count(2)
    row = alert_rows.filter(has_text="Disk usage above 85% on db-1")
    expect(row.locator(".notify-alert__count")).to_have_text("×2")
    expect(row).to_contain_text("systems: db-1")

    row.get_by_label("Resolution notes for Disk usage above 85% on db-1").fill(
        "Old WAL files removed."
    )
    row.get_by_role("button", name="Resolve").click()
    resolved = panel.locator(f'[data-notify-alert="{disk.pk}"]')
    expect(resolved.locator(".notify-alert__resolution")).to_contain_text("by opsstaff")
    expect(resolved.locator(".notify-alert__notes")).to_have_text("Old WAL files removed.")
    expect(resolved.get_by_role("button", name="Resolve")).to_have_count(0)
    expect(page.locator('[data-notify-alert-stat="active"]')).to_have_text("1")
    expect(page.locator('[data-notify-alert-stat="resolved_today"]')).to_have_text("1")
    disk = PlatformAlert.objects.get(pk=disk.pk)
    assert disk.is_resolved and disk.resolved_by_id == staff.pk
    assert disk.resolution_notes == "Old WAL files removed."


# --- preferences ---------------------------------------------------------------------------


def flip(switch) -> None:
    """Click a switch where a user does: its visible track (the label); the checkbox
    under it is transparent."""
    switch.locator("xpath=ancestor::label[1]").click()


@live_db
def test_preferences_save_show_field_errors_and_reset(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 1)
    page = visit(new_page(site, ada), "/notifications/preferences/")
    screenshot(page, "preferences", docs=True)
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[data-notify-saved]")).to_have_text("Nothing to save.")
    created_in_app = page.get_by_role("switch", name="In-app: Job Created")
    status_email = page.get_by_role("switch", name="Email: Job Status Change")
    status_frequency = page.get_by_label("Email frequency: Job Status Change")
    expect(created_in_app).to_be_checked()
    expect(status_email).not_to_be_checked()
    expect(status_frequency).to_be_disabled()
    # A required channel is on and locked.
    expect(
        page.get_by_role("switch", name="Email: Sign-in from a new device (required)")
    ).to_be_disabled()

    flip(created_in_app)
    expect(created_in_app).not_to_be_checked()
    flip(status_email)
    expect(status_email).to_be_checked()
    expect(status_frequency).to_be_enabled()
    status_frequency.select_option("daily")
    page.get_by_label("From", exact=True).fill("22:00")
    page.get_by_label("Until", exact=True).fill("07:00")
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[data-notify-saved]")).to_have_text("Preferences saved.")

    own = {
        (p.notification_type, p.channel): (p.enabled, p.frequency)
        for p in NotificationPreference.objects.filter(user=ada)
    }
    assert own == {
        ("job.created", "in_app"): (False, ""),
        ("job.status_changed", "email"): (True, "daily"),
    }, own
    stored = RecipientSettings.objects.get(user=ada)
    assert (stored.quiet_hours_start, stored.quiet_hours_end) == (clock(22), clock(7))
    assert stored.timezone == "Europe/Paris"

    # The page shows what was stored after a reload.
    visit(page, page.url)
    expect(created_in_app).not_to_be_checked()
    expect(status_email).to_be_checked()
    expect(status_frequency).to_have_value("daily")
    expect(page.get_by_label("Until", exact=True)).to_have_value("07:00")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")

    # A bad value: quiet hours with a start and no end.
    page.get_by_label("Until", exact=True).fill("")
    page.get_by_role("button", name="Save preferences").click()
    error = page.locator('[data-notify-error-for="quiet_hours"]')
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.get_by_label("Until", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-notify-saved]")).to_have_text("")
    stored.refresh_from_db()
    assert stored.quiet_hours_end == clock(7)  # nothing changed

    # Reset: the switches go back to the defaults; quiet hours and time zone stay.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset to defaults").click()
    expect(page.locator("[data-notify-saved]")).to_have_text("Preferences reset to the defaults.")
    expect(created_in_app).to_be_checked()
    expect(status_email).not_to_be_checked()
    expect(status_frequency).to_be_disabled()
    expect(page.locator('[data-notify-error-for="quiet_hours"]')).to_be_hidden()
    assert not NotificationPreference.objects.filter(user=ada).exists()
    stored.refresh_from_db()
    assert stored.timezone == "Europe/Paris" and stored.quiet_hours_start == clock(22)


@live_db
def test_a_quiet_hours_error_marks_and_focuses_only_the_field_it_names(site, make_user):
    ada = make_user(username="ada")
    page = visit(new_page(site, ada), "/notifications/preferences/")
    start = page.get_by_label("From", exact=True)
    end = page.get_by_label("Until", exact=True)
    start.fill("22:00")  # and no end
    with page.expect_response(re.compile(r"/api/preferences/$")) as answer:
        page.get_by_role("button", name="Save preferences").click()
    assert answer.value.status == 400
    assert list(answer.value.json()["error"]["fields"]) == ["quiet_hours.end"]
    expect(page.locator('[data-notify-error-for="quiet_hours"]')).to_be_visible()
    expect(end).to_have_attribute("aria-invalid", "true")
    # Focus moves as soon as the answer is shown: a short wait keeps the expected
    # failure cheap.
    expect(end).to_be_focused(timeout=2_000)
    expect(start).not_to_have_attribute("aria-invalid", "true", timeout=2_000)


# --- text that looks like HTML -------------------------------------------------------------


XSS = "<img src=x onerror=window.__pwned=1>"


@live_db
def test_notification_text_that_looks_like_html_stays_text(site, make_user):
    ada = make_user(username="ada")
    notify(
        [ada],
        title=XSS,
        body='<b>bold</b><script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">',
    )
    page = visit(new_page(site, ada))
    # The server-rendered dropdown (the template), still closed …
    expect(bell(page).locator("[data-notify-menu] .notify-item__title")).to_have_text(XSS)
    # … and as the widget re-renders it from the API's JSON when it opens.
    with page.expect_response(re.compile(r"/api/notifications/recent/")):
        toggle(page).click()
    expect(menu_items(page).first.locator(".notify-item__title")).to_have_text(XSS)
    expect(bell(page).locator("img")).to_have_count(0)

    # Live: a toast built from the stream + API.
    notify([ada], title=f"again {XSS}")
    toast = page.locator("[data-notify-toasts] .notify-toast", has_text="again")
    expect(toast.locator(".notify-toast__title")).to_have_text(f"again {XSS}")
    expect(page.locator("[data-notify-toasts] img")).to_have_count(0)
    expect(menu_items(page).first.locator(".notify-item__title")).to_have_text(f"again {XSS}")

    # The notification centre: the title as text, the sanitised description as HTML.
    visit(page, "/notifications/")
    rows = page.locator("[data-notify-rows] > .notify-row")
    expect(rows).to_have_count(2)
    expect(rows.last.locator(".notify-row__title")).to_have_text(XSS)
    body = rows.last.locator(".notify-row__body")
    expect(body.locator("b")).to_have_text("bold")
    expect(body.locator("script, img")).to_have_count(0)
    expect(page.locator("[data-notify-rows] img, [data-notify-rows] script")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"


# --- the Django admin ------------------------------------------------------------------------


@live_db
def test_the_bell_in_the_django_admin_header(site, make_user):
    root = make_user(staff=True, superuser=True, username="root")
    feed(root, 2, url="/admin/")
    page = visit(new_page(site, root), "/admin/")
    header = page.locator("#header")
    admin_bell = header.locator("[data-notify-bell]")
    expect(admin_bell).to_be_visible()
    expect(admin_bell.locator("[data-notify-badge]")).to_have_text("2")
    admin_bell.locator("[data-notify-toggle]").click()
    expect(admin_bell.locator("[data-notify-dropdown]")).to_be_visible()
    expect(admin_bell.get_by_role("menuitem")).to_have_count(2)
    screenshot(page, "admin", clip={"x": 160, "y": 0, "width": 1120, "height": 420})
    page.keyboard.press("Escape")
    expect(admin_bell.locator("[data-notify-dropdown]")).to_be_hidden()
    expect(admin_bell.locator("[data-notify-toggle]")).to_be_focused()
    # The admin's own user tools are still there, after the bell.
    expect(header.locator("#user-tools")).to_contain_text("root")
