"""The typed client against a real server (pytest-django's ``live_server``): the send
API's examples as written, lazy pagination, and every error class."""

from __future__ import annotations

import ast
import socket
import sys
from datetime import datetime
from pathlib import Path

import pytest

import django_notify.client as client_module
from django_notify import get_notification_model, notify
from django_notify.client import (
    BadRequest,
    Client,
    ClientError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    NotificationRecord,
    ObjectRef,
    SendForbidden,
    TooManyRequests,
    TransportError,
    UserRef,
)
from django_notify.models import ApiToken, PlatformAlert
from django_notify.policy import SenderRule
from tests.support.notify_settings import notify_override

pytest_plugins = ["tests.support.api"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, scope="module")
def _static_url(live_server_static_url):
    """See ``live_server_static_url``."""


@pytest.fixture
def site(live_server):
    return live_server.url + "/notifications/"


@pytest.fixture
def connect(site):
    def make(user) -> Client:
        _token, key = ApiToken.create(user, "client tests")
        return Client(site, token=key, timeout=10)

    return make


def test_the_client_needs_only_the_standard_library():
    tree = ast.parse(Path(client_module.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative


# --- the send API's examples -------------------------------------------------------------


def test_send_api_examples(world, connect):
    api = connect(world.ada)
    Notification_ = api.Notification  # as a script would name it

    (sent,) = Notification_.send(
        type="IN", title="Dataset ready", description="The dataset finished loading.",
        target_user=world.bob.pk,
    )  # fmt: skip
    assert isinstance(sent, NotificationRecord)
    assert (sent.title, sent.type, sent.scope) == ("Dataset ready", "IN", "user")
    assert sent.sender == UserRef(id=world.ada.pk, name="ada")
    assert isinstance(sent.created_at, datetime) and sent.created_at.tzinfo is not None

    # target_team=team (an object with an id) and target_team=team.id both work.
    for team in (world.team, world.team.id):
        (row,) = Notification_.send(
            type="IN", title=f"Update for {world.team.name}",
            description=f"Hello {world.team.name}, there is a new platform update to review.",
            target_team=team,
            meta_data={"team_id": world.team.id, "team_name": world.team.name},
        )  # fmt: skip
        assert row.scope == "team" and row.meta_data["team_name"] == "research"

    rows = Notification_.send(type="IN", title="Quarterly review window",
                              description="The quarterly review window is now open.",
                              team_ids=[world.team.id])  # fmt: skip
    assert len(rows) == 1
    members = [world.ada, world.bob]
    rows = Notification_.send(type="IN", title="Research sync",
                              description="The research sync starts in 15 minutes.",
                              user_ids=[member.id for member in members])  # fmt: skip
    assert len(rows) == 2

    (mine,) = Notification_.send_to_self(
        type="IN", title="Sync complete", description="Your local project sync completed."
    )
    assert mine.scope == "user"


def test_send_api_system_and_rules(world, connect):
    (system,) = connect(world.staff).Notification.send_system(
        type="IM", title="Planned maintenance",
        description="Platform maintenance starts at 22:00 UTC.", is_global=True,
    )  # fmt: skip
    assert system.scope == "system" and system.level_label == "Important"
    with pytest.raises(SendForbidden) as refused:
        connect(world.ada).Notification.send_system(type="IM", title="x", is_global=True)
    assert refused.value.rule == SenderRule.SYSTEM_STAFF_ONLY.code
    assert refused.value.status == 403
    assert refused.value.message == SenderRule.SYSTEM_STAFF_ONLY.message
    with pytest.raises(SendForbidden) as refused:
        connect(world.light).Notification.send(title="x", target_user=world.bob.pk)
    assert refused.value.rule == "light_user.self_only"
    assert isinstance(refused.value, Forbidden)
    assert get_notification_model().objects.filter(title="x").count() == 0


def test_send_api_read_and_bulk_actions(world, connect):
    for i in range(3):
        notify([world.ada], title=f"n{i}")
    api = connect(world.ada)
    notification = api.Notification.filter()[0]
    assert notification.title == "n2"
    assert notification.mark_read() is True
    assert notification.is_read is True
    assert api.Notification.unread_count() == 2
    assert notification.mark_unread() is True
    assert api.Notification.mark_all_read() == 3
    assert api.Notification.dismiss_all() == 3
    assert list(api.Notification.filter()) == []


def test_records_carry_the_json(world, connect):
    from django_notify import send

    send(world.bob, title="Review", target_user=world.ada, actor=world.bob, target=world.team,
         url="/jobs/3/", priority="high", action_required=True)  # fmt: skip
    (n,) = connect(world.ada).Notification.recent()
    assert n.actor == ObjectRef(type="auth.user", id=str(world.bob.pk), name="bob")
    assert n.target == ObjectRef(type="testapp.team", id=str(world.team.pk), name="research")
    assert (n.link, n.priority, n.action_required) == ("/jobs/3/", "high", True)
    assert n.read_at is None and n.extra == {}
    assert n.refresh() is n and n.title == "Review"
    assert n.dismiss() is True
    with pytest.raises(NotFound):
        n.refresh()


def test_filter_is_lazy_and_follows_cursors(world, connect):
    for i in range(5):
        notify([world.ada], title=f"p{i}", priority="high" if i % 2 else "normal")
    notify([world.ada], title="read one", priority="high")[0].mark_read(world.ada)
    api = connect(world.ada)
    calls = []
    original = api.request

    def counting(method, path, **kwargs):
        calls.append(path)
        return original(method, path, **kwargs)

    api.request = counting
    pages = api.Notification.filter(unread=True, priority=["high", "normal"], page_size=2)
    assert calls == []  # nothing fetched until used
    assert pages[1].title == "p3"
    assert len(calls) == 1
    assert [n.title for n in pages] == ["p4", "p3", "p2", "p1", "p0"]
    assert len(calls) == 3
    assert [n.title for n in pages] == ["p4", "p3", "p2", "p1", "p0"]  # cached
    assert len(calls) == 3
    highs = api.Notification.filter(unread=True, priority="high")
    assert [n.title for n in highs] == ["p3", "p1"]
    assert api.Notification.filter(unread=False).first().title == "read one"
    assert api.Notification.filter(notification_type="task.created").first() is None
    with pytest.raises(IndexError):
        api.Notification.filter(notification_type="task.created")[0]
    assert [n.title for n in api.Notification.filter()[1:3]] == ["p4", "p3"]
    since = api.Notification.filter()[2].created_at
    assert len(list(api.Notification.filter(since=since))) == 3


def test_mark_read_many(world, connect):
    rows = [notify([world.ada], title=f"m{i}")[0] for i in range(3)]
    (bobs,) = notify([world.bob], title="bob's")
    api = connect(world.ada)
    with pytest.raises(NotFound):
        api.Notification.mark_read([rows[0].pk, bobs.pk])
    assert api.Notification.unread_count() == 3
    notifications = list(api.Notification.filter())
    assert api.Notification.mark_read(notifications[:2]) == 2
    assert api.Notification.unread_count() == 1


# --- errors ---------------------------------------------------------------------------------


def test_errors_carry_status_code_message_and_fields(world, connect, site):
    api = connect(world.ada)
    with pytest.raises(BadRequest) as bad:
        api.Notification.send(title="t", target_user=world.bob.pk, priority="urgent")
    assert bad.value.status == 400 and bad.value.code == "invalid"
    assert list(bad.value.fields) == ["priority"]
    assert "priority" in str(bad.value)
    with pytest.raises(BadRequest) as bad:
        api.Notification.send(title="t")
    assert list(bad.value.fields) == ["target_user"]
    with pytest.raises(NotFound) as missing:
        api.Notification.get(10**9)
    assert missing.value.code == "not_found"
    with pytest.raises(NotAuthenticated) as anonymous:
        Client(site, token="dn_revoked").Notification.unread_count()
    assert anonymous.value.status == 401
    with pytest.raises(Forbidden) as denied:
        api.Alert.stats()
    assert denied.value.code == "permission_denied" and not isinstance(denied.value, SendForbidden)


def test_rate_limited_carries_retry_after(world, connect):
    api = connect(world.ada)
    with notify_override(RATE_LIMITS={"sender": "1/minute"}):
        api.Notification.send_to_self(title="one")
        with pytest.raises(TooManyRequests) as limited:
            api.Notification.send_to_self(title="two")
    assert limited.value.status == 429 and limited.value.code == "rate_limited"
    assert 1 <= limited.value.retry_after <= 60


def test_too_large_is_a_bad_request(world, connect):
    api = connect(world.ada)
    with notify_override(MAX_REQUEST_BYTES=200):
        with pytest.raises(BadRequest) as bad:
            api.Notification.send_to_self(title="t", description="x" * 300)
    assert bad.value.status == 413 and bad.value.code == "too_large"


def test_transport_and_wrong_url_errors(world, site, live_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as unreachable:
        Client(f"http://127.0.0.1:{port}/notifications/", token="dn_x", timeout=2).get("x/")
    assert unreachable.value.status is None and unreachable.value.code == "transport"
    # A base URL that is not the mount: the site's own (HTML) 404, not the API's.
    with pytest.raises(ClientError) as wrong:
        Client(live_server.url + "/elsewhere/", token="dn_x").Notification.unread_count()
    assert wrong.value.status == 404 and wrong.value.code == "http_404"


def test_token_from_the_environment(world, site, monkeypatch):
    _token, key = ApiToken.create(world.ada, "env")
    monkeypatch.setenv("DJANGO_NOTIFY_TOKEN", key)
    notify([world.ada], title="hi")
    assert Client(site).Notification.unread_count() == 1
    # The API root works as base URL too.
    assert Client(site + "api/").Notification.unread_count() == 1


# --- alerts and preferences ------------------------------------------------------------------


def test_alerts(world, connect):
    api = connect(world.staff)
    alert, created = api.Alert.raise_alert("integration", "error", "Sync failed",
                                           affected_systems=["letzshop"])  # fmt: skip
    assert created is True and alert.occurrence_count == 1
    again, created = api.Alert.raise_alert("integration", "error", "Sync failed")
    assert created is False and again.id == alert.id and again.occurrence_count == 2
    assert [a.title for a in api.Alert.filter(resolved=False)] == ["Sync failed"]
    assert api.Alert.stats()["active"] == 1
    alert.resolve("Key rotated")
    assert alert.is_resolved and alert.resolved_by == UserRef(id=world.staff.pk, name="staff")
    assert PlatformAlert.objects.get(pk=alert.id).resolution_notes == "Key rotated"
    with pytest.raises(BadRequest) as bad:
        api.Alert.raise_alert("integration", "fatal", "x")
    assert list(bad.value.fields) == ["severity"]


def test_preferences(world, connect):
    api = connect(world.ada)
    prefs = api.update_preferences(
        preferences=[{"notification_type": "test.alert", "channel": "email", "enabled": False}],
        quiet_hours={"start": "22:00", "end": "07:00"},
        timezone="Europe/Paris",
    )
    alert = next(t for t in prefs["types"] if t["notification_type"] == "test.alert")
    assert alert["channels"]["email"]["enabled"] is False
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert api.reset_preferences()["types"] == api.preferences()["types"]
    with pytest.raises(BadRequest) as bad:
        api.update_preferences(timezone="Mars/Olympus")
    assert list(bad.value.fields) == ["timezone"]
    assert api.openapi()["openapi"] == "3.1.0"


def test_the_clients_names_never_shadow_the_packages():
    """A script importing both the package and the client never gets two classes of one
    name: the client's errors are named for the HTTP answer and its records say so."""
    import django_notify
    import django_notify.exceptions

    shared = set(client_module.__all__) & (
        set(django_notify.__all__) | set(dir(django_notify.exceptions))
    )
    assert shared == set()
    assert client_module.SendForbidden.__mro__[1] is client_module.Forbidden
