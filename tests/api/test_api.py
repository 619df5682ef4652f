"""The JSON API end to end through Django's test client: authentication and CSRF, the
error shape, every endpoint's allowed and refused cases, IDOR attempts, keyset
pagination and its query budget. Every answer is also checked against the OpenAPI
document (tests/support/api.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify import notify, send, send_system
from django_notify.api.pagination import encode_cursor
from django_notify.api.views import notifications as notification_views
from django_notify.conf import app_settings
from django_notify.models import (
    ApiToken,
    NotificationPreference,
    NotificationReceipt,
    NotificationTemplate,
    PlatformAlert,
    RecipientSettings,
)
from django_notify.policy import SenderRule
from tests.support.api import Api, assert_error_shape, check_against_document, url
from tests.support.notify_settings import notify_override

pytest_plugins = ["tests.support.api"]
pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [n["id"] for n in response.json()["results"]]


# --- authentication ------------------------------------------------------------------------


def test_anonymous_gets_401_with_the_error_shape(api_for):
    response = api_for().get(url("api-list"))
    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer dn_unknownkey", "Bearer ", "bearer"])
def test_bad_tokens_get_401(world, header):
    response = Api(Client()).get(url("api-list"), headers={"Authorization": header})
    assert_error_shape(response, 401, "not_authenticated")


def test_expired_revoked_and_inactive_tokens_get_401(world):
    expired, expired_key = ApiToken.create(world.ada, "old", expires_at=timezone.now())
    revoked, revoked_key = ApiToken.create(world.ada, "revoked")
    revoked.is_active = False
    revoked.save()
    _t, bob_key = ApiToken.create(world.bob, "bob")
    world.bob.is_active = False
    world.bob.save()
    for key in (expired_key, revoked_key, bob_key):
        assert_error_shape(Api(Client(), key).get(url("api-list")), 401, "not_authenticated")


def test_a_token_authenticates_and_records_its_use(world, api_for):
    notify([world.ada], title="hello")
    token, key = ApiToken.create(world.ada, "script")
    response = Api(Client(), key).get(url("api-list"))
    assert response.status_code == 200
    assert [n["title"] for n in response.json()["results"]] == ["hello"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_session_authenticates(world):
    notify([world.ada], title="hello")
    client = Client()
    client.force_login(world.ada)
    response = Api(client).get(url("api-unread-count"))
    assert response.json() == {"unread_count": 1}


def test_another_authorization_scheme_leaves_the_session_in_charge(world):
    client = Client()
    client.force_login(world.ada)
    response = Api(client).get(url("api-unread-count"), headers={"Authorization": "Basic eDp5"})
    assert response.status_code == 200


def test_the_openapi_document_needs_no_login(db):
    response = Api(Client()).get(url("api-openapi"))
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


# --- CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.ada)
    return client


def test_cookie_sessions_need_the_csrf_token_for_unsafe_methods(world, csrf_client, Notification):
    (row,) = notify([world.ada], title="hello")
    api = Api(csrf_client)
    for method, path in (
        ("POST", url("api-mark-all-read")),
        ("POST", url("api-read", row.pk)),
        ("DELETE", url("api-detail", row.pk)),
        ("PATCH", url("api-preferences")),
    ):
        response = api.request(method, path, {})
        error = assert_error_shape(response, 403, "csrf_failed")
        assert "CSRF" in error["message"]
    row.refresh_from_db()
    assert row.read_at is None and row.dismissed_at is None
    # Reading needs no token.
    assert api.get(url("api-list")).status_code == 200


def test_the_csrf_token_lets_a_cookie_session_through(world, csrf_client):
    (row,) = notify([world.ada], title="hello")
    secret = "a" * 32
    csrf_client.cookies["csrftoken"] = secret
    response = Api(csrf_client).post(url("api-read", row.pk), headers={"X-CSRFToken": secret})
    assert response.json() == {"changed": True, "unread_count": 0}


def test_a_forged_origin_is_refused_even_with_the_token(world, csrf_client):
    secret = "b" * 32
    csrf_client.cookies["csrftoken"] = secret
    response = Api(csrf_client).post(
        url("api-mark-all-read"),
        headers={"X-CSRFToken": secret, "Origin": "https://evil.example"},
    )
    assert_error_shape(response, 403, "csrf_failed")


def test_token_requests_are_csrf_exempt(world):
    (row,) = notify([world.ada], title="hello")
    _t, key = ApiToken.create(world.ada, "script")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.ada)  # a cookie as well: the token decides
    response = Api(client, key).post(url("api-read", row.pk))
    assert response.json()["changed"] is True


# --- the error shape for framework-level failures -------------------------------------------


def test_unknown_api_paths_are_json_404s(world, api_for):
    api = api_for(world.ada)
    for method in ("GET", "POST", "DELETE"):
        response = api.request(method, "/notifications/api/nothing-here/")
        assert_error_shape(response, 404, "not_found")
    # No trailing slash: still JSON, with a hint.
    error = assert_error_shape(api.get("/notifications/api/notifications"), 404)
    assert "slash" in error["message"]
    # A non-numeric id does not match the route.
    assert_error_shape(api.get("/notifications/api/notifications/abc/"), 404, "not_found")


def test_wrong_methods_get_405_with_allow(world, api_for):
    api = api_for(world.ada)
    response = api.request("PUT", url("api-list"), {})
    assert_error_shape(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    response = api.request("GET", url("api-mark-all-read"))
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"
    # Checked before authentication: the method set is no secret.
    assert Api(Client()).request("PUT", url("api-list")).status_code == 405


def test_options_and_head(world, api_for):
    api = api_for(world.ada)
    response = api.client.options(url("api-detail", 1), headers=api.headers)
    assert response.status_code == 200
    assert response["Allow"] == "GET, HEAD, DELETE, OPTIONS"
    response = api.client.head(url("api-unread-count"), headers=api.headers)
    assert response.status_code == 200 and response.content == b""


def test_a_bug_is_a_logged_json_500_not_an_html_page(world, monkeypatch, caplog):
    def broken(user):
        raise RuntimeError("a bug")

    monkeypatch.setattr(notification_views, "_unread_count", broken)
    _t, key = ApiToken.create(world.ada, "t")
    client = Client(raise_request_exception=False)
    response = client.get(url("api-unread-count"), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 500
    assert_error_shape(response, 500, "server_error")
    assert "a bug" not in response.content.decode()  # no internals leak
    assert any("a bug" in r.exc_text for r in caplog.records if r.exc_text)


def test_answers_are_not_cached(world, api_for):
    response = api_for(world.ada).get(url("api-list"))
    assert response["Cache-Control"] == "private, no-store"


# --- bad input: 400 with field errors ---------------------------------------------------------


@pytest.fixture
def ada(world, api_for):
    return api_for(world.ada)


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"{", "malformed_json"),
        (b'{"ids": [1,]}', "malformed_json"),
        (b'{"ids": [NaN]}', "malformed_json"),
        (b'{"ids": [Infinity]}', "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, "too_large"),
        (b"[1, 2]", "invalid"),
        (b'"ids"', "invalid"),
        (b"null", "invalid"),
    ],
)
def test_unreadable_bodies(ada, raw, code):
    status = 413 if code == "too_large" else 400
    assert_error_shape(ada.post(url("api-mark-read"), raw=raw), status, code)


def test_deep_json_is_malformed_or_refused_never_a_crash(ada):
    deep = b'{"ids": [1], "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    with notify_override(MAX_REQUEST_BYTES=100_000):
        error = assert_error_shape(ada.post(url("api-mark-read"), raw=deep), 400)
    assert error["code"] in {"malformed_json", "invalid"}


def test_wrong_types_name_each_field(ada):
    error = assert_error_shape(
        ada.post(url("api-mark-read"), {"ids": [1, "2", True, 1.5, -3, 2**64]}), 400, "invalid"
    )
    assert error["fields"] == {
        "ids[1]": ["Must be an integer."],
        "ids[2]": ["Must be an integer."],
        "ids[3]": ["Must be an integer."],
        "ids[4]": ["Must be at least 1."],
        "ids[5]": [f"Must be at most {2**63 - 1}."],
    }


def test_bounds_of_lists(ada):
    assert assert_error_shape(ada.post(url("api-mark-read"), {"ids": []}), 400)["fields"] == {
        "ids": ["May not be empty."]
    }
    error = assert_error_shape(ada.post(url("api-mark-read"), {"ids": list(range(1, 102))}), 400)
    assert error["fields"] == {"ids": ["At most 100 items (got 101)."]}
    error = assert_error_shape(ada.post(url("api-mark-read"), {}), 400)
    assert error["fields"] == {"ids": ["This field is required."]}


def test_unknown_fields_and_parameters_are_refused(ada):
    error = assert_error_shape(ada.post(url("api-mark-read"), {"ids": [1], "idz": [2]}), 400)
    assert error["fields"] == {"idz": ["Unknown field."]}
    # An endpoint without a body refuses one with fields.
    error = assert_error_shape(ada.post(url("api-mark-all-read"), {"all": True}), 400)
    assert error["fields"] == {"all": ["Unknown field."]}
    error = assert_error_shape(ada.get(url("api-list"), {"unread": "true", "sort": "x"}), 400)
    assert error["fields"] == {"sort": ["Unknown parameter."]}
    error = assert_error_shape(ada.get(url("api-unread-count"), {"x": "1"}), 400)
    assert error["fields"] == {"x": ["Unknown parameter."]}
    error = assert_error_shape(ada.post(url("api-mark-all-read"), query={"force": "1"}), 400)
    assert error["fields"] == {"force": ["Unknown parameter."]}


def test_bad_query_values(ada):
    cases = {
        "unread=maybe": {"unread": ["Must be true or false."]},
        "limit=0": {"limit": ["Must be at least 1."]},
        f"limit={app_settings.API_MAX_PAGE_SIZE + 1}": {
            "limit": [f"Must be at most {app_settings.API_MAX_PAGE_SIZE}."]
        },
        "limit=ten": {"limit": ["Must be an integer."]},
        "limit=1&limit=2": {"limit": ["Give this parameter once."]},
        "since=yesterday": {
            "since": ["Must be an ISO 8601 date-time, e.g. 2026-12-01T06:00:00+00:00."]
        },
        "since=2026-13-01T00:00:00": {
            "since": ["Must be an ISO 8601 date-time, e.g. 2026-12-01T06:00:00+00:00."]
        },
        "since=0001-01-01T00:00:00%2B01:00": {"since": ["Date-time out of range."]},
        "priority=urgent": {"priority[0]": ["Must be one of: low, normal, high, critical."]},
        "category=%00": {"category": ["Must not contain NUL characters."]},
    }
    for query, fields in cases.items():
        response = ada.client.get(f"{url('api-list')}?{query}", headers=ada.headers)
        check_against_document("GET", url("api-list"), response)
        assert assert_error_shape(response, 400, "invalid")["fields"] == fields, query


def test_invalid_cursors(ada, world):
    notify([world.ada], title="one")
    for cursor in ("zz", "!!!", "bm90IGEgY3Vyc29y", encode_cursor(None, 5), "a" * 150):
        error = assert_error_shape(ada.get(url("api-list"), {"cursor": cursor}), 400)
        assert error["code"] == "invalid_cursor" and list(error["fields"]) == ["cursor"]


def test_text_the_database_cannot_store_is_refused(ada):
    for bad in ("a\x00b", "\ud800"):
        body = json.dumps({"title": bad}).encode()
        error = assert_error_shape(ada.post(url("api-send-to-self"), raw=body), 400, "invalid")
        assert list(error["fields"]) == ["title"]
        body = json.dumps({"title": "t", "meta_data": {"k": [bad]}}).encode()
        error = assert_error_shape(ada.post(url("api-send-to-self"), raw=body), 400, "invalid")
        assert list(error["fields"]) == ["meta_data"]


def test_field_names_that_cannot_be_encoded_are_echoed_escaped(ada):
    raw = b'{"ids": [1], "\\ud800": 1, "pre\\u0000fs": {"\\udc00": true}}'
    error = assert_error_shape(ada.post(url("api-mark-read"), raw=raw), 400, "invalid")
    assert error["fields"] == {"\\ud800": ["Unknown field."], "pre\x00fs": ["Unknown field."]}
    raw = b'{"preferences": {"\\ud800": {"email_enabled": true}}}'
    error = assert_error_shape(ada.patch(url("api-preferences"), raw=raw), 400, "invalid")
    assert error["fields"] == {"preferences.\\ud800": ["Must be valid Unicode text."]}


def test_huge_payloads_are_refused_before_parsing(ada):
    limit = app_settings.MAX_REQUEST_BYTES
    body = json.dumps({"title": "t", "description": "x" * limit}).encode()
    error = assert_error_shape(ada.post(url("api-send-to-self"), raw=body), 413, "too_large")
    assert str(limit) in error["message"] and "MAX_REQUEST_BYTES" in error["message"]
    with notify_override(MAX_REQUEST_BYTES=100):
        error = assert_error_shape(
            ada.post(url("api-send-to-self"), {"title": "x" * 200}), 413, "too_large"
        )
    # Under Django's own cap too (DATA_UPLOAD_MAX_MEMORY_SIZE), still the API's error.
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
        response = ada.client.generic(
            "POST", url("api-send-to-self"), body, content_type="application/json",
            headers=ada.headers,
        )  # fmt: skip
        assert_error_shape(response, 413, "too_large")


# --- the feed ----------------------------------------------------------------------------------


def _feed_rows(world, n: int, *, start=None) -> list:
    """``n`` direct rows for ada, one minute apart, newest last."""
    start = start or timezone.now() - timedelta(days=1)
    return [
        notify([world.ada], title=f"row {i}", created_at=start + timedelta(minutes=i))[0]
        for i in range(n)
    ]


def test_list_is_newest_first_in_the_contract_shape(ada, world):
    rows = _feed_rows(world, 3)
    data = ada.get(url("api-list")).json()
    assert [n["id"] for n in data["results"]] == [r.pk for r in reversed(rows)]
    assert data["next_cursor"] is None
    first = data["results"][0]
    assert first["created_at"] == rows[-1].created_at.isoformat()  # microseconds kept
    assert first["link"] == "" and first["scope"] == "user" and first["is_read"] is False


def test_list_shows_actor_target_sender_and_link(ada, world):
    send(world.bob, title="Review", description="<p>Look <script>x</script></p>",
         target_user=world.ada, actor=world.bob, target=world.team, url="/jobs/3/",
         action_url="/jobs/3/act/", action_required=True, priority="high",
         notification_type="task.created", meta_data={"job": 3})  # fmt: skip
    (n,) = ada.get(url("api-list")).json()["results"]
    assert n["actor"] == {"type": "auth.user", "id": str(world.bob.pk), "name": "bob"}
    assert n["target"] == {"type": "testapp.team", "id": str(world.team.pk),
                           "name": "research"}  # fmt: skip
    assert n["sender"] == {"id": world.bob.pk, "name": "bob"}
    assert n["link"] == "/jobs/3/" and n["action_url"] == "/jobs/3/act/"
    assert n["priority"] == "high" and n["action_required"] is True
    assert n["notification_type"] == "task.created" and n["category"] == "tasks"
    assert "<script>" not in n["description"] and n["description_text"].startswith("Look")
    assert n["meta_data"] == {"job": 3} and n["type"] == "IN"
    assert n["level_label"] == "Information"


def test_list_filters(ada, world, Notification):
    now = timezone.now()
    old = notify([world.ada], title="old", created_at=now - timedelta(days=3))[0]
    high = notify([world.ada], title="high", priority="high", created_at=now - timedelta(hours=2))[
        0
    ]
    crit = notify([world.ada], "task.created", title="crit", priority="critical", level="IM",
                  created_at=now - timedelta(hours=1))[0]  # fmt: skip
    old.mark_read(world.ada)

    def titles(**query):
        return [n["title"] for n in ada.get(url("api-list"), query).json()["results"]]

    assert titles(unread="true") == ["crit", "high"]
    assert titles(unread="false") == ["old"]
    assert titles(level="IM") == ["crit"]
    assert titles(type="task.created") == ["crit"]
    assert titles(category="tasks") == ["crit"]
    assert titles(category="digests") == []
    assert titles(priority="high") == ["high"]
    assert titles(priority="high,critical") == ["crit", "high"]
    assert titles(priority=["high", "critical"]) == ["crit", "high"]
    assert titles(since=(now - timedelta(days=1)).isoformat()) == ["crit", "high"]
    # A "+" that was not percent-encoded arrives as a space; still understood.
    since = (now - timedelta(hours=1, minutes=30)).isoformat().replace("+", " ")
    response = ada.client.get(f"{url('api-list')}?since={since}", headers=ada.headers)
    assert [n["title"] for n in response.json()["results"]] == ["crit"]
    error = assert_error_shape(ada.get(url("api-list"), {"type": "task.nope"}), 400)
    assert list(error["fields"]) == ["type"]
    assert high.pk and crit.pk


def test_pagination_walks_every_row_once(ada, world):
    rows = _feed_rows(world, 7)
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        data = ada.get(url("api-list"), query).json()
        seen += [n["id"] for n in data["results"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [r.pk for r in reversed(rows)]


def test_pagination_is_stable_under_concurrent_inserts(ada, world):
    """Newer rows arriving between page fetches shift nothing: the older rows come
    exactly once each, none skipped."""
    older = _feed_rows(world, 25)
    page1 = ada.get(url("api-list"), {"limit": 10}).json()
    # Five newer rows (and one with the same timestamp as the page's last row: the pk
    # breaks the tie).
    _feed_rows(world, 5, start=timezone.now())
    boundary = older[-10].created_at
    notify([world.ada], title="same instant", created_at=boundary)
    page2 = ada.get(url("api-list"), {"limit": 10, "cursor": page1["next_cursor"]}).json()
    _feed_rows(world, 5, start=timezone.now() + timedelta(hours=1))
    page3 = ada.get(url("api-list"), {"limit": 10, "cursor": page2["next_cursor"]}).json()
    assert page3["next_cursor"] is None
    walked = [n["id"] for p in (page1, page2, page3) for n in p["results"]]
    assert len(walked) == len(set(walked)), "no duplicates"
    expected = [r.pk for r in reversed(older)]
    assert [i for i in walked if i in set(expected)] == expected, "no gaps, same order"


def _mixed_feed(world, n: int) -> None:
    """``n`` rows of all four scopes for ada, actors and targets alternating between
    users and teams, senders set where a sender exists."""
    for i in range(n):
        actor = world.bob if i % 2 == 0 else world.team
        target = world.team if i % 2 == 0 else world.bob
        content = {"actor": actor, "target": target, "title": f"mixed {i}"}
        match i % 4:
            case 0:
                send(world.bob, target_user=world.ada, **content)
            case 1:
                send(world.admin, target_team=world.team, **content)
            case 2:
                send(world.admin, is_global=True, **content)
            case 3:
                send_system(world.staff, **content)


@pytest.mark.parametrize("size", [2, 20])
def test_a_page_costs_the_same_queries_whatever_it_holds(
    world, size, django_assert_num_queries, Notification
):
    """2 rows or 20, with actor, target and sender on each: the same queries."""
    _mixed_feed(world, 24)
    _t, key = ApiToken.create(world.ada, "count")
    api = Api(Client(), key)
    api.get(url("api-list"), {"limit": 1})  # the token's last_used_at write happens once
    # token + page (with the unread count, and the users among senders, actors and
    # targets) + the other model among actors and targets
    with django_assert_num_queries(1 + 1 + 1):
        data = api.get(url("api-list"), {"limit": size}).json()
    assert len(data["results"]) == size
    assert {n["actor"]["type"] for n in data["results"]} == {"auth.user", "testapp.team"}
    assert all(n["sender"] for n in data["results"])


def test_the_query_budget_holds_on_later_pages_and_with_filters(world):
    _mixed_feed(world, 24)
    _t, key = ApiToken.create(world.ada, "count")
    api = Api(Client(), key)
    first = api.get(url("api-list"), {"limit": 4}).json()
    counts = []
    for query in (
        {"limit": 4, "cursor": first["next_cursor"]},
        {"limit": 12, "cursor": first["next_cursor"], "unread": "true", "priority": "normal"},
    ):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url("api-list"), query).status_code == 200
        counts.append(len(ctx.captured_queries))
    print(f"\n[query-counts] API list page: {counts} queries (4 rows, 12 rows filtered)")
    assert counts == [3, 3]


def test_detail(ada, world):
    (row,) = notify([world.ada], title="mine")
    assert ada.get(url("api-detail", row.pk)).json()["title"] == "mine"
    assert_error_shape(ada.get(url("api-detail", 999_999)), 404, "not_found")
    # Beyond a 64-bit key: nothing can exist there, and no database error either.
    assert_error_shape(ada.get(url("api-detail", 2**70)), 404, "not_found")


def test_unread_count_recent_and_stats(ada, world):
    _feed_rows(world, 12)
    notify([world.ada], "task.created", title="act", action_required=True, priority="high",
           level="IM")  # fmt: skip
    send(world.admin, title="team", target_team=world.team)
    read = notify([world.ada], title="read")[0]
    read.mark_read(world.ada)
    assert ada.get(url("api-unread-count")).json() == {"unread_count": 14}
    recent = ada.get(url("api-recent")).json()
    assert len(recent["results"]) == 10 and recent["unread_count"] == 14
    assert len(ada.get(url("api-recent"), {"limit": 3}).json()["results"]) == 3
    stats = ada.get(url("api-stats")).json()
    assert stats == {
        "total": 15, "unread": 14, "read": 1,
        "by_type": {"": 14, "task.created": 1},
        "by_priority": {"normal": 14, "high": 1},
        "by_level": {"IN": 14, "IM": 1},
        "action_required": 1,
    }  # fmt: skip


# --- read state and dismissal ---------------------------------------------------------------


def test_read_and_unread_one(ada, world):
    (row,) = notify([world.ada], title="one")
    assert ada.post(url("api-read", row.pk)).json() == {"changed": True, "unread_count": 0}
    assert ada.post(url("api-read", row.pk)).json() == {"changed": False, "unread_count": 0}
    assert ada.get(url("api-detail", row.pk)).json()["is_read"] is True
    assert ada.post(url("api-unread", row.pk)).json() == {"changed": True, "unread_count": 1}


def test_reading_a_broadcast_is_per_user(ada, world, api_for):
    (row,) = send(world.admin, title="team news", target_team=world.team)
    assert ada.post(url("api-read", row.pk)).json()["changed"] is True
    assert api_for(world.bob).get(url("api-unread-count")).json() == {"unread_count": 1}
    assert NotificationReceipt.objects.filter(notification=row).count() == 1


def test_mark_read_many_is_all_or_nothing(ada, world, Notification):
    mine = [notify([world.ada], title=f"m{i}")[0] for i in range(3)]
    (bobs,) = notify([world.bob], title="bob's")
    response = ada.post(url("api-mark-read"), {"ids": [mine[0].pk, bobs.pk]})
    assert_error_shape(response, 404, "not_found")
    assert Notification.objects.unread(world.ada).count() == 3
    response = ada.post(url("api-mark-read"), {"ids": [mine[0].pk, mine[1].pk, mine[1].pk]})
    assert response.json() == {"marked": 2, "unread_count": 1}
    response = ada.post(url("api-mark-read"), {"ids": [mine[0].pk]})
    assert response.json() == {"marked": 0, "unread_count": 1}


def test_mark_all_read_and_dismiss_all(ada, world, Notification):
    _feed_rows(world, 3)
    send(world.admin, title="org", is_global=True)
    (bobs,) = notify([world.bob], title="bob's")
    assert ada.post(url("api-mark-all-read")).json() == {"marked": 4, "unread_count": 0}
    assert ada.post(url("api-dismiss-all")).json() == {"dismissed": 4, "unread_count": 0}
    assert ada.get(url("api-list")).json()["results"] == []
    bobs.refresh_from_db()
    assert bobs.read_at is None and bobs.dismissed_at is None


def test_dismiss_by_post_and_by_delete(ada, world):
    first, second = notify([world.ada], title="a")[0], notify([world.ada], title="b")[0]
    assert ada.post(url("api-dismiss", first.pk)).json() == {"changed": True, "unread_count": 1}
    # A second dismiss (a double click) is no error.
    assert ada.post(url("api-dismiss", first.pk)).json()["changed"] is False
    assert ada.delete(url("api-detail", second.pk)).json() == {"changed": True, "unread_count": 0}
    assert_error_shape(ada.get(url("api-detail", first.pk)), 404, "not_found")
    assert_error_shape(ada.post(url("api-read", first.pk)), 404, "not_found")


def test_expired_rows_are_not_found(ada, world):
    (row,) = notify([world.ada], title="gone", expires_at=timezone.now() - timedelta(seconds=1))
    assert_error_shape(ada.get(url("api-detail", row.pk)), 404, "not_found")
    assert ada.get(url("api-list")).json()["results"] == []


# --- IDOR: other people's and other organizations' ids ------------------------------------------


@pytest.fixture
def foreign_rows(world):
    """Rows ada must never reach: bob's direct one, another organization's broadcast,
    another organization's team row, eve's direct one."""
    return {
        "bob direct": notify([world.bob], title="bob's")[0],
        "eve direct": notify([world.eve], title="eve's")[0],
        "other org": _org_broadcast(world),
        "other team": send_system(world.staff, title="globex team", target_team=world.other_team)[
            0
        ],
    }


def _org_broadcast(world):
    from tests.testapp.models import Membership

    Membership.objects.filter(user=world.eve).update(role="ORG_ADMIN")
    return send(world.eve, title="globex all", is_global=True)[0]


def test_idor_every_id_endpoint_answers_404_and_changes_nothing(
    ada, world, foreign_rows, Notification
):
    for label, row in foreign_rows.items():
        for method, path in (
            ("GET", url("api-detail", row.pk)),
            ("POST", url("api-read", row.pk)),
            ("POST", url("api-unread", row.pk)),
            ("POST", url("api-dismiss", row.pk)),
            ("DELETE", url("api-detail", row.pk)),
        ):
            response = ada.request(method, path)
            assert_error_shape(response, 404, "not_found")
            assert "not visible" not in response.json()["error"]["message"], label
        assert_error_shape(ada.post(url("api-mark-read"), {"ids": [row.pk]}), 404, "not_found")
    # Nothing changed anywhere: no receipts for ada, direct rows untouched.
    assert not NotificationReceipt.objects.filter(user=world.ada).exists()
    for row in (foreign_rows["bob direct"], foreign_rows["eve direct"]):
        row.refresh_from_db()
        assert row.read_at is None and row.dismissed_at is None
    # The bulk actions only touch ada's own feed.
    ada.post(url("api-mark-all-read"))
    ada.post(url("api-dismiss-all"))
    assert not NotificationReceipt.objects.filter(user=world.ada).exists()
    assert Notification.objects.unread(world.bob).count() == 1
    assert Notification.objects.unread(world.eve).count() == 3


def test_a_missing_row_and_a_foreign_row_answer_alike(ada, world, foreign_rows):
    missing = ada.get(url("api-detail", 10**9)).json()
    foreign = ada.get(url("api-detail", foreign_rows["bob direct"].pk)).json()
    assert missing == foreign


# --- sending -------------------------------------------------------------------------------------


def test_send_to_a_teammate(ada, world, api_for, Notification):
    response = ada.post(
        url("api-send"),
        {"type": "IN", "title": "Dataset ready", "description": "The dataset finished loading.",
         "target_user": world.bob.pk},
    )  # fmt: skip
    assert response.status_code == 201
    (sent,) = response.json()["results"]
    assert sent["title"] == "Dataset ready" and sent["scope"] == "user"
    assert sent["sender"] == {"id": world.ada.pk, "name": "ada"}
    assert api_for(world.bob).get(url("api-unread-count")).json() == {"unread_count": 1}


def test_send_to_teams_users_and_the_organization(ada, world, api_for):
    response = ada.post(url("api-send"), {"title": "t", "target_team": world.team.pk})
    assert [n["scope"] for n in response.json()["results"]] == ["team"]
    response = ada.post(url("api-send"), {"title": "t", "team_ids": [str(world.team.pk)]})
    assert response.status_code == 201
    response = ada.post(url("api-send"), {"title": "t", "user_ids": [world.bob.pk, world.ada.pk]})
    assert len(response.json()["results"]) == 2
    response = ada.post(url("api-send"), {"title": "everyone", "is_global": True})
    assert_error_shape(response, 403, SenderRule.ORG_GLOBAL_ADMIN_ONLY.code)
    admin = api_for(world.admin)
    response = admin.post(url("api-send"), {"title": "everyone", "is_global": True,
                                            "meta_data": {"team_name": "all"}})  # fmt: skip
    assert response.json()["results"][0]["scope"] == "organization"


@pytest.mark.parametrize(
    "who, body, rule",
    [
        ("light", {"target_user": "bob"}, SenderRule.LIGHT_USER_SELF_ONLY),
        ("light", {"target_team": "team"}, SenderRule.LIGHT_USER_NO_TEAMS),
        ("ada", {"target_user": "eve"}, SenderRule.ORG_SAME_ORGANIZATION_USER),
        ("ada", {"target_team": "other_team"}, SenderRule.ORG_SAME_ORGANIZATION_TEAM),
        ("ada", {"user_ids": ["bob", "eve"]}, SenderRule.ORG_SAME_ORGANIZATION_USER),
        ("admin", {"target_user": "eve"}, SenderRule.ORG_SAME_ORGANIZATION_USER),
    ],
)
def test_sender_rules_refuse_with_their_code_and_message(
    world, api_for, who, body, rule, Notification
):
    def pk(name):
        return getattr(world, name).pk

    resolved = {k: [pk(v) for v in val] if isinstance(val, list) else pk(val)
                for k, val in body.items()}  # fmt: skip
    before = Notification.objects.count()
    response = api_for(getattr(world, who)).post(url("api-send"), {"title": "t", **resolved})
    error = assert_error_shape(response, 403, rule.code)
    assert error["message"] == rule.message and error["fields"] == {}
    assert Notification.objects.count() == before


def test_send_input_errors_name_the_field(ada, world, Notification):
    cases = [
        ({"title": "t"}, ["target_user"]),
        ({"title": "t", "target_user": world.bob.pk, "target_team": world.team.pk},
         ["target_user", "target_team"]),
        ({"title": "t", "target_user": world.bob.pk, "is_global": True},
         ["target_user", "is_global"]),
        ({"target_user": world.bob.pk}, ["title"]),
        ({"title": "", "target_user": world.bob.pk}, ["title"]),
        ({"title": "t", "target_user": 999_999}, ["target_user"]),
        ({"title": "t", "target_team": 999_999}, ["target_team"]),
        ({"title": "t", "user_ids": []}, ["user_ids"]),
        ({"title": "t", "target_user": world.bob.pk, "priority": "urgent"}, ["priority"]),
        ({"title": "t", "target_user": world.bob.pk, "type": "XX"}, ["type"]),
        ({"title": "t", "target_user": world.bob.pk, "url": "javascript:alert(1)"}, ["url"]),
        ({"title": "t", "target_user": world.bob.pk, "action_url": "//evil.example"},
         ["action_url"]),
        ({"title": "t", "target_user": world.bob.pk, "meta_data": [1]}, ["meta_data"]),
        ({"title": "t", "target_user": world.bob.pk, "notification_type": "nope"},
         ["notification_type"]),
        ({"title": "t", "target_user": world.bob.pk, "expires_at": "soon"}, ["expires_at"]),
        ({"title": "t" * 256, "target_user": world.bob.pk}, ["title"]),
        ({"title": "t", "target_user": world.bob.pk, "sender": world.admin.pk}, ["sender"]),
    ]  # fmt: skip
    for body, fields in cases:
        error = assert_error_shape(ada.post(url("api-send"), body), 400, "invalid")
        assert sorted(error["fields"]) == sorted(fields), body
    assert Notification.objects.count() == 0


def test_send_to_self(ada, world):
    response = ada.post(url("api-send-to-self"), {"type": "IN", "title": "Sync complete",
                                                  "description": "Done."})  # fmt: skip
    assert response.status_code == 201
    assert ada.get(url("api-list")).json()["results"][0]["title"] == "Sync complete"
    error = assert_error_shape(
        ada.post(url("api-send-to-self"), {"title": "t", "target_user": world.bob.pk}), 400
    )
    assert error["fields"] == {"target_user": ["Unknown field."]}


def test_send_system(world, api_for):
    response = api_for(world.ada).post(url("api-send-system"), {"title": "t", "is_global": True})
    error = assert_error_shape(response, 403, SenderRule.SYSTEM_STAFF_ONLY.code)
    assert error["message"] == SenderRule.SYSTEM_STAFF_ONLY.message
    staff = api_for(world.staff)
    response = staff.post(
        url("api-send-system"),
        {"type": "IM", "title": "Planned maintenance", "is_global": True,
         "description": "Platform maintenance starts at 22:00 UTC."},
    )  # fmt: skip
    assert response.status_code == 201 and response.json()["results"][0]["scope"] == "system"
    assert api_for(world.eve).get(url("api-unread-count")).json() == {"unread_count": 1}
    # With a target in another organization: system rules allow it.
    response = staff.post(url("api-send-system"), {"title": "t", "target_user": world.eve.pk})
    assert response.status_code == 201


def test_rate_limited_sends_get_429_with_retry_after(ada, world, Notification):
    with notify_override(RATE_LIMITS={"sender": "2/minute"}):
        for _ in range(2):
            assert ada.post(url("api-send-to-self"), {"title": "t"}).status_code == 201
        response = ada.post(url("api-send-to-self"), {"title": "t"})
        error = assert_error_shape(response, 429, "rate_limited")
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "at most 2" in error["message"]
    # A batch that alone is over the limit: no Retry-After (waiting will not help).
    bob = Api(Client(), ApiToken.create(world.bob, "t")[1])
    with notify_override(RATE_LIMITS={"sender": "1/minute"}):
        body = {"title": "t", "user_ids": [world.bob.pk, world.ada.pk]}
        response = bob.post(url("api-send"), body)
        assert_error_shape(response, 429, "rate_limited")
        assert "Retry-After" not in response
    assert Notification.objects.count() == 2


# --- preferences ----------------------------------------------------------------------------------


def test_preferences_get(ada):
    data = ada.get(url("api-preferences")).json()
    alert = next(t for t in data["types"] if t["notification_type"] == "test.alert")
    assert alert["channels"]["email"]["enabled"] is True
    assert {c["name"] for c in data["channels"]} >= {"in_app", "email", "outbox"}
    assert [f["value"] for f in data["frequencies"]] == ["immediate", "hourly", "daily", "weekly"]
    assert "alerts" in [c["key"] for c in data["categories"]]
    assert data["quiet_hours"] is None


def test_preferences_patch_and_reset(ada, world):
    data = ada.patch(
        url("api-preferences"),
        {
            "preferences": [
                {"notification_type": "test.alert", "channel": "email", "enabled": False},
                {"category": "digests", "channel": "email", "frequency": "weekly"},
            ],
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "timezone": "Europe/Paris",
            "language": "fr",
        },
    ).json()
    alert = next(t for t in data["types"] if t["notification_type"] == "test.alert")
    news = next(t for t in data["types"] if t["notification_type"] == "test.news")
    assert alert["channels"]["email"] == {"enabled": False, "frequency": "immediate",
                                          "source": "user: type", "required": False}  # fmt: skip
    assert news["channels"]["email"]["frequency"] == "weekly"
    assert data["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert (data["timezone"], data["language"]) == ("Europe/Paris", "fr")
    # The mapping form by type.
    data = ada.patch(
        url("api-preferences"), {"preferences": {"test.alert": {"email_enabled": True}}}
    ).json()
    alert = next(t for t in data["types"] if t["notification_type"] == "test.alert")
    assert alert["channels"]["email"]["enabled"] is True
    assert ada.patch(url("api-preferences"), {"quiet_hours": None}).json()["quiet_hours"] is None
    data = ada.post(url("api-preferences-reset")).json()
    assert not NotificationPreference.objects.filter(user=world.ada).exists()
    assert data["timezone"] == "Europe/Paris"  # reset is about the switches only


def test_preferences_errors_name_the_field_and_write_nothing(ada, world):
    cases = [
        ({"preferences": [{"channel": "pigeon", "enabled": True}]}, ["preferences[0].channel"]),
        ({"preferences": [{"channel": "email"}]}, ["preferences[0].enabled"]),
        ({"preferences": [{"channel": ["email"], "enabled": True}]}, ["preferences[0].channel"]),
        ({"preferences": [{"channel": "email", "enabled": "yes"}]}, ["preferences[0].enabled"]),
        ({"preferences": [{"channel": "email", "enabled": True, "x": 1}]}, ["preferences[0].x"]),
        ({"preferences": [{"notification_type": "test.security", "channel": "email",
                           "enabled": False}]}, ["preferences[0].enabled"]),
        ({"preferences": {"test.alert": {"email_enabled": [1]}}},
         ["preferences.test.alert.email_enabled"]),
        ({"preferences": {"test.alert": {"email_colour": "red"}}},
         ["preferences.test.alert.email_colour"]),
        ({"preferences": "all off"}, ["preferences"]),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, ["quiet_hours.start"]),
        ({"quiet_hours": {"start": "22:00"}}, ["quiet_hours.end"]),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, ["quiet_hours.end"]),
        ({"timezone": "Mars/Olympus"}, ["timezone"]),
        ({"language": "xx"}, ["language"]),
        ({"theme": "dark"}, ["theme"]),
        # One bad part: nothing of the request is written.
        ({"preferences": [{"notification_type": "test.alert", "channel": "email",
                           "enabled": False}], "timezone": "Nowhere/Else"}, ["timezone"]),
    ]  # fmt: skip
    for body, fields in cases:
        error = assert_error_shape(ada.patch(url("api-preferences"), body), 400, "invalid")
        assert list(error["fields"]) == fields, (body, error)
    assert not NotificationPreference.objects.filter(user=world.ada).exists()
    assert not RecipientSettings.objects.filter(user=world.ada).exists()


# --- message templates (staff) ------------------------------------------------------------


def test_templates_are_for_staff_only(world, api_for):
    template = NotificationTemplate.objects.create(
        notification_type="test.alert", channel="email", subject="s"
    )
    ada = api_for(world.ada)
    for method, path, body in (
        ("GET", url("api-templates"), None),
        ("POST", url("api-templates"), {"notification_type": "test.alert", "channel": "email"}),
        ("GET", url("api-template", template.pk), None),
        ("PATCH", url("api-template", template.pk), {"subject": "hacked"}),
    ):
        assert_error_shape(ada.request(method, path, body), 403, "permission_denied")
    template.refresh_from_db()
    assert template.subject == "s"


def test_templates_create_list_update(world, api_for):
    staff = api_for(world.staff)
    response = staff.post(
        url("api-templates"),
        {"notification_type": "test.alert", "channel": "email", "subject": "{{ title }}",
         "body": "Hello {{ recipient }}"},
    )  # fmt: skip
    assert response.status_code == 201
    created = response.json()
    assert created["subject"] == "{{ title }}" and created["is_active"] is True
    listed = staff.get(url("api-templates")).json()
    assert [t["id"] for t in listed["results"]] == [created["id"]]
    assert staff.get(url("api-templates"), {"channel": "slack"}).json()["results"] == []
    assert staff.get(url("api-template", created["id"])).json() == created
    updated = staff.patch(url("api-template", created["id"]), {"is_active": False}).json()
    assert updated["is_active"] is False and updated["subject"] == "{{ title }}"
    assert_error_shape(staff.get(url("api-template", 999_999)), 404, "not_found")
    assert_error_shape(staff.patch(url("api-template", 999_999), {"body": "x"}), 404)


def test_template_errors_name_the_field_and_line(world, api_for):
    staff = api_for(world.staff)
    error = assert_error_shape(
        staff.post(url("api-templates"), {"notification_type": "test.alert", "channel": "email",
                                          "body": "ok\n{% if %}"}),
        400, "invalid",
    )  # fmt: skip
    assert list(error["fields"]) == ["body"] and "line 2" in error["fields"]["body"][0]
    error = assert_error_shape(
        staff.post(url("api-templates"), {"notification_type": "nope", "channel": "pigeon"}), 400
    )
    assert sorted(error["fields"]) == ["channel", "notification_type"]
    staff.post(url("api-templates"), {"notification_type": "test.alert", "channel": "email"})
    error = assert_error_shape(
        staff.post(url("api-templates"), {"notification_type": "test.alert", "channel": "email"}),
        400,
    )
    assert list(error["fields"]) == ["__all__"]
    assert NotificationTemplate.objects.count() == 1


# --- alerts (staff) ----------------------------------------------------------------------


def test_alerts_are_for_staff_only(world, api_for):
    alert = PlatformAlert.objects.create(alert_type="system", severity="error", title="t",
                                         fingerprint="f")  # fmt: skip
    ada = api_for(world.ada)
    for method, path, body in (
        ("GET", url("api-alerts"), None),
        ("POST", url("api-alerts"), {"alert_type": "system", "severity": "info", "title": "x"}),
        ("POST", url("api-alert-resolve", alert.pk), {"notes": "no"}),
        ("GET", url("api-alert-stats"), None),
    ):
        assert_error_shape(ada.request(method, path, body), 403, "permission_denied")
    alert.refresh_from_db()
    assert not alert.is_resolved and PlatformAlert.objects.count() == 1


def test_alerts_raise_count_list_resolve_stats(world, api_for):
    staff = api_for(world.staff)
    body = {"alert_type": "integration", "severity": "error", "title": "Sync failed",
            "affected_systems": ["letzshop"], "affected_organizations": [world.org.pk]}  # fmt: skip
    first = staff.post(url("api-alerts"), body)
    assert first.status_code == 201 and first.json()["occurrence_count"] == 1
    again = staff.post(url("api-alerts"), {**body, "severity": "critical"})
    assert again.status_code == 200
    assert again.json()["occurrence_count"] == 2 and again.json()["severity"] == "critical"
    assert again.json()["affected_organizations"] == [str(world.org.pk)]
    staff.post(url("api-alerts"), {"alert_type": "security", "severity": "warning",
                                   "title": "Odd logins"})  # fmt: skip
    listed = staff.get(url("api-alerts"), {"resolved": "false", "limit": 1}).json()
    assert len(listed["results"]) == 1 and listed["next_cursor"]
    rest = staff.get(url("api-alerts"), {"resolved": "false", "cursor": listed["next_cursor"]})
    assert len(rest.json()["results"]) == 1
    assert [a["title"] for a in staff.get(url("api-alerts"), {"severity": "critical"})
            .json()["results"]] == ["Sync failed"]  # fmt: skip
    stats = staff.get(url("api-alert-stats")).json()
    assert (stats["active"], stats["critical"], stats["resolved_today"]) == (2, 1, 0)
    resolved = staff.post(url("api-alert-resolve", first.json()["id"]), {"notes": "Key rotated"})
    assert resolved.json()["is_resolved"] is True
    assert resolved.json()["resolved_by"] == {"id": world.staff.pk, "name": "staff"}
    assert resolved.json()["resolution_notes"] == "Key rotated"
    # Twice: unchanged, as stored.
    again = staff.post(url("api-alert-resolve", first.json()["id"]), {"notes": "other"})
    assert again.json()["resolution_notes"] == "Key rotated"
    assert staff.get(url("api-alert-stats")).json()["resolved_today"] == 1
    assert_error_shape(staff.post(url("api-alert-resolve", 999_999), {}), 404, "not_found")


def test_alert_input_errors(world, api_for):
    staff = api_for(world.staff)
    cases = [
        ({"alert_type": "system", "title": "t"}, ["severity"]),
        ({"alert_type": "system", "severity": "fatal", "title": "t"}, ["severity"]),
        ({"alert_type": "", "severity": "info", "title": "t"}, ["alert_type"]),
        ({"alert_type": "system", "severity": "info", "title": "t", "affected_systems": "api"},
         ["affected_systems"]),
        ({"alert_type": "system", "severity": "info", "title": "t", "meta_data": "x"},
         ["meta_data"]),
        ({"alert_type": "system", "severity": "info", "title": "t",
          "meta_data": {"blob": "x" * 20_000}}, ["meta_data"]),
    ]  # fmt: skip
    for body, fields in cases:
        error = assert_error_shape(staff.post(url("api-alerts"), body), 400, "invalid")
        assert list(error["fields"]) == fields, body
    assert not PlatformAlert.objects.exists()


# --- a user model the adapter knows nothing about ------------------------------------------------


def test_a_user_without_an_organization_sees_system_rows_only(api_for, world):
    loner = get_user_model().objects.create_user("loner", password="pw")
    send_system(world.staff, title="for everyone")
    send(world.admin, title="acme only", is_global=True)
    data = api_for(loner).get(url("api-list")).json()
    assert [n["title"] for n in data["results"]] == ["for everyone"]
    response = api_for(loner).post(url("api-send-to-self"), {"title": "me"})
    assert_error_shape(response, 403, SenderRule.ORG_SENDER_MEMBER.code)


@pytest.mark.parametrize(
    "method, name, body, queries",
    [
        # token, then the one counting query
        ("GET", "api-unread-count", None, 1 + 1),
        # token, one grouped query
        ("GET", "api-stats", None, 1 + 1),
        # token, the page with the count (+ senders, + actors and targets: 2 models)
        ("GET", "api-recent", None, 1 + (1 + 1)),
    ],
)
def test_other_reads_have_fixed_budgets(
    world, method, name, body, queries, django_assert_num_queries
):
    _mixed_feed(world, 24)
    _t, key = ApiToken.create(world.ada, "count")
    api = Api(Client(), key)
    api.get(url("api-unread-count"))  # the token's last_used_at write happens once
    with django_assert_num_queries(queries):
        assert api.request(method, url(name), body).status_code == 200


@pytest.mark.parametrize("name", ["api-mark-all-read", "api-dismiss-all"])
def test_bulk_actions_cost_the_same_for_4_rows_as_for_24(make_org, make_user, make_team, name):
    from tests.support.api import World

    counts = []
    for n in (4, 24):
        w = World.build(make_org, make_user, make_team)
        _mixed_feed(w, n)
        api = Api(Client(), ApiToken.create(w.ada, "count")[1])
        visible = api.get(url("api-unread-count")).json()["unread_count"]
        assert visible >= n  # and the system rows of the first round
        with CaptureQueriesContext(connection) as ctx:
            answer = api.post(url(name)).json()
        assert (
            answer[{"api-mark-all-read": "marked", "api-dismiss-all": "dismissed"}[name]] == visible
        )
        counts.append(len(ctx.captured_queries))
    print(f"\n[query-counts] {name}: {counts[0]} queries for 4 rows, {counts[1]} for 24")
    assert counts[0] == counts[1]


@pytest.mark.parametrize("value", ["0118-10-21T03:43:49+17:49", "2030-04-23T11:49:13-18:40"])
def test_far_offsets_are_stored_in_utc(
    value, make_org, make_user, django_capture_on_commit_callbacks
):
    """Found by schemathesis on PostgreSQL, which refuses offsets beyond ±15:59."""
    from django.test import Client

    user = make_user(org=make_org())
    client = Client()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/notifications/api/notifications/send-to-self/",
            {"title": "far", "expires_at": value},
            content_type="application/json",
        )
    assert response.status_code == 201, response.json()
    assert response.json()["results"][0]["expires_at"].endswith("+00:00")


def test_every_list_page_carries_the_unread_count(ada, world, Notification):
    _feed_rows(world, 12)
    read = notify([world.ada], title="read")[0]
    read.mark_read(world.ada)
    expected = Notification.objects.unread_count(world.ada)
    first = ada.get(url("api-list"), {"limit": 5}).json()
    assert first["unread_count"] == expected
    unread = ada.get(url("api-list"), {"limit": 5, "unread": "true"}).json()
    assert unread["unread_count"] == expected and len(unread["results"]) == 5
    later = ada.get(url("api-list"), {"limit": 5, "cursor": first["next_cursor"]}).json()
    assert later["unread_count"] == expected
    # An empty page still answers the count (then from a query of its own).
    empty = ada.get(url("api-list"), {"type": "task.created", "since": "2999-01-01T00:00:00Z"})
    assert empty.json() == {"results": [], "next_cursor": None, "unread_count": expected}


def test_with_unread_count_needs_a_feed(Notification, world):
    rows = Notification.objects.visible_to(world.ada).with_unread_count()[:3]
    assert {r.feed_unread_count for r in rows} <= {Notification.objects.unread_count(world.ada)}
    with pytest.raises(TypeError, match="visible_to"):
        Notification.objects.all().with_unread_count()
