"""Sending: to users or teams of the caller's organization, to oneself, and (staff) to
everyone. The only endpoints that take recipients from a request body; every send goes
through the sender rules (:mod:`django_notify.policy`)."""

from __future__ import annotations

from typing import Any

from ...pipeline.entry_points import send, send_system, send_to_self
from ..base import ApiView, operation
from ..schema import AnyOf, Bool, DateTime, Enum, Exclusive, Id, JSONObject, List, Object, Str
from ..serializers import PRIORITY_NAMES, SENT, notification_json
from .params import level_codes, type_keys


def _team_key() -> AnyOf:
    return AnyOf(Id(), Str(min_length=1, max_length=64))


#: What django_notify.models.base.validate_link accepts, for the document and a first
#: check: a site-relative path (not "//host") or an http(s)/mailto URL, without spaces,
#: control characters or backslashes. (No lookahead: schemathesis generates from it.)
LINK_PATTERN = (
    r"^(?:/(?:[^/\x00-\x20\x7f\\][^\x00-\x20\x7f\\]*)?"
    r"|(?:[hH][tT][tT][pP][sS]?://|[mM][aA][iI][lL][tT][oO]:)[^\x00-\x20\x7f\\]*)?$"
)


def _link(**kw) -> Str:
    return Str(
        max_length=500,
        pattern=LINK_PATTERN,
        pattern_message="Enter a site-relative path (/…) or an http(s)/mailto URL, without "
        "spaces, control characters or backslashes.",
        **kw,
    )


def _send_body(name: str, *, targets: bool, global_required: bool | None) -> Object:
    fields: dict[str, Any] = {
        "type": Enum(level_codes, description="Level code, e.g. IN (information), IM (important)."),
        "title": Str(min_length=1, max_length=255, required=True),
        "description": Str(description="HTML; sanitised when stored."),
        "meta_data": JSONObject(),
        "url": _link(description="Site-relative path or http(s)/mailto URL."),
        "action_url": _link(),
        "action_required": Bool(),
        "priority": Enum(PRIORITY_NAMES),
        "expires_at": DateTime(nullable=True),
        "notification_type": Enum(type_keys, description="Registered type key."),
    }
    groups = []
    if targets:
        fields.update(
            target_user=Id(description="One user id."),
            target_team=_team_key(),
            user_ids=List(Id(), min_items=1, max_items=1000),
            team_ids=List(_team_key(), min_items=1, max_items=100),
            is_global=Bool(description="The whole organization (send) or everyone (system)."),
        )
        names = ("target_user", "target_team", "user_ids", "team_ids", "is_global")
        groups.append(Exclusive(*names, required=bool(global_required)))
    return Object(fields, name=name, groups=groups)


SEND_BODY = _send_body("SendRequest", targets=True, global_required=True)
SEND_TO_SELF_BODY = _send_body("SendToSelfRequest", targets=False, global_required=None)
SEND_SYSTEM_BODY = _send_body("SendSystemRequest", targets=True, global_required=False)
_SEND_ERRORS = (403, 429)
#: The model calls the level ``level``; the send API calls it ``type``.
_SEND_RENAME = {"level": "type"}
SENDING = ("sending",)


def _send(func, user, body) -> tuple[int, dict[str, Any]]:
    rows = func(user, **body)
    return 201, {"results": [notification_json(n) for n in rows]}


class SendView(ApiView):
    @operation(
        summary="Send to users or teams of your organization",
        description="Exactly one of target_user, target_team, user_ids, team_ids or "
        "is_global: true. One notification per resolved target. Refused (403, the rule's "
        "code) when the sender rules forbid it.",
        body=SEND_BODY,
        responses={201: SENT},
        errors=_SEND_ERRORS,
        tags=SENDING,
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(send, user, body)


class SendToSelfView(ApiView):
    @operation(
        summary="Send to yourself",
        body=SEND_TO_SELF_BODY,
        responses={201: SENT},
        errors=_SEND_ERRORS,
        tags=SENDING,
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(send_to_self, user, body)


class SendSystemView(ApiView):
    @operation(
        summary="Send a system notification (staff and superusers)",
        description="Without targets (or with is_global: true) every user sees it.",
        body=SEND_SYSTEM_BODY,
        responses={201: SENT},
        errors=_SEND_ERRORS,
        tags=SENDING,
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(send_system, user, body)
