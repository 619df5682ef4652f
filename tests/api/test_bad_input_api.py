"""Bad input that used to reach a 500 or drop a connection: each one is a 4xx in the
API's one error shape naming the field (or the limit), and nothing is written.

Through the real entry points: the API URLs with Django's test client (every answer is
also checked against the OpenAPI document by :class:`~tests.support.api.Api`),
``Notification.send`` / ``notify()`` / ``raise_alert()`` for Python callers, and the
event stream under ASGI in process (the cross-process stream, uvicorn and Redis, is in
tests/realtime/test_realtime_server.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import AsyncClient, Client, RequestFactory
from django.utils import timezone

from django_notify import notify
from django_notify.alerts import raise_alert
from django_notify.api.views import sending as api_views
from django_notify.conf import DEFAULTS
from django_notify.models import ApiToken, NotificationTemplate, PlatformAlert
from django_notify.realtime.brokers import reset_brokers
from django_notify.realtime.framing import Cursor
from django_notify.tenancy import DefaultTenancyAdapter, int_keys
from django_notify.validation import ascii_int, check_meta_data, non_finite_path
from tests.support.api import assert_error_shape, url
from tests.support.asgi_server import parse_stream
from tests.support.notify_settings import notify_override
from tests.testapp.tenancy import TestTenancyAdapter

pytest_plugins = ["tests.support.api"]
pytestmark = pytest.mark.django_db

STREAM = "/notifications/stream/"


def nothing_written(Notification) -> None:
    assert Notification.objects.count() == 0
    assert PlatformAlert.objects.count() == 0


def _raw(body: str) -> bytes:
    return body.encode()


# --- 1. non-finite numbers -----------------------------------------------------------------

#: JSON text Python's json module reads into inf or nan (only the first is JSON syntax).
NON_FINITE = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"]


def _send_bodies(world):
    """(endpoint, sender, body without meta_data) for each send endpoint."""
    return [
        ("api-send", world.admin, f'"title": "x", "target_user": {world.ada.pk}'),
        ("api-send-to-self", world.ada, '"title": "x"'),
        ("api-send-system", world.staff, '"title": "x"'),
    ]


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("endpoint", ["api-send", "api-send-to-self", "api-send-system"])
def test_non_finite_meta_data_on_the_send_endpoints_is_a_400(
    world, api_for, Notification, endpoint, number
):
    name, sender, fields = next(b for b in _send_bodies(world) if b[0] == endpoint)
    body = _raw(f'{{{fields}, "meta_data": {{"ok": 1.5, "a": {number}}}}}')
    response = api_for(sender).post(url(name), raw=body)
    error = assert_error_shape(response, 400, "malformed_json")
    assert error["fields"] == {
        "meta_data.a": ["Must be a finite number (JSON has no NaN or Infinity)."]
    }
    assert "meta_data.a" in error["message"]
    nothing_written(Notification)


def test_a_non_finite_number_deep_inside_is_named_by_its_path(world, api_for, Notification):
    body = _raw('{"title": "x", "meta_data": {"list": [1, {"b": [0, 1e999]}]}}')
    error = assert_error_shape(api_for(world.ada).post(url("api-send-to-self"), raw=body), 400)
    assert list(error["fields"]) == ["meta_data.list[1].b[1]"]
    nothing_written(Notification)


@pytest.mark.parametrize("number", NON_FINITE)
def test_non_finite_meta_data_on_the_alerts_endpoint_is_a_400(world, api_for, Notification, number):
    body = _raw(
        '{"alert_type": "system", "severity": "error", "title": "Disk full", '
        f'"meta_data": {{"a": {number}}}}}'
    )
    error = assert_error_shape(api_for(world.staff).post(url("api-alerts"), raw=body), 400)
    assert list(error["fields"]) == ["meta_data.a"]
    nothing_written(Notification)


def test_non_finite_numbers_anywhere_in_a_body_are_refused_naming_the_field(world, api_for):
    # Not only meta_data: a field of another type is named the same way.
    body = _raw('{"ids": [1, NaN]}')
    error = assert_error_shape(api_for(world.ada).post(url("api-mark-read"), raw=body), 400)
    assert error["code"] == "malformed_json" and list(error["fields"]) == ["ids[1]"]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_meta_data_from_python_is_a_validation_error(world, Notification, value):
    meta = {"nested": {"x": [1, value]}}
    calls = [
        lambda: Notification.send(world.admin, title="x", target_user=world.ada, meta_data=meta),
        lambda: Notification.send_to_self(world.ada, title="x", meta_data=meta),
        lambda: Notification.send_system(world.staff, title="x", meta_data=meta),
        lambda: notify([world.ada], title="x", meta_data=meta),
        lambda: raise_alert("system", "error", "Disk full", meta_data=meta),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            call()
        assert list(info.value.message_dict) == ["meta_data"]
        assert "meta_data.nested.x[1] is not a finite number" in str(info.value)
    nothing_written(Notification)


# --- 2. forged list cursors ----------------------------------------------------------------


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


FORGED_CURSORS = [
    "9999-12-31T23:59:59-14:00|5",  # overflows converting to UTC
    "0001-01-01T00:00:00+14:00|5",  # underflows
    "2026-01-01T00:00:00+00:00|١٢",  # non-ASCII digits int() would read as 12
    "2026-01-01T00:00:00+00:00|99999999999999999999999",  # past a 64-bit pk
    "2026-01-01T00:00:00+00:00|1_000",  # int() accepts underscores
    "2026-01-01T00:00:00+00:00| 7",
    "٢٠٢٦-01-01T00:00:00+00:00|5",  # a date in other digits
]


@pytest.mark.parametrize("raw", FORGED_CURSORS)
@pytest.mark.parametrize("endpoint", ["api-list", "api-alerts"])
def test_a_forged_cursor_is_a_400_naming_cursor(world, api_for, endpoint, raw):
    notify([world.staff], title="one row")
    response = api_for(world.staff).get(url(endpoint), {"cursor": _cursor(raw)})
    error = assert_error_shape(response, 400, "invalid_cursor")
    assert list(error["fields"]) == ["cursor"]


def test_a_forged_pk_only_cursor_is_a_400_naming_cursor(world, api_for):
    NotificationTemplate.objects.create(notification_type="test.alert", channel="email")
    for raw in ("١٢", "99999999999999999999999", "0", "-3"):
        response = api_for(world.staff).get(url("api-templates"), {"cursor": _cursor(raw)})
        assert assert_error_shape(response, 400, "invalid_cursor")["fields"] == {
            "cursor": [response.json()["error"]["message"]]
        }


def test_a_cursor_with_a_large_offset_is_read_in_utc(world, api_for):
    # Valid ISO 8601, an instant a database stores; PostgreSQL refuses the offset itself.
    (row,) = notify([world.ada], title="old", created_at=timezone.now() - timedelta(days=1))
    response = api_for(world.ada).get(
        url("api-list"), {"cursor": _cursor(f"2099-01-01T00:00:00+23:00|{row.pk + 1}")}
    )
    assert [n["id"] for n in response.json()["results"]] == [row.pk]


# --- 3. a forged Last-Event-ID on the stream -------------------------------------------------


def _last_event_id(data: dict | list | str) -> str:
    raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _forged_ids() -> list[str]:
    now = timezone.now().isoformat()
    return [
        _last_event_id({"f": "9999-12-31T23:59:59-14:00", "k": None, "s": []}),
        _last_event_id({"f": "0001-01-01T00:00:00+14:00", "k": None, "s": []}),
        _last_event_id({"f": "0001-01-01T00:00:03+00:00", "k": None, "s": []}),
        _last_event_id({"f": now, "k": None, "s": [[5, "9999-12-31T23:59:59-14:00"]]}),
        _last_event_id({"f": now, "k": "١٢", "s": []}),
        _last_event_id({"f": now, "k": 10**30, "s": []}),
        _last_event_id({"f": now, "k": None, "s": [[10**30, now]]}),
        _last_event_id({"f": now, "k": None, "s": [["١٢", now]]}),
        _last_event_id("[" * 1500),  # nested past the recursion limit, under the length cap
    ]


def test_forged_cursors_decode_to_nothing():
    from django_notify.loading import get_notification_model
    from django_notify.realtime.views import pk_reader

    to_pk = pk_reader(get_notification_model())
    for value in _forged_ids():
        assert Cursor.decode(value, to_pk) is None, base64.urlsafe_b64decode(value + "==")
    good = Cursor.starting_at(timezone.now(), [(7, timezone.now())])
    assert Cursor.decode(good.encode(), to_pk) == good


def _stream_start(user, *, query: dict | None = None, **headers) -> tuple[int, list]:
    """Open the stream under ASGI in process; the events up to the first ``count``."""

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(STREAM, query or {}, headers=headers)
        if response.status_code != 200:
            return response.status_code, []
        text = ""
        iterator = aiter(response.streaming_content)
        try:
            while not any(e.event == "count" for e in parse_stream(text)):
                text += (await asyncio.wait_for(anext(iterator), 3)).decode()
        finally:
            await iterator.aclose()
            response.close()
        return response.status_code, parse_stream(text)

    return async_to_sync(scenario)()


@pytest.fixture
def inprocess_broker():
    reset_brokers()
    with notify_override(REALTIME_BROKER="inprocess"):
        yield
    reset_brokers()


def test_a_forged_last_event_id_is_ignored_not_a_dropped_stream(
    inprocess_broker, make_user, Notification
):
    ada = make_user()
    notify([ada], title="unread")
    for value in _forged_ids():
        for kwargs in ({"Last-Event-ID": value}, {"query": {"last_event_id": value}}):
            status, events = _stream_start(ada, **kwargs)
            assert status == 200, value
            count = events[-1]
            assert (count.event, count.data) == ("count", {"unread_count": 1})
            # A fresh start: the new cursor begins near now, not at the forged date.
            cursor = Cursor.decode(count.id, int)
            assert abs(cursor.floor - timezone.now()) < timedelta(minutes=1)


# --- 4. team keys that str.isdigit() accepts but int() does not -----------------------------

BAD_TEAM_KEYS = ["¹", "١", "²³", "99999999999999999999999", "0", "-1", "1.0", " 1"]


@pytest.mark.parametrize("key", BAD_TEAM_KEYS)
@pytest.mark.parametrize("field", ["target_team", "team_ids"])
def test_unreadable_team_keys_are_unknown_teams_through_the_api(
    world, api_for, Notification, field, key
):
    value = key if field == "target_team" else [key]
    response = api_for(world.admin).post(url("api-send"), {"title": "x", field: value})
    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    nothing_written(Notification)


@pytest.mark.parametrize("field", ["target_team", "team_ids"])
def test_unreadable_team_keys_from_python_name_the_field(world, Notification, field):
    for key in BAD_TEAM_KEYS:
        value = key if field == "target_team" else [world.team.pk, key]
        with pytest.raises(ValidationError) as info:
            Notification.send(world.admin, title="x", **{field: value})
        assert list(info.value.message_dict) == [field]
    nothing_written(Notification)


def test_the_default_adapter_reads_ascii_keys_only(db, make_user):
    group = Group.objects.create(name="research")
    user = make_user()
    user.groups.add(group)
    adapter = DefaultTenancyAdapter()
    keys = [*BAD_TEAM_KEYS, str(group.pk), group.pk]
    assert adapter.get_team_organizations(keys) == {str(group.pk): "default"}
    assert adapter.get_team_member_ids(keys) == {user.pk}
    assert adapter.get_team_organizations(BAD_TEAM_KEYS) == {}
    assert adapter.get_team_member_ids(BAD_TEAM_KEYS) == set()


def test_the_default_adapter_refuses_them_in_a_send(db, make_user, Notification):
    with notify_override(TENANCY_ADAPTER="django_notify.tenancy.DefaultTenancyAdapter"):
        admin = make_user(superuser=True)
        for key in BAD_TEAM_KEYS:
            with pytest.raises(ValidationError) as info:
                Notification.send(admin, title="x", target_team=key)
            assert list(info.value.message_dict) == ["target_team"]
    nothing_written(Notification)


def test_int_keys():
    assert int_keys(["12", 7, "¹", "١٠", "1_0", "+3", "-3", "0", str(2**63), str(2**63 - 1)]) == [
        12,
        7,
        2**63 - 1,
    ]


class RaisingAdapter(TestTenancyAdapter):
    """A host adapter that fails on a key it cannot read, as a careless one would."""

    error: Exception = ValueError("invalid literal for int() with base 10: '¹'")
    where = "get_team_organizations"

    def get_team_organizations(self, team_ids):
        if self.where == "get_team_organizations":
            raise self.error
        return super().get_team_organizations(team_ids)

    def team_key(self, team):
        if self.where == "team_key":
            raise self.error
        return super().team_key(team)


ADAPTER_ERRORS = [
    ValueError("invalid literal for int() with base 10: '¹'"),
    TypeError("int() argument must be a string"),
    ValidationError("'¹' is not a valid team id."),
    ValidationError({"pk": ["Not a number."]}),
    OverflowError("Python int too large to convert to SQLite INTEGER"),
]


@pytest.fixture
def raising_adapter(monkeypatch):
    with notify_override(TENANCY_ADAPTER="tests.api.test_bad_input_api.RaisingAdapter"):
        yield monkeypatch


@pytest.mark.parametrize("error", ADAPTER_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("where", ["get_team_organizations", "team_key"])
@pytest.mark.parametrize("field", ["target_team", "team_ids"])
def test_an_adapter_error_on_a_team_key_is_a_400_naming_the_field(
    world, api_for, Notification, raising_adapter, error, where, field
):
    raising_adapter.setattr(RaisingAdapter, "error", error)
    raising_adapter.setattr(RaisingAdapter, "where", where)
    value = "¹" if field == "target_team" else ["¹"]
    response = api_for(world.admin).post(url("api-send"), {"title": "x", field: value})
    error_body = assert_error_shape(response, 400, "invalid")
    assert list(error_body["fields"]) == [field]
    with pytest.raises(ValidationError) as info:
        Notification.send(world.admin, title="x", **{field: value})
    assert list(info.value.message_dict) == [field]
    nothing_written(Notification)


# --- 5. integers in query strings and headers: ASCII digits only ----------------------------


@pytest.mark.parametrize("value", ["١٠", "²", "1_0", "10.0", "0x10", "١"])
@pytest.mark.parametrize("endpoint", ["api-list", "api-recent", "api-alerts", "api-templates"])
def test_integer_parameters_take_ascii_digits_only(world, api_for, endpoint, value):
    response = api_for(world.staff).get(url(endpoint), {"limit": value})
    error = assert_error_shape(response, 400, "invalid")
    assert error["fields"] == {"limit": ["Must be an integer."]}
    assert api_for(world.staff).get(url(endpoint), {"limit": "10"}).status_code == 200


def test_dates_and_times_take_ascii_digits_only(world, api_for):
    api = api_for(world.ada)
    response = api.get(url("api-list"), {"since": "٢٠٢٦-01-01T00:00:00+00:00"})
    assert list(assert_error_shape(response, 400, "invalid")["fields"]) == ["since"]
    response = api.patch(
        url("api-preferences"), {"quiet_hours": {"start": "١٢:٠٠", "end": "07:00"}}
    )
    assert list(assert_error_shape(response, 400, "invalid")["fields"]) == ["quiet_hours.start"]


def test_ascii_int():
    assert [ascii_int(t) for t in ("10", "+10", "-10", "007")] == [10, 10, -10, 7]
    for text in ("١٠", "¹", "1_0", " 1", "1 ", "", "+", "1e3", "0x1", None, 1.0, True, "9" * 21):
        assert ascii_int(text) is None, text
    assert ascii_int("-1", signed=False) is None
    assert ascii_int("5", min_value=6) is None and ascii_int("5", max_value=4) is None
    assert ascii_int(12) == 12


def test_a_non_ascii_content_length_is_not_read_as_a_number(world):
    # int("١٠") is 10: such a header must not count as a declared length.
    _t, key = ApiToken.create(world.ada, "t")
    body = json.dumps({"title": "x"}).encode()
    request = RequestFactory().post(
        url("api-send-to-self"), body, content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    request.META["CONTENT_LENGTH"] = "١٠"
    with notify_override(MAX_REQUEST_BYTES=len(body)):
        response = api_views.SendToSelfView.as_view()(request)
    assert response.status_code == 201, response.content


# --- 6. the stream answers other methods with its JSON 405, CSRF or not ---------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_stream_answers_other_methods_with_the_json_405(world, method):
    client = Client(enforce_csrf_checks=True)  # as a browser: a session, no CSRF token
    client.force_login(world.ada)
    response = getattr(client, method)(STREAM)
    error = assert_error_shape(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"
    assert error["fields"] == {}


# --- 7. size limits ----------------------------------------------------------------------


def test_a_body_over_max_request_bytes_is_a_413_naming_the_limit(world, api_for, Notification):
    limit = DEFAULTS["MAX_REQUEST_BYTES"]
    body = json.dumps({"title": "x", "description": "y" * limit}).encode()
    error = assert_error_shape(api_for(world.ada).post(url("api-send-to-self"), raw=body), 413)
    assert error["code"] == "too_large" and str(limit) in error["message"]
    assert "MAX_REQUEST_BYTES" in error["message"]
    with notify_override(MAX_REQUEST_BYTES=1000):
        body = json.dumps({"title": "x", "description": "y" * 1000}).encode()
        error = assert_error_shape(api_for(world.ada).post(url("api-send-to-self"), raw=body), 413)
        assert "1000" in error["message"]
    nothing_written(Notification)


def test_the_measured_body_counts_not_only_the_declared_length(world, Notification):
    _t, key = ApiToken.create(world.ada, "t")
    body = json.dumps({"title": "x", "description": "y" * 2000}).encode()
    request = RequestFactory().post(
        url("api-send-to-self"), body, content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    request.META["CONTENT_LENGTH"] = "10"  # understated; the stream still holds it all
    with notify_override(MAX_REQUEST_BYTES=1000):
        response = api_views.SendToSelfView.as_view()(request)
    assert response.status_code == 413
    assert json.loads(response.content)["error"]["code"] == "too_large"
    nothing_written(Notification)


def test_max_request_bytes_none_switches_the_limit_off(world, api_for, Notification):
    body = json.dumps({"title": "x", "description": "y" * 70_000}).encode()
    with notify_override(MAX_REQUEST_BYTES=None):
        assert api_for(world.ada).post(url("api-send-to-self"), raw=body).status_code == 201
    assert Notification.objects.count() == 1


def _meta_of(size: int) -> dict:
    """A meta_data of exactly ``size`` bytes as compact JSON."""
    return {"x": "y" * (size - len('{"x":""}'))}


def test_meta_data_over_the_limit_is_a_400_naming_meta_data(world, api_for, Notification):
    limit = DEFAULTS["MAX_META_DATA_BYTES"]
    api = api_for(world.ada)
    response = api.post(url("api-send-to-self"), {"title": "x", "meta_data": _meta_of(limit + 1)})
    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["meta_data"] and str(limit) in error["message"]
    staff = api_for(world.staff)
    body = {
        "alert_type": "system",
        "severity": "error",
        "title": "t",
        "meta_data": _meta_of(limit + 1),
    }
    error = assert_error_shape(staff.post(url("api-alerts"), body), 400, "invalid")
    assert list(error["fields"]) == ["meta_data"]
    nothing_written(Notification)
    # At the limit exactly: accepted.
    assert (
        api.post(url("api-send-to-self"), {"title": "x", "meta_data": _meta_of(limit)}).status_code
        == 201
    )


def test_meta_data_over_the_limit_from_python_names_meta_data(world, Notification):
    big = _meta_of(DEFAULTS["MAX_META_DATA_BYTES"] + 1)
    calls = [
        lambda: Notification.send(world.admin, title="x", target_user=world.ada, meta_data=big),
        lambda: Notification.send_to_self(world.ada, title="x", meta_data=big),
        lambda: Notification.send_system(world.staff, title="x", meta_data=big),
        lambda: notify([world.ada], title="x", meta_data=big),
        lambda: raise_alert("system", "error", "Disk full", meta_data=big),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            call()
        assert list(info.value.message_dict) == ["meta_data"]
        assert "bytes as JSON" in str(info.value)
    nothing_written(Notification)
    with notify_override(MAX_META_DATA_BYTES=None):
        for call in calls:
            call()
    assert Notification.objects.count() == 4 and PlatformAlert.objects.count() == 1


def test_meta_data_size_counts_utf8_bytes_of_compact_json():
    with notify_override(MAX_META_DATA_BYTES=22):
        check_meta_data({"a": [1, 2, 3], "b": "é"})  # {"a":[1,2,3],"b":"é"}: 22 bytes
        with pytest.raises(ValidationError):
            check_meta_data({"a": [1, 2, 3], "b": "éé"})


def test_non_finite_path():
    assert non_finite_path({"a": [1, {"b": float("nan")}]}) == "a[1].b"
    assert non_finite_path([1.0, 2]) is None and non_finite_path(float("inf")) == ""
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    node.append(float("inf"))
    assert non_finite_path(deep).endswith("[0]")  # iterative: no RecursionError


def test_an_events_context_is_not_held_to_the_meta_data_limit(
    make_user, Notification, django_capture_on_commit_callbacks
):
    from django_notify import emit

    users = [make_user()]
    big = "y" * (DEFAULTS["MAX_META_DATA_BYTES"] * 2)
    with django_capture_on_commit_callbacks(execute=True):
        emit("team.joined", context={"team": "Research", "notes": big}, recipients=users)
    (row,) = Notification.objects.all()
    assert row.meta_data["context"]["notes"] == big


# --- 8. meta_data on the other write paths, event contexts, alert merges, odd paths -------


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_meta_data_on_the_model_write_paths_names_meta_data(world, Notification, value):
    """A bare save(), bulk_create(), bulk_update() and QuerySet.update(): the same field
    error instead of a database error (PostgreSQL refuses NaN in jsonb; SQLite's JSON
    functions do too)."""
    bad = {"x": [1, value]}
    unsaved = Notification(title="x", scope="user", recipient=world.ada, meta_data=bad)
    with pytest.raises(ValidationError) as info:
        unsaved.save()
    assert list(info.value.message_dict) == ["meta_data"]
    assert "meta_data.x[1] is not a finite number" in str(info.value)
    with pytest.raises(ValidationError) as info:
        Notification.objects.bulk_create(
            [Notification(title="x", scope="user", recipient=world.ada, meta_data=bad)]
        )
    assert list(info.value.message_dict) == ["meta_data"]
    nothing_written(Notification)

    (row,) = notify([world.ada], title="ok", meta_data={"a": 1})
    row.meta_data = bad
    with pytest.raises(ValidationError) as info:
        Notification.objects.bulk_update([row], ["meta_data"])
    assert list(info.value.message_dict) == ["meta_data"]
    with pytest.raises(ValidationError) as info:
        Notification.objects.filter(pk=row.pk).update(meta_data=bad)
    assert list(info.value.message_dict) == ["meta_data"]
    with pytest.raises(ValidationError) as info:
        Notification.objects.filter(pk=row.pk).update(meta_data=["not", "an", "object"])
    assert list(info.value.message_dict) == ["meta_data"]
    assert Notification.objects.get(pk=row.pk).meta_data == {"a": 1}


def test_an_unserialisable_meta_data_on_save_names_meta_data(world, Notification):
    row = Notification(title="x", scope="user", recipient=world.ada, meta_data={"s": {1, 2}})
    with pytest.raises(ValidationError) as info:
        row.save()
    assert list(info.value.message_dict) == ["meta_data"]
    assert "JSON-serialisable" in str(info.value)
    nothing_written(Notification)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_number_in_an_events_context_names_context(make_user, value):
    from django_notify import emit
    from django_notify.models import Event

    with pytest.raises(ValidationError) as info:
        emit(
            "team.joined", context={"team": "Research", "score": [value]}, recipients=[make_user()]
        )
    assert list(info.value.message_dict) == ["context"]
    assert "context.score[0]" in str(info.value)
    assert Event.objects.count() == 0


def test_a_recurring_alert_does_not_grow_its_meta_data_past_the_limit(db, caplog):
    limit = DEFAULTS["MAX_META_DATA_BYTES"]
    half = limit // 2
    alert, _created = raise_alert("system", "error", "Disk full", meta_data={"a": "y" * half})
    # Each occurrence fits; merged, the two would not: the newest replaces the old keys.
    again, created = raise_alert("system", "error", "Disk full", meta_data={"b": "z" * half})
    assert not created and again.pk == alert.pk
    stored = PlatformAlert.objects.get(pk=alert.pk)
    assert stored.occurrence_count == 2 and stored.meta_data == {"b": "z" * half}
    assert check_meta_data(stored.meta_data) is None
    assert "replaces the earlier keys" in caplog.text
    # While the merge fits, keys accumulate (the new ones win).
    raise_alert("system", "error", "Disk full", meta_data={"c": 1, "b": "w"})
    stored.refresh_from_db()
    assert stored.occurrence_count == 3 and stored.meta_data == {"b": "w", "c": 1}


@pytest.mark.parametrize("char", ["%0A", "%0D", "%0D%0A", "%0B"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_api_paths_with_line_breaks_are_json_404s(world, api_for, char, method):
    """Found by the API fuzzer: a newline in the id ("1%0A/") matched no route, and the
    catch-all (".*" stops at a newline) missed it too, so the site's HTML 404 answered."""
    api = api_for(world.ada)
    for path in (
        f"/notifications/api/notifications/1{char}/",
        f"/notifications/api/notifications/1{char}/read/",
        f"/notifications/api/alerts/1{char}/resolve/",
        f"/notifications/api/{char}",
    ):
        assert_error_shape(api.request(method, path), 404, "not_found")
