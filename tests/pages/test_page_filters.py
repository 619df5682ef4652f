"""The notification centre's filters in the query string, through the Django test client:
every filter of both tabs comes back selected from the URL (a reload, Back/Forward or a
shared link shows the same list), and a value the page does not offer is dropped with a
message naming the parameter, never a server error. pages.js keeping the address in step
is tested in Chromium (test_browser_pages.py)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGE = "django_notify:page-notifications"


@pytest.fixture(autouse=True)
def _static_url(settings):
    settings.STATIC_URL = "/static/"


def _form(html: str, marker: str) -> str:
    return html.split(f"{marker}>")[1].split("</form>")[0]


def _selected(form: str) -> dict[str, str]:
    """{select name: the value rendered selected} ("" for none)."""
    chosen = {}
    for name, body in re.findall(r'<select name="([^"]+)">(.*?)</select>', form, re.S):
        match = re.search(r'<option value="([^"]*)" selected>', body)
        chosen[name] = match.group(1) if match else ""
    return chosen


def _ignored(html: str) -> list[str]:
    block = re.search(r"data-notify-ignored-filters>(.*?)</div>", html, re.S)
    return re.findall(r"<p>(.*?)</p>", block.group(1), re.S) if block else []


def test_staff_alert_filters_come_back_selected_from_the_query_string(client, make_user):
    client.force_login(make_user(staff=True))
    response = client.get(
        reverse(PAGE),
        {"tab": "alerts", "status": "resolved", "severity": "error", "alert_type": "security"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert _selected(_form(html, "data-notify-alert-filters")) == {
        "status": "resolved",
        "severity": "error",
        "alert_type": "security",
    }
    assert re.search(r'aria-selected="true" tabindex="0" data-notify-tab="alerts"', html)
    assert _ignored(html) == []


def test_without_a_status_the_alerts_tab_shows_the_active_ones(client, make_user):
    client.force_login(make_user(staff=True))
    html = client.get(reverse(PAGE), {"tab": "alerts"}).content.decode()
    assert _selected(_form(html, "data-notify-alert-filters")) == {
        "status": "active",
        "severity": "",
        "alert_type": "",
    }
    # "All" has a value of its own, so it survives a reload instead of falling back.
    html = client.get(reverse(PAGE), {"tab": "alerts", "status": "all"}).content.decode()
    assert _selected(_form(html, "data-notify-alert-filters"))["status"] == "all"


def test_notification_and_alert_filters_live_side_by_side(client, make_user):
    client.force_login(make_user(staff=True))
    html = client.get(
        reverse(PAGE), {"priority": "critical", "state": "read", "severity": "warning"}
    ).content.decode()
    assert _selected(_form(html, "data-notify-filters")) == {
        "priority": "critical",
        "type": "",
        "state": "read",
    }
    assert _selected(_form(html, "data-notify-alert-filters"))["severity"] == "warning"


@pytest.mark.parametrize(
    ("params", "named", "form", "unfiltered"),
    [
        ({"priority": "urgent"}, "priority", "data-notify-filters", {"priority": ""}),
        ({"type": "no.such.type"}, "type", "data-notify-filters", {"type": ""}),
        ({"state": "maybe"}, "state", "data-notify-filters", {"state": ""}),
        ({"status": "open"}, "status", "data-notify-alert-filters", {"status": "active"}),
        ({"severity": "fatal"}, "severity", "data-notify-alert-filters", {"severity": ""}),
        ({"alert_type": "nope"}, "alert_type", "data-notify-alert-filters", {"alert_type": ""}),
        ({"tab": "settings"}, "tab", None, {}),
    ],
)
def test_a_bad_filter_value_gives_the_unfiltered_page_naming_the_parameter(
    client, make_user, params, named, form, unfiltered
):
    client.force_login(make_user(staff=True))
    response = client.get(reverse(PAGE), params)
    assert response.status_code == 200
    html = response.content.decode()
    (message,) = _ignored(html)
    value = next(iter(params.values()))
    assert f"The filter “{named}” was ignored: “{value}” is not one of" in message
    if form:
        chosen = _selected(_form(html, form))
        assert {name: chosen[name] for name in unfiltered} == unfiltered
    else:
        assert 'data-notify-active-tab="notifications"' in html


def test_the_message_lists_what_the_filter_offers(client, make_user):
    client.force_login(make_user(staff=True))
    html = client.get(reverse(PAGE), {"severity": "fatal", "type": "x"}).content.decode()
    messages = _ignored(html)
    assert len(messages) == 2
    assert any("info, warning, error, critical" in m for m in messages)
    # The registered types are too many to list; the message says what is expected.
    assert any("“type”" in m and "the registered types" in m for m in messages)


def test_a_bad_value_is_shown_escaped(client, make_user):
    client.force_login(make_user())
    html = client.get(reverse(PAGE), {"priority": '"><script>x()</script>'}).content.decode()
    (message,) = _ignored(html)
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in message


def test_valid_filters_and_empty_values_give_no_message(client, make_user):
    client.force_login(make_user(staff=True))
    html = client.get(
        reverse(PAGE),
        {"priority": "", "type": "", "state": "", "status": "active", "tab": "notifications"},
    ).content.decode()
    assert "data-notify-ignored-filters" not in html


def test_alert_filters_of_a_user_who_is_not_staff_are_not_checked(client, make_user):
    """The Alerts tab is not theirs: its parameters (even nonsense, even tab=alerts) are
    not an error on the page they do see."""
    client.force_login(make_user())
    html = client.get(
        reverse(PAGE), {"tab": "alerts", "severity": "fatal", "status": "x"}
    ).content.decode()
    assert "data-notify-ignored-filters" not in html
    assert "data-notify-alert-filters" not in html
    assert 'data-notify-active-tab="notifications"' in html
