"""The notification centre pages (``page-notifications``, ``page-preferences``) through
the Django test client: who may see them, what the server renders into them, and what
they cost. The browser behaviour (pages.js against the API) is tested in a browser."""

from __future__ import annotations

import re
from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_notify import Priority, notify
from django_notify.delivery.preferences import (
    get_preferences,
    update_preferences,
    update_recipient_settings,
)
from django_notify.models import NotificationPreference, RecipientSettings

pytestmark = pytest.mark.django_db

PAGE = "django_notify:page-notifications"
PREFERENCES = "django_notify:page-preferences"


@pytest.fixture(autouse=True)
def _static_url(settings):
    settings.STATIC_URL = "/static/"


@pytest.fixture
def login(client):
    def log_in(user):
        client.force_login(user)
        return client

    return log_in


def _text(response) -> str:
    return response.content.decode()


# --- access --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [PAGE, PREFERENCES])
def test_anonymous_users_are_sent_to_log_in(client, settings, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{settings.LOGIN_URL}?next={url}"


@pytest.mark.parametrize("name", [PAGE, PREFERENCES])
def test_pages_answer_get_only(login, make_user, name):
    client = login(make_user())
    assert client.post(reverse(name)).status_code == 405


def test_paths_follow_the_contract():
    assert reverse(PAGE) == "/notifications/"
    assert reverse(PREFERENCES) == "/notifications/preferences/"


# --- the notification centre ---------------------------------------------------------------
def test_page_renders_the_shell_for_a_user(login, make_user):
    response = login(make_user()).get(reverse(PAGE))
    assert response.status_code == 200
    html = _text(response)
    assert 'data-notify-page="notifications"' in html
    assert "<title>Notifications</title>" in html
    # Stat cards the script fills from api-stats.
    for stat in ("unread", "total", "action_required"):
        assert f'data-notify-stat="{stat}"' in html
    # Filters, bulk actions, the list and its "Load more" fallback.
    assert '<select name="priority">' in html and '<select name="state">' in html
    assert "data-notify-bulk-read disabled" in html
    assert "data-notify-page-mark-all" in html
    assert "data-notify-rows" in html and "data-notify-more hidden" in html
    assert "data-notify-sentinel" in html
    assert '<script src="/static/django_notify/pages.js" defer></script>' in html
    assert '<script src="/static/django_notify/notify.js" defer></script>' in html
    assert "django-notify-config" in html
    assert "data-notify-bell" in html  # the standalone layout has the bell


def test_alerts_tab_is_absent_for_non_staff(login, make_user):
    html = _text(login(make_user()).get(reverse(PAGE) + "?tab=alerts"))
    assert 'role="tab"' not in html and 'role="tablist"' not in html
    assert "notify-panel-alerts" not in html and "data-notify-alert" not in html
    assert "Active alerts" not in html and "Resolved today" not in html
    assert 'data-notify-active-tab="notifications"' in html
    # The one panel is not hidden and is not a tab panel of a missing tab list.
    panel = re.search(r'<section class="notify-panel" id="notify-panel-notifications"[^>]*>', html)
    assert 'role="tabpanel"' not in panel.group(0) and "hidden" not in panel.group(0)


def test_staff_get_the_alerts_tab_and_its_stat_cards(login, make_user):
    client = login(make_user(staff=True))
    html = _text(client.get(reverse(PAGE)))
    assert html.count('role="tab"') == 2
    assert re.search(r'aria-selected="true" tabindex="0" data-notify-tab="notifications"', html)
    assert re.search(r'aria-selected="false" tabindex="-1" data-notify-tab="alerts"', html)
    for stat in ("active", "critical", "resolved_today"):
        assert f'data-notify-alert-stat="{stat}"' in html
    assert re.search(r'id="notify-panel-alerts" role="tabpanel"[^>]*hidden', html)
    for severity in ("info", "warning", "error", "critical"):
        assert f'<option value="{severity}">' in html
    assert '<option value="security">Security</option>' in html
    # ?tab=alerts opens on the Alerts tab (a shareable link).
    html = _text(client.get(reverse(PAGE) + "?tab=alerts"))
    assert re.search(r'aria-selected="true" tabindex="0" data-notify-tab="alerts"', html)
    assert re.search(r'id="notify-panel-notifications" role="tabpanel"[^>]*hidden', html)


def test_type_filter_lists_registered_types_grouped_by_category(login, make_user):
    html = _text(login(make_user()).get(reverse(PAGE)))
    assert '<optgroup label="Alerts">' in html
    assert '<option value="test.security">Security alert</option>' in html
    assert '<option value="task.created">' in html
    labels = re.search(
        r'<script id="django-notify-types" type="application/json">(.*?)</script>', html
    ).group(1)
    assert '"test.alert": "Alert"' in labels


def test_filters_come_from_the_query_string_and_bad_values_are_ignored(login, make_user):
    client = login(make_user())
    html = _text(
        client.get(reverse(PAGE), {"priority": "high", "type": "test.news", "state": "unread"})
    )
    assert '<option value="high" selected>' in html
    assert '<option value="test.news" selected>' in html
    assert '<option value="unread" selected>' in html
    response = client.get(reverse(PAGE), {"priority": "<b>x</b>", "type": "nope", "state": "1"})
    assert response.status_code == 200
    html = _text(response)
    filters = html.split("data-notify-filters>")[1].split("</form>")[0]
    assert not re.search(r'<option value="[^"]+" selected>', filters)
    assert '<option value="" selected>All</option>' in filters
    assert "<b>x</b>" not in html


def test_notification_text_in_the_page_stays_escaped(login, make_user):
    user = make_user()
    notify([user], title="<script>alert('page')</script>", body="<script>x()</script>")
    html = _text(login(user).get(reverse(PAGE)))
    assert "<script>alert(" not in html and "<script>x()" not in html
    assert "&lt;script&gt;alert(&#x27;page&#x27;)&lt;/script&gt;" in html  # in the bell


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_page_queries_do_not_grow_with_the_feed(login, make_user):
    user = make_user(staff=True)
    client = login(user)
    empty = _page_queries(client, reverse(PAGE))
    for i in range(30):
        other = make_user()
        notify([user], title=f"n{i}", actor=other, target=other, priority=Priority.HIGH)
    full = _page_queries(client, reverse(PAGE))
    assert full == empty
    # Session and user, then the bell's count and latest rows: the list itself is the
    # API's job, not the page's.
    assert full <= 4


# --- preferences ---------------------------------------------------------------------------
def _cell(html: str, type_key: str, channel: str) -> str:
    match = re.search(
        rf'<div class="notify-pref[^"]*" data-notify-cell data-type="{re.escape(type_key)}" '
        rf'data-channel="{channel}">(.*?)<span class="notify-field-error"',
        html,
        re.S,
    )
    assert match, f"no cell for {type_key} × {channel}"
    return match.group(0)


def test_preferences_page_lists_types_by_category_and_channel(login, make_user):
    response = login(make_user()).get(reverse(PREFERENCES))
    assert response.status_code == 200
    html = _text(response)
    assert 'data-notify-page="preferences"' in html
    assert '<caption class="notify-prefs__caption">Alerts' in html
    assert '<caption class="notify-prefs__caption">Digests' in html
    # Columns: in-app first, then the others; the digest ones say so.
    header = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    columns = [c.strip() for c in re.findall(r'<th scope="col">([^<&]+)', header)]
    assert columns == ["In-app", "Email", "Local memory"]
    assert header.count("&amp; digest") == 2  # email and locmem send digests, in-app not
    # Defaults: test.alert is on in-app and email, off on the outbox channel.
    assert "checked" in _cell(html, "test.alert", "in_app")
    assert "checked" in _cell(html, "test.alert", "email")
    assert "checked" not in _cell(html, "test.alert", "outbox")
    # A channel a type is not delivered on is a dash, not a switch.
    security_row = re.search(r'<tr data-notify-type="test.security">(.*?)</tr>', html, re.S)
    assert "Not sent on this channel" in security_row.group(1)


def test_required_channels_are_locked(login, make_user):
    html = _text(login(make_user()).get(reverse(PREFERENCES)))
    required = _cell(html, "test.security", "email")
    assert "notify-pref--required" in required
    locked = 'data-notify-enabled checked disabled aria-describedby="notify-required-note"'
    assert locked in required
    assert "notify-lock" in required and "(required)" in required
    assert "disabled" not in _cell(html, "test.security", "in_app").split("<select")[0]
    assert 'id="notify-required-note"' in html


def test_digest_frequency_only_where_the_channel_sends_digests(login, make_user):
    html = _text(login(make_user()).get(reverse(PREFERENCES)))
    assert "data-notify-frequency" not in _cell(html, "test.news", "in_app")
    email = _cell(html, "test.news", "email")
    assert "data-notify-frequency" in email
    for value in ("immediate", "hourly", "daily", "weekly"):
        assert f'<option value="{value}"' in email
    assert '<option value="daily" selected>' in email  # the type's default frequency
    # A switched-off channel's frequency select is disabled until it is switched on.
    assert re.search(r"data-notify-frequency [^>]*disabled", _cell(html, "test.alert", "outbox"))


def test_preferences_page_shows_the_stored_choices(login, make_user, settings):
    user = make_user()
    update_preferences(
        user,
        [
            {"notification_type": "test.alert", "channel": "email", "enabled": False},
            {"notification_type": "test.news", "channel": "email", "frequency": "weekly"},
        ],
    )
    update_recipient_settings(
        user,
        quiet_hours_start=time(22, 0),
        quiet_hours_end=time(7, 30),
        timezone="Europe/Paris",
        language="fr",
    )
    html = _text(login(user).get(reverse(PREFERENCES)))
    assert "checked" not in _cell(html, "test.alert", "email")
    assert '<option value="weekly" selected>' in _cell(html, "test.news", "email")
    assert 'name="quiet_hours_start" value="22:00"' in html
    assert 'name="quiet_hours_end" value="07:30"' in html
    assert '<option value="Europe/Paris" selected>' in html
    assert '<option value="fr" selected>French</option>' in html
    assert f"Site default ({settings.TIME_ZONE})" in html


def test_time_zones_come_from_zoneinfo(login, make_user):
    import zoneinfo

    html = _text(login(make_user()).get(reverse(PREFERENCES)))
    zones = re.findall(r'<option value="([^"]+)"[^>]*>\1</option>', html)
    assert "Europe/Paris" in zones and "America/New_York" in zones and "UTC" in zones
    assert "localtime" not in zones and "Factory" not in zones
    assert set(zones) == zoneinfo.available_timezones() - {"localtime", "Factory"}
    assert zones == sorted(zones)


def test_a_stored_zone_or_language_outside_the_lists_is_still_shown(login, make_user):
    user = make_user()
    # Written around the validation (an old row, a zone the system no longer lists).
    RecipientSettings.objects.create(user=user, timezone="Mars/Olympus", language="tlh")
    html = _text(login(user).get(reverse(PREFERENCES)))
    assert '<option value="Mars/Olympus" selected>Mars/Olympus</option>' in html
    assert '<option value="tlh" selected>tlh</option>' in html


def test_stored_settings_are_escaped(login, make_user):
    user = make_user()
    RecipientSettings.objects.create(user=user, timezone='"><script>z()</script>')
    html = _text(login(user).get(reverse(PREFERENCES)))
    assert "<script>z()" not in html
    assert "&quot;&gt;&lt;script&gt;z()&lt;/script&gt;" in html


def test_preferences_queries_do_not_grow_with_stored_rows(login, make_user):
    user = make_user()
    client = login(user)
    before = _page_queries(client, reverse(PREFERENCES))
    update_preferences(
        user,
        [
            {"notification_type": key, "channel": channel, "enabled": True, "frequency": "daily"}
            for key in ("test.alert", "test.news")
            for channel in ("email", "outbox")
        ],
    )
    assert NotificationPreference.objects.filter(user=user).count() == 4
    after = _page_queries(client, reverse(PREFERENCES))
    assert after == before
    # Beyond get_preferences() (whose cost is the delivery module's): session, user,
    # and the bell's two queries.
    with CaptureQueriesContext(connection) as captured:
        get_preferences(user)
    assert after == len(captured) + 4
