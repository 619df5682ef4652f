"""The platform alert and API token admins: lists in constant queries, filters, the
"Resolve selected" and "Deactivate" actions, resolving from the change form, raising
from the add form (deduplicated), and a token's key shown exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_notify.alerts import raise_alert, resolve
from django_notify.models import ApiToken, PlatformAlert
from django_notify.models.token import hash_key
from django_notify.tenancy import Role


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ORG_ADMIN, staff=True, superuser=True, username="boss")


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _url(model, name, *args):
    return reverse(f"admin:django_notify_{model._meta.model_name}_{name}", args=args)


def _get(client, url, data=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, data or {})
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _alerts(n: int, resolver) -> list[PlatformAlert]:
    rows = []
    severities = ("info", "warning", "error", "critical")
    for i in range(n):
        alert, _ = raise_alert(
            ("security", "billing", "data")[i % 3], severities[i % 4], f"Problem {i}",
            affected_systems=[f"s{i}"],
        )  # fmt: skip
        if i % 5 == 4:
            resolve(alert, resolver, f"fixed {i}")
        rows.append(alert)
    return rows


# --- platform alerts --------------------------------------------------------------------


def test_changelist_is_constant_queries_and_sorted_open_then_severity(staff, admin_user):
    _alerts(4, admin_user)
    small, _ = _get(staff, _url(PlatformAlert, "changelist"))
    _alerts(40, admin_user)
    large, page = _get(staff, _url(PlatformAlert, "changelist"))
    assert large == small <= 7  # 6 measured: session, user, 2 counts, rows, type filter
    rows = list(page.context["cl"].result_list)
    keys = [(r.is_resolved, -r.severity_rank, -r.last_occurred_at.timestamp()) for r in rows]
    assert keys == sorted(keys)
    assert rows[0].severity == "critical" and not rows[0].is_resolved
    html = page.content.decode()
    assert 'class="notify-severity notify-severity-critical"' in html
    assert "Resolve selected alerts" in html
    # The severity column sorts by rank, not alphabetically.
    _, page = _get(staff, _url(PlatformAlert, "changelist"), {"o": "-1"})
    ranks = [r.severity_rank for r in page.context["cl"].result_list]
    assert ranks == sorted(ranks, reverse=True)


def test_filters_and_search(staff, admin_user):
    _alerts(6, admin_user)
    raise_alert("integration", "critical", "Payment gateway down", "502 from PSP")
    raise_alert("my-own-type", "info", "Something the host raises")
    url = _url(PlatformAlert, "changelist")

    def titles(**query):
        _, page = _get(staff, url, query)
        return sorted(r.title for r in page.context["cl"].result_list)

    assert titles(severity__exact="critical") == ["Payment gateway down", "Problem 3"]
    assert titles(alert_type="my-own-type") == ["Something the host raises"]
    assert titles(is_resolved__exact="1") == ["Problem 4"]
    assert titles(q="PSP") == ["Payment gateway down"]
    _, page = _get(staff, url)
    # The type filter offers the usual types and every type raised so far.
    assert "?alert_type=my-own-type" in page.content.decode()
    assert "?alert_type=performance" in page.content.decode()


def test_resolve_selected_action(staff, admin_user):
    a, _ = raise_alert("data", "error", "A")
    b, _ = raise_alert("data", "error", "B")
    c, _ = raise_alert("data", "error", "C")
    resolve(c, admin_user, "before")
    response = staff.post(
        _url(PlatformAlert, "changelist"),
        {"action": "resolve_selected", "_selected_action": [a.pk, b.pk, c.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert _messages(response) == ["Resolved 2 alerts.", "1 alert was already resolved."]
    rows = {r.pk: r for r in PlatformAlert.objects.all()}
    for pk in (a.pk, b.pk):
        assert rows[pk].is_resolved and rows[pk].resolved_by == admin_user
        assert rows[pk].resolution_notes == "Resolved from the admin by boss"
    assert rows[c.pk].resolution_notes == "before"


def test_view_only_staff_cannot_resolve(client, make_user):
    viewer = make_user(staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_platformalert"))
    client.force_login(viewer)
    alert, _ = raise_alert("data", "error", "A")
    _, page = _get(client, _url(PlatformAlert, "changelist"))
    assert "resolve_selected" not in page.content.decode()
    client.post(
        _url(PlatformAlert, "changelist"),
        {"action": "resolve_selected", "_selected_action": [alert.pk]},
    )
    assert PlatformAlert.objects.get().is_resolved is False
    _, page = _get(client, _url(PlatformAlert, "change", alert.pk))
    assert 'name="resolution_notes"' not in page.content.decode()


def test_change_form_is_read_only_except_the_notes(staff):
    alert, _ = raise_alert(
        "security", "critical", "Brute force", "from 10.0.0.0/8",
        affected_systems=["login"], meta_data={"attempts": 500},
    )  # fmt: skip
    _, page = _get(staff, _url(PlatformAlert, "change", alert.pk))
    form = page.context["adminform"].form
    assert list(form.fields) == ["resolution_notes"]
    html = page.content.decode()
    assert "Saving an open alert with notes resolves it" in html
    assert "from 10.0.0.0/8" in html and "notify-severity-critical" in html


def test_saving_notes_resolves_and_keeps_occurrences(staff, admin_user):
    alert, _ = raise_alert("security", "critical", "Brute force")
    raise_alert("security", "critical", "Brute force")
    url = _url(PlatformAlert, "change", alert.pk)
    staff.post(url, {"resolution_notes": ""})  # no notes: stays open, nothing written
    assert PlatformAlert.objects.get().is_resolved is False
    response = staff.post(url, {"resolution_notes": "Blocked the range"}, follow=True)
    assert "The alert was resolved." in _messages(response)
    stored = PlatformAlert.objects.get()
    assert (stored.is_resolved, stored.resolved_by, stored.resolution_notes) == (
        True, admin_user, "Blocked the range",
    )  # fmt: skip
    assert stored.occurrence_count == 2
    resolved_at = stored.resolved_at
    # On a resolved alert the field edits the notes, nothing else.
    staff.post(url, {"resolution_notes": "Blocked the range; reported to the ISP"})
    stored.refresh_from_db()
    assert stored.resolution_notes == "Blocked the range; reported to the ISP"
    assert (stored.resolved_at, stored.occurrence_count) == (resolved_at, 2)


def test_add_form_raises_through_the_service_and_deduplicates(staff):
    url = _url(PlatformAlert, "add")
    _, page = _get(staff, url)
    assert list(page.context["adminform"].form.fields) == [
        "alert_type", "severity", "title", "message", "affected_systems",
        "affected_organizations", "meta_data", "fingerprint",
    ]  # fmt: skip
    data = {
        "alert_type": "integration", "severity": "error", "title": "Sync failed",
        "message": "timeout", "affected_systems": "letzshop, api\nletzshop",
        "affected_organizations": "acme", "meta_data": '{"job": 3}', "fingerprint": "",
    }  # fmt: skip
    response = staff.post(url, data)
    assert response.status_code == 302
    alert = PlatformAlert.objects.get()
    assert (alert.affected_systems, alert.affected_organizations) == (["letzshop", "api"], ["acme"])
    assert alert.meta_data == {"job": 3} and alert.occurrence_count == 1
    # The same problem again from the form: an occurrence, not a constraint error.
    response = staff.post(url, {**data, "severity": "critical", "meta_data": ""}, follow=True)
    assert response.status_code == 200
    assert any("counted as its occurrence 2" in m for m in _messages(response))
    alert = PlatformAlert.objects.get()
    assert (alert.occurrence_count, alert.severity) == (2, "critical")
    # An explicit fingerprint groups a differently titled problem with it.
    staff.post(url, {**data, "title": "Other words", "fingerprint": alert.fingerprint})
    assert PlatformAlert.objects.get().occurrence_count == 3


@pytest.mark.parametrize(
    "change, field",
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"severity": "fatal"}, "severity"),
        ({"alert_type": ""}, "alert_type"),
        ({"meta_data": "[1, 2]"}, "meta_data"),
        ({"meta_data": "{not json"}, "meta_data"),
        ({"affected_systems": "s" * 201}, "affected_systems"),
        ({"fingerprint": "f" * 201}, "fingerprint"),
    ],
)
def test_add_form_errors_name_the_field(staff, change, field):
    data = {"alert_type": "data", "severity": "info", "title": "T", "message": "", **change}
    response = staff.post(_url(PlatformAlert, "add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert PlatformAlert.objects.count() == 0


# --- API tokens -------------------------------------------------------------------------


def test_adding_a_token_shows_its_key_once(staff, admin_user, make_user):
    owner = make_user()
    data = {"user": owner.pk, "name": "cron", "expires_at_0": "", "expires_at_1": ""}
    response = staff.post(_url(ApiToken, "add"), data, follow=True)
    assert response.status_code == 200
    (shown,) = [m for m in _messages(response) if "Copy it now" in m]
    key = shown.split("<code>")[1].split("</code>")[0]
    assert key.startswith("dn_") and len(key) == 43
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.key_hash, token.prefix) == (
        owner, "cron", hash_key(key), key[:8],
    )  # fmt: skip
    assert ApiToken.authenticate(key) == owner
    # Never again: not on the next page, the list, or the token's own page.
    for url in (_url(ApiToken, "changelist"), _url(ApiToken, "change", token.pk)):
        _, page = _get(staff, url)
        html = page.content.decode()
        assert key not in html and token.key_hash not in html
    _, page = _get(staff, _url(ApiToken, "change", token.pk))
    assert "key_hash" not in page.context["adminform"].form.fields
    assert f"{key[:8]}…" in page.content.decode()


def test_token_changelist_is_constant_queries(staff, make_user):
    for i in range(3):
        ApiToken.create(make_user(), f"t{i}")
    small, _ = _get(staff, _url(ApiToken, "changelist"))
    for i in range(30):
        ApiToken.create(make_user(), f"more{i}", expires_at=timezone.now() + timedelta(days=1))
    large, page = _get(staff, _url(ApiToken, "changelist"))
    assert large == small
    assert len(page.context["cl"].result_list) == 33


def test_deactivate_action(staff, make_user):
    a, key_a = ApiToken.create(make_user(), "a")
    b, key_b = ApiToken.create(make_user(), "b")
    c, key_c = ApiToken.create(make_user(), "c")
    response = staff.post(
        _url(ApiToken, "changelist"),
        {"action": "deactivate", "_selected_action": [a.pk, b.pk]},
        follow=True,
    )
    assert "Deactivated 2 tokens." in _messages(response)
    assert dict(ApiToken.objects.values_list("name", "is_active")) == {
        "a": False, "b": False, "c": True,
    }  # fmt: skip
    assert ApiToken.authenticate(key_a) is None and ApiToken.authenticate(key_b) is None
    assert ApiToken.authenticate(key_c) is not None


def test_only_superusers_mint_tokens_for_others(client, make_user):
    clerk = make_user(staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__endswith="_apitoken"))
    superuser = make_user(superuser=True, staff=True)
    client.force_login(clerk)
    url = _url(ApiToken, "add")
    response = client.post(url, {"user": superuser.pk, "name": "steal"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["user"] == [
        "Only superusers may create tokens for other users."
    ]
    assert ApiToken.objects.count() == 0
    response = client.post(url, {"user": clerk.pk, "name": "mine"})
    assert response.status_code == 302
    assert ApiToken.objects.get().user == clerk
