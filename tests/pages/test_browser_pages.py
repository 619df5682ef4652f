"""The widget and the notification centre page in Debian's headless Chromium, on the
example site (uvicorn, PostgreSQL, the Redis broker; wiring in
tests/support/browser_support.py), for three things users hit in a real browser:

- toasts stay clear of the controls under them (a row's "Mark read", an open dropdown),
  pause while hovered, and close on Escape or a click;
- one DOM event, ``django-notify:changed``, keeps the bell and the page in step both
  ways, for actions, changes from elsewhere and arrivals;
- the page's filters (both tabs) live in the query string: reload, Back/Forward and a bad
  value in a shared link.

Needs PostgreSQL (``NOTIFY_DB=postgres``), Redis and Chromium; run with ``-m browser``.
Assertions are Playwright's auto-waiting ``expect``; the one fixed wait is the hover test's,
which must outlast the toast's timeout to show that it did not run out.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from django_notify import Priority, alerts, get_notification_model, notify

try:  # the browser tox env installs it; without it these tests skip (or fail, if required)
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:
    expect = None
    PlaywrightTimeoutError = TimeoutError

from tests.example_project import conftest as example
from tests.support.browser_support import (  # noqa: F401 - the fixtures
    each_browser_test,
    new_page,
    screenshot,
    site_fixture,
    visit,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The example site's tenancy and users (its organizations app), as its own tests use.
_example_tenancy = example._example_tenancy
make_org = example.make_org
make_user = example.make_user

LIVE = 5_000  # ms: an event pushed through Redis and the stream

#: Records every django-notify:changed event, and sets widget options before notify.js
#: reads them (window.DjangoNotify = {options}).
RECORD_CHANGES = """
window.__changed = [];
document.addEventListener("django-notify:changed", (event) => {
  window.__changed.push(event.detail);
});
"""


def options_script(**options) -> str:
    import json

    return f"window.DjangoNotify = {{options: {json.dumps(options)}}};"


def sent(user, title: str, *, minutes_ago: float = 0, **content):
    (row,) = notify(
        [user], title=title, created_at=timezone.now() - timedelta(minutes=minutes_ago), **content
    )
    return row


def feed(user, count: int, title: str = "Notification", **content) -> list:
    return [sent(user, f"{title} {i + 1}", minutes_ago=count - i, **content) for i in range(count)]


def open_page(site, user, path: str = "/notifications/", *, viewport=None, **options):
    page = new_page(site, user, **({"viewport": viewport} if viewport else {}))
    page.context.add_init_script(RECORD_CHANGES + options_script(**options))
    return visit(page, path)


def toasts(page):
    return page.locator("[data-notify-toasts] .notify-toast")


#: The box of the toast region as it is, and where it sat before toasts learnt to move:
#: the bottom-right corner, 1rem from the edges.
REGION_BOXES = """
() => {
  const region = document.querySelector("[data-notify-toasts]");
  const box = region.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  const height = document.documentElement.clientHeight;
  const corner = {
    left: width - 16 - box.width, right: width - 16,
    top: height - 16 - box.height, bottom: height - 16,
  };
  return {
    now: {left: box.left, right: box.right, top: box.top, bottom: box.bottom},
    corner,
  };
}
"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and a["right"] > b["left"]
        and a["top"] < b["bottom"]
        and (a["bottom"] > b["top"])
    )


def box_of(locator) -> dict:
    box = locator.bounding_box()
    return {
        "left": box["x"],
        "right": box["x"] + box["width"],
        "top": box["y"],
        "bottom": box["y"] + box["height"],
    }


def hit(page, locator) -> bool:
    """Whether a click at the centre of ``locator`` lands on it (elementFromPoint)."""
    return locator.evaluate(
        """(node) => {
          const box = node.getBoundingClientRect();
          const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
          return node === top || node.contains(top);
        }"""
    )


# --- 1. toasts do not cover what the user reaches for ----------------------------------------


def test_a_toast_leaves_the_mark_read_button_under_its_corner_clickable(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 14)
    page = open_page(site, ada, toastTimeout=0)  # the toast stays for the whole test
    rows = page.locator("[data-notify-rows] > .notify-row")
    expect(rows).to_have_count(14)

    sent(ada, "Deploy of web-3 finished", body="All green.")
    expect(toasts(page).filter(has_text="Deploy of web-3 finished")).to_be_visible(timeout=LIVE)
    # Bring a row's "Mark read" into the corner where toasts used to sit.
    target = rows.nth(6)
    button = target.get_by_role("button", name="Mark read")
    button.evaluate(
        "(node) => window.scrollBy(0, node.getBoundingClientRect().bottom - (innerHeight - 30))"
    )
    boxes = page.evaluate(REGION_BOXES)
    assert overlap(box_of(button), boxes["corner"]), "the button is not where the toast was"
    # The stack moved off it (placement follows the scroll on the next frame).
    page.wait_for_function(
        """(button) => {
          const a = button.getBoundingClientRect();
          const b = document.querySelector("[data-notify-toasts]").getBoundingClientRect();
          return !(a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top);
        }""",
        arg=button.element_handle(),
    )
    expect(toasts(page)).to_be_visible()
    assert hit(page, button)
    screenshot(page, "toast-beside-row-buttons")
    # No force: Playwright refuses the click if anything else would receive it.
    button.click(timeout=3_000)
    expect(target).to_have_attribute("data-notify-read", "true")
    # And no other control in view is under the toast.
    covered = page.evaluate(
        """() => {
          const region = document.querySelector("[data-notify-toasts]").getBoundingClientRect();
          return Array.from(document.querySelectorAll("a[href], button, input, select"))
            .filter((node) => !node.closest("[data-notify-toasts]"))
            .map((node) => node.getBoundingClientRect())
            .filter((b) => b.width && b.height && b.left < region.right && b.right > region.left
              && b.top < region.bottom && b.bottom > region.top).length;
        }"""
    )
    assert covered == 0


def test_a_toast_stays_off_the_open_dropdown(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 5)
    # A short window: the dropdown reaches down into the toasts' corner.
    page = open_page(site, ada, viewport={"width": 1280, "height": 480}, toastTimeout=0)
    page.locator("[data-notify-toggle]").first.click()
    dropdown = page.locator("[data-notify-dropdown]").first
    expect(dropdown.get_by_role("menuitem")).to_have_count(5)

    sent(ada, "Invoice #1042 was paid")
    expect(toasts(page)).to_have_count(1, timeout=LIVE)
    expect(dropdown).to_be_visible()
    expect(dropdown.get_by_role("menuitem").first).to_contain_text("Invoice #1042 was paid")
    boxes = page.evaluate(REGION_BOXES)
    assert overlap(box_of(dropdown), boxes["corner"]), "the dropdown does not reach the corner"
    page.wait_for_function(
        """() => {
          const a = document.querySelector("[data-notify-dropdown]").getBoundingClientRect();
          const b = document.querySelector("[data-notify-toasts]").getBoundingClientRect();
          return !(a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top);
        }"""
    )
    last = dropdown.get_by_role("menuitem").last
    assert hit(page, last)
    screenshot(page, "toast-beside-dropdown")


def test_a_hovered_toast_waits_and_escape_or_a_click_closes_toasts(site, make_user):
    ada = make_user(username="ada")
    page = open_page(site, ada, toastTimeout=3_000)

    sent(ada, "Hover me")
    toast = toasts(page).filter(has_text="Hover me")
    expect(toast).to_be_visible(timeout=LIVE)
    toast.hover()
    expect(toast).to_have_attribute("data-notify-paused", "")
    page.wait_for_timeout(4_000)  # longer than its timeout: it would have gone by now
    expect(toast).to_be_visible()
    page.mouse.move(5, 5)
    expect(toast).to_have_count(0, timeout=5_000)  # the rest of its time, then gone

    # From here toasts stay until closed, so only Escape or a click can remove them.
    page.evaluate("DjangoNotify.configure({toastTimeout: 0})")
    sent(ada, "Escape me")
    expect(toasts(page).filter(has_text="Escape me")).to_be_visible(timeout=LIVE)
    page.keyboard.press("Escape")
    expect(toasts(page)).to_have_count(0)

    # A message toast closes on a click anywhere on it.
    page.evaluate("DjangoNotify.toast('Saved.')")
    message = toasts(page).filter(has_text="Saved.")
    expect(message).to_be_visible()
    message.locator(".notify-toast__body").click()
    expect(toasts(page)).to_have_count(0)

    # With the dropdown open, the first Escape closes it and leaves the toast.
    page.evaluate("DjangoNotify.toast('Still here')")
    page.locator("[data-notify-toggle]").first.click()
    dropdown = page.locator("[data-notify-dropdown]").first
    expect(dropdown).to_be_visible()
    page.keyboard.press("Escape")
    expect(dropdown).to_be_hidden()
    expect(toasts(page).filter(has_text="Still here")).to_be_visible()
    page.keyboard.press("Escape")
    expect(toasts(page)).to_have_count(0)


# --- 2. django-notify:changed: the bell and the page in step ---------------------------------


def changes(page) -> list[dict]:
    return page.evaluate("window.__changed")


def saw_change(page, change: dict, timeout: float = 5000) -> list[dict]:
    """The page's events once ``change`` is among them (or after ``timeout`` ms): the
    page sends its own event when the server answers, which may come after the real-time
    copy of the same change has already updated the list."""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(
            """c => (window.__changed || []).some(e =>
                Object.keys(e).length === Object.keys(c).length
                && Object.keys(c).every(k => JSON.stringify(e[k]) === JSON.stringify(c[k])))""",
            arg=change,
            timeout=timeout,
        )
    return changes(page)


def test_actions_in_the_bell_update_the_page_and_send_the_event(site, make_user):
    ada = make_user(username="ada")
    _, second, _ = feed(ada, 3)
    page = open_page(site, ada, toasts=False)
    rows = page.locator("[data-notify-rows] > .notify-row")
    expect(rows).to_have_count(3)
    unread_card = page.locator('[data-notify-stat="unread"]')
    expect(unread_card).to_have_text("3")

    page.locator("[data-notify-toggle]").first.click()
    item = page.locator(f'[data-notify-dropdown] [data-notify-id="{second.pk}"]')
    item.click()  # no link: marks it read and stays
    row = page.locator(f'[data-notify-row="{second.pk}"]')
    expect(row).to_have_attribute("data-notify-read", "true")
    expect(row.get_by_role("button", name="Mark unread")).to_be_visible()
    expect(unread_card).to_have_text("2")
    wanted = {"action": "read", "ids": [second.pk], "unread_count": 2}
    assert wanted in saw_change(page, wanted)

    page.locator("[data-notify-dropdown] [data-notify-mark-all]").first.click()
    expect(
        page.locator('[data-notify-rows] > .notify-row[data-notify-read="false"]')
    ).to_have_count(0)
    expect(unread_card).to_have_text("0")
    wanted = {"action": "read_all", "ids": [], "unread_count": 0}
    assert wanted in saw_change(page, wanted)
    assert get_notification_model().objects.unread_count(ada) == 0

    # Dismissing everything (DjangoNotify.dismissAll(), as a host page's button would)
    # empties the list and the cards.
    page.evaluate("DjangoNotify.dismissAll()")
    expect(rows).to_have_count(0)
    expect(page.locator("[data-notify-list-status]")).to_have_text(
        "No notifications match these filters."
    )
    expect(page.locator('[data-notify-stat="total"]')).to_have_text("0")
    wanted = {"action": "dismiss_all", "ids": [], "unread_count": 0}
    assert wanted in saw_change(page, wanted)


def test_actions_on_the_page_update_the_bell(site, make_user):
    ada = make_user(username="ada")
    first, second, third = feed(ada, 3)
    page = open_page(site, ada, toasts=False)
    rows = page.locator("[data-notify-rows] > .notify-row")
    expect(rows).to_have_count(3)
    badge = page.locator("[data-notify-badge]").first
    expect(badge).to_have_text("3")
    page.locator("[data-notify-toggle]").first.click()
    menu = page.locator("[data-notify-dropdown]").first
    expect(menu.get_by_role("menuitem")).to_have_count(3)
    page.keyboard.press("Escape")

    # Bulk read: the page's own request, announced with the event; the bell follows.
    page.locator(f'[data-notify-row="{third.pk}"] .notify-row__select').check()
    page.locator(f'[data-notify-row="{first.pk}"] .notify-row__select').check()
    page.get_by_role("button", name="Mark selected read").click()
    expect(badge).to_have_text("1")
    page.locator("[data-notify-toggle]").first.click()
    for done in (first, third):
        expect(menu.locator(f'[data-notify-id="{done.pk}"]')).to_have_attribute(
            "data-notify-read", "true"
        )
    expect(menu.locator(f'[data-notify-id="{second.pk}"]')).to_have_attribute(
        "data-notify-read", "false"
    )
    page.keyboard.press("Escape")
    recorded = changes(page)
    bulk = [c for c in recorded if c["action"] == "read" and len(c["ids"]) == 2]
    assert bulk and sorted(bulk[0]["ids"]) == sorted([first.pk, third.pk])
    assert bulk[0]["unread_count"] == 1

    # Dismiss on the page: gone from the bell too.
    page.locator(f'[data-notify-row="{second.pk}"]').get_by_role("button", name="Dismiss").click()
    expect(page.locator(f'[data-notify-row="{second.pk}"]')).to_have_count(0)
    expect(badge).to_be_hidden()
    page.locator("[data-notify-toggle]").first.click()
    expect(menu.locator(f'[data-notify-id="{second.pk}"]')).to_have_count(0)
    wanted = {"action": "dismiss", "ids": [second.pk], "unread_count": 0}
    assert wanted in saw_change(page, wanted)

    # A host page's own list announces its change; the bell and the page both follow, at
    # once (both listeners are synchronous). Read in the same task as the event: the
    # server never saw this change, so a real-time copy of the dismissal still on its way
    # may rightly set the count back to the server's 0 a moment later.
    page.keyboard.press("Escape")
    shown = page.evaluate(
        """(id) => {
          document.dispatchEvent(new CustomEvent("django-notify:changed", {
            detail: {action: "unread", ids: [id], unread_count: 1},
          }));
          const badge = document.querySelector("[data-notify-badge]");
          const row = document.querySelector(`[data-notify-row="${id}"]`);
          return {badge: badge.textContent, hidden: badge.hidden,
                  read: row.getAttribute("data-notify-read")};
        }""",
        first.pk,
    )
    assert shown == {"badge": "1", "hidden": False, "read": "false"}, shown


def test_an_arrival_sends_the_event_and_the_page_offers_it(site, make_user):
    ada = make_user(username="ada")
    feed(ada, 2)
    page = open_page(site, ada, toasts=False)
    expect(page.locator("[data-notify-rows] > .notify-row")).to_have_count(2)
    expect(page.locator('[data-notify-stat="total"]')).to_have_text("2")

    fresh = sent(ada, "Backup finished", priority=Priority.HIGH)
    show_new = page.get_by_role("button", name="1 new notification: show")
    expect(show_new).to_be_visible(timeout=LIVE)
    expect(page.locator('[data-notify-stat="total"]')).to_have_text("3")
    expect(page.locator('[data-notify-stat="unread"]')).to_have_text("3")
    arrived = [c for c in changes(page) if c["action"] == "arrived"]
    assert arrived == [{"action": "arrived", "ids": [fresh.pk], "unread_count": 3}]
    show_new.click()
    expect(page.locator(f'[data-notify-row="{fresh.pk}"]')).to_be_visible()

    # Read in another tab: the stream brings it here as the same event.
    other = open_page(site, ada, toasts=False)
    other.locator(f'[data-notify-row="{fresh.pk}"]').get_by_role("button", name="Mark read").click()
    expect(page.locator(f'[data-notify-row="{fresh.pk}"]')).to_have_attribute(
        "data-notify-read", "true", timeout=LIVE
    )
    expect(page.locator('[data-notify-stat="unread"]')).to_have_text("2")
    remote = [c for c in changes(page) if c.get("remote")]
    assert {"action": "read", "ids": [fresh.pk], "unread_count": 2, "remote": True} in remote


# --- 3. filters in the address -------------------------------------------------------------


def test_alert_filters_live_in_the_url_through_reload_and_back_forward(site, make_user):
    staff = make_user(staff=True, username="opsstaff")
    alerts.raise_alert("capacity", "warning", "Disk usage above 85% on db-1")
    alerts.raise_alert("security", "critical", "Repeated failed admin logins")
    old, _ = alerts.raise_alert("system", "critical", "Kernel panic on web-2")
    alerts.resolve(old, staff, "Rebooted.")

    page = open_page(site, staff, "/notifications/?tab=alerts")
    panel = page.locator('[data-notify-panel="alerts"]')
    alert_rows = panel.locator("[data-notify-alert-rows] > .notify-alert")
    expect(alert_rows).to_have_count(2)  # active ones by default

    panel.get_by_label("Severity").select_option("critical")
    expect(page).to_have_url(re.compile(r"\?tab=alerts&severity=critical$"))
    expect(alert_rows).to_have_count(1)
    expect(alert_rows).to_contain_text("Repeated failed admin logins")

    panel.get_by_label("Status").select_option("all")
    expect(page).to_have_url(re.compile(r"[?&]status=all(&|$)"))
    expect(alert_rows).to_have_count(2)

    page.reload()
    page.wait_for_function("() => window.DjangoNotify && window.DjangoNotify.ready")
    expect(page.get_by_role("tab", name="Alerts")).to_have_attribute("aria-selected", "true")
    expect(panel.get_by_label("Status")).to_have_value("all")
    expect(panel.get_by_label("Severity")).to_have_value("critical")
    expect(alert_rows).to_have_count(2)
    expect(alert_rows.filter(has_text="Kernel panic on web-2")).to_have_count(1)

    page.go_back()  # to "active, critical"
    expect(panel.get_by_label("Status")).to_have_value("active")
    expect(alert_rows).to_have_count(1)
    page.go_back()  # to "active, any severity"
    expect(page).to_have_url(re.compile(r"/notifications/\?tab=alerts$"))
    expect(panel.get_by_label("Severity")).to_have_value("")
    expect(alert_rows).to_have_count(2)
    page.go_forward()
    expect(panel.get_by_label("Severity")).to_have_value("critical")
    expect(alert_rows).to_have_count(1)

    # The notifications tab's filters share the address and survive a tab switch.
    page.get_by_role("tab", name="Notifications").click()
    notifications = page.locator('[data-notify-panel="notifications"]')
    notifications.get_by_label("Priority").select_option("high")
    expect(page).to_have_url(re.compile(r"priority=high"))
    expect(page).to_have_url(re.compile(r"severity=critical"))
    page.get_by_role("tab", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"tab=alerts"))
    expect(page).to_have_url(re.compile(r"priority=high"))


def test_a_bad_filter_in_a_link_shows_a_message_and_the_unfiltered_list(site, make_user):
    staff = make_user(staff=True, username="opsstaff")
    alerts.raise_alert("capacity", "warning", "Disk usage above 85% on db-1")
    alerts.raise_alert("security", "critical", "Repeated failed admin logins")
    page = open_page(site, staff, "/notifications/?tab=alerts&severity=fatal&alert_type=security")
    notice = page.locator("[data-notify-ignored-filters]")
    expect(notice).to_contain_text("The filter “severity” was ignored: “fatal” is not one of")
    panel = page.locator('[data-notify-panel="alerts"]')
    expect(panel.locator("[data-notify-alert-rows] > .notify-alert")).to_have_count(1)
    # The address drops what was ignored and keeps the rest.
    expect(page).to_have_url(re.compile(r"/notifications/\?tab=alerts&alert_type=security$"))
