"""The OpenAPI 3.1 document: valid, served, complete, and built from the same
declarations that validate requests (so the two cannot disagree)."""

from __future__ import annotations

import json

import jsonschema_rs
import pytest
import schemathesis
from django.conf import settings
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_notify import notify
from django_notify.api import schema as fields
from django_notify.api.openapi import build_document
from django_notify.api.serializers import notification_json
from django_notify.api.views.notifications import MARK_READ_BODY
from django_notify.api.views.preferences import PREFERENCES_PATCH
from django_notify.api.views.sending import SEND_BODY, SEND_SYSTEM_BODY, SEND_TO_SELF_BODY
from tests.support.api import document
from tests.support.notify_settings import notify_override

CONTRACT_ROUTES = {
    "api-list": ["get"],
    "api-detail": ["get", "delete"],
    "api-unread-count": ["get"],
    "api-recent": ["get"],
    "api-mark-read": ["post"],
    "api-read": ["post"],
    "api-unread": ["post"],
    "api-mark-all-read": ["post"],
    "api-dismiss": ["post"],
    "api-dismiss-all": ["post"],
    "api-stats": ["get"],
    "api-send": ["post"],
    "api-send-to-self": ["post"],
    "api-send-system": ["post"],
    "api-preferences": ["get", "patch"],
    "api-preferences-reset": ["post"],
    "api-templates": ["get", "post"],
    "api-template": ["get", "patch"],
    "api-alerts": ["get", "post"],
    "api-alert-resolve": ["post"],
    "api-alert-stats": ["get"],
    "api-openapi": ["get"],
}


def _operations(doc):
    return {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}


def test_the_document_is_valid_openapi_3_1(db):
    doc = build_document()
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(doc).validate()  # against the OpenAPI 3.1 meta-schema
    for name, definition in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(definition), name  # each a valid JSON Schema


def test_it_is_served_without_login(db):
    response = Client().get(reverse("django_notify:api-openapi"))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert json.loads(response.content) == build_document()
    assert build_document()["servers"] == [{"url": "/notifications/api"}]


def test_every_route_of_the_contract_is_documented(db):
    operations = _operations(build_document())
    expected = {
        f"{name}.{method}" for name, methods in CONTRACT_ROUTES.items() for method in methods
    }
    assert set(operations) == expected
    for op_id, op in operations.items():
        responses = op["responses"]
        assert "400" in responses, op_id
        for status, answer in responses.items():
            assert list(answer["content"]) == ["application/json"], (op_id, status)
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
        if op_id == "api-openapi.get":
            assert op["security"] == [] and "401" not in responses
        else:
            assert "401" in responses and "WWW-Authenticate" in responses["401"]["headers"]
    for op_id in ("api-send.post", "api-send-to-self.post", "api-send-system.post"):
        assert {"201", "403", "429"} <= set(operations[op_id]["responses"])
        assert "Retry-After" in operations[op_id]["responses"]["429"]["headers"]
    for op_id in ("api-templates.get", "api-alerts.post", "api-alert-stats.get"):
        assert "403" in operations[op_id]["responses"]  # staff only
    assert {"200", "201"} <= set(operations["api-alerts.post"]["responses"])


def test_the_components_the_front_ends_rely_on(db):
    schemas = build_document()["components"]["schemas"]
    for name in ("Notification", "NotificationPage", "Error", "Preferences", "Template",
                 "TemplatePage", "Alert", "AlertPage", "AlertStats", "Stats"):  # fmt: skip
        assert name in schemas, name
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "message", "fields"]
    security = build_document()["components"]["securitySchemes"]
    assert security["token"] == {"type": "http", "scheme": "bearer",
                                 "description": security["token"]["description"]}  # fmt: skip
    assert security["session"]["name"] == settings.SESSION_COOKIE_NAME


def test_the_notification_schema_lists_exactly_what_the_serializer_writes(
    make_user, db, Notification
):
    user = make_user()
    (row,) = notify([user], title="x")
    row = Notification.objects.visible_to(user).get(pk=row.pk)
    schema = build_document()["components"]["schemas"]["Notification"]
    assert list(schema["properties"]) == list(notification_json(row))
    assert schema["required"] == list(schema["properties"])
    assert schema["additionalProperties"] is False


def test_settings_flow_into_both_the_document_and_the_validation(db):
    levels = {"IN": "Information", "XX": "Extra"}
    with notify_override(LEVELS=levels):
        schemas = build_document()["components"]["schemas"]
        assert schemas["SendRequest"]["properties"]["type"]["enum"] == ["IN", "XX"]
        assert SEND_TO_SELF_BODY.clean({"title": "t", "type": "XX"})["type"] == "XX"
        with pytest.raises(fields.FieldErrors):
            SEND_TO_SELF_BODY.clean({"title": "t", "type": "IM"})
    with notify_override(API_MAX_PAGE_SIZE=7):
        params = _operations(build_document())["api-list.get"]["parameters"]
        limit = next(p for p in params if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 7


# --- the document and the validators agree --------------------------------------------------

_VALUES = st.sampled_from(
    [None, True, False, 0, 1, 1.0, 2, -1, 2**63, "", "x", "high", "IN", "/ok", "//no",
     "22:00", "7:00", [], [1], [1, 2], [1, "x"], ["x"], {}, {"a": 1}, "a" * 300]
)  # fmt: skip


def _bodies(body: fields.Object):
    names = st.sampled_from([*body.fields, "unknown"])
    return st.dictionaries(names, _VALUES, max_size=5)


def _validator(body: fields.Object):
    refs: fields.Refs = {}
    root = {"allOf": [body.schema(refs)], "components": {"schemas": refs}}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def _agree(body: fields.Object, data: dict) -> None:
    try:
        body.clean(data)
        accepted = True
    except fields.FieldErrors:
        accepted = False
    assert _validator(body).is_valid(data) == accepted, data


@pytest.mark.parametrize(
    "body",
    [SEND_BODY, SEND_SYSTEM_BODY, SEND_TO_SELF_BODY, MARK_READ_BODY],
    ids=["send", "send-system", "send-to-self", "mark-read"],
)
def test_the_schema_accepts_exactly_what_the_validator_accepts(db, body):
    @hypothesis_settings(max_examples=300, deadline=None)
    @given(data=_bodies(body))
    def check(data):
        _agree(body, data)

    check()


def test_the_preferences_schema_agrees_too(db):
    for data in (
        {"quiet_hours": None},
        {"quiet_hours": {"start": "22:00", "end": "07:00"}},
        {"quiet_hours": {"start": "22:00"}},
        {"quiet_hours": {"start": "22:00", "end": "7:00"}},
        {"preferences": []},
        {"preferences": [{"channel": "email", "enabled": None}]},
        {"preferences": [{"enabled": True}]},
        {"preferences": {"test.alert": {"email_enabled": False}}},
        {"preferences": {"test.alert": {"email_enabled": [1]}}},
        {"preferences": "x"},
        {"timezone": "a" * 65},
    ):
        _agree(PREFERENCES_PATCH, data)


def test_the_document_in_use_by_the_tests_is_the_served_one(db):
    assert document() == build_document()
