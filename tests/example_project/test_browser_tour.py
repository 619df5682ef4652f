"""The demo's landing page and its feed in a real browser (Debian's headless Chromium on
the example site under uvicorn; wiring in tests/support/browser_support.py).

- before logging in, ``/`` tours every system (each stop's login, steps and pages), says
  what the in-process stream reaches, and logs in from its own form;
- the server-rendered feed on ``/`` follows what happens in the bell: marking all read in
  the dropdown, and a notification arriving through the stream, refresh the list without
  a page load (the widget's ``django-notify:changed`` event).

Needs what test_browser.py needs. Run with ``pytest -m browser``.
"""

from __future__ import annotations

import re

import pytest
from demo.tour import TOUR
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import transaction

from django_notify import notify
from tests.support.browser_support import (  # noqa: F401 - the fixtures
    each_browser_test,
    new_page,
    site_fixture,
    visit,
)

try:  # the browser tox env installs it; without it these tests skip (or fail, if required)
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = pytest.mark.browser
live_db = pytest.mark.django_db(transaction=True)

LIVE = 5_000  # ms: an event pushed through Redis and the stream, then the list fetched


def feed_rows(page):
    return page.locator("#feed-list > .card.n")


@live_db
def test_the_landing_page_tours_every_system_and_logs_in(site, make_user):
    ada = make_user(username="ada")
    # The site checks passwords with its own (default) hashers, not the tests' MD5.
    ada.password = make_password("correct horse", hasher=PBKDF2PasswordHasher())
    ada.save(update_fields=["password"])
    page = new_page(site)
    page.goto("/")
    expect(page.get_by_role("heading", name="What to try")).to_be_visible()
    for stop in TOUR:
        section = page.locator(f"#tour-{stop.key}")
        expect(section.get_by_role("heading", name=stop.title)).to_be_visible()
        for login in stop.logins:
            expect(section.locator("code", has_text=re.compile(f"^{login}$"))).to_have_count(1)
        expect(section.locator("ol > li")).to_have_count(len(stop.steps))
        for label, path in stop.pages:
            expect(section.get_by_role("link", name=label, exact=True)).to_have_attribute(
                "href", path
            )
    expect(page.locator("#tour-channels").get_by_role("link", name="Channels")).to_have_attribute(
        "href", "/channels/"
    )
    expect(page.locator("#live-note")).to_contain_text("in-process")
    expect(page.locator("[data-notify-bell]")).to_have_count(0)

    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(site.asgi.url("/"))
    visit(page, "/")
    expect(page.locator("[data-notify-bell]")).to_have_count(1)
    # Logged in, the note stays next to the bell.
    expect(page.locator("#live-note")).to_contain_text("in-process")


@live_db
def test_the_feed_follows_actions_in_the_bell_without_a_reload(site, make_user):
    ada = make_user(username="ada")
    for n in range(3):
        notify([ada], title=f"Build {n + 1} passed")
    page = visit(new_page(site, ada), "/")
    page.evaluate("() => { window.__sameDocument = true; }")
    rows = feed_rows(page)
    expect(rows).to_have_count(3)
    expect(page.locator("#feed-list .card.n.unread")).to_have_count(3)

    # Mark all read in the dropdown: the server-rendered list follows.
    page.locator("[data-notify-toggle]").first.click()
    page.locator("[data-notify-bell]").first.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#feed-list .card.n.unread")).to_have_count(0)
    expect(page.locator("#feed-list .card.n.read")).to_have_count(3)
    expect(page.locator("#feed-list").get_by_role("button", name="Mark read")).to_have_count(0)

    # A notification committed by another process arrives through the stream.
    with transaction.atomic():
        notify([ada], title="Deploy finished")
    expect(rows).to_have_count(4, timeout=LIVE)
    expect(rows.first).to_contain_text("Deploy finished")
    expect(rows.first).to_have_class(re.compile(r"\bunread\b"))
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
