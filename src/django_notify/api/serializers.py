"""The JSON shapes the API answers with, and their declarations for the document.

Every function here reads only what ``visible_to()`` already fetched (sender, actor and
target are prefetched), so serialising a page costs no query per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

from ..conf import app_settings
from ..template_sandbox import display_name
from ..types import Priority, Scope, notification_types
from .schema import (
    Any_,
    Bool,
    DateTime,
    Enum,
    Int,
    JSONObject,
    List,
    Mapping_,
    Object,
    Str,
)

PRIORITY_NAMES = [p.name.lower() for p in Priority]


def iso(value: datetime | None) -> str | None:
    # Full precision (DjangoJSONEncoder would cut to milliseconds, and a cursor or a
    # "since" built from the answer must name the exact instant).
    return value.isoformat() if value is not None else None


person_name = display_name


def _object_ref(obj: Any, object_id: str) -> dict[str, Any] | None:
    if obj is None:  # no actor/target, or the object was deleted since
        return None
    name = person_name(obj) if isinstance(obj, get_user_model()) else str(obj)
    return {"type": obj._meta.label_lower, "id": str(object_id), "name": name}


def priority_name(value: int) -> str:
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


def category_of(type_key: str | None) -> str:
    if type_key and type_key in notification_types:
        category = notification_types.get(type_key).category
        return category.key if category is not None else ""
    return ""


def notification_json(n: Any) -> dict[str, Any]:
    """The contract's notification shape. ``is_read``/``read_at`` are the requesting
    user's (``user_read_at`` from ``visible_to()``; a row fresh from a send has no
    annotation: its direct state, and nobody has read a new broadcast)."""
    read_at = n.user_read_at if hasattr(n, "user_read_at") else n.read_at
    sender = n.sender if n.sender_id is not None else None
    return {
        "id": n.pk,
        "type": n.level,
        "level_label": str(app_settings.LEVELS.get(n.level, n.level)),
        "notification_type": n.notification_type or "",
        "category": category_of(n.notification_type),
        "title": n.title,
        "description": n.description,
        "description_text": n.description_text,
        "url": n.url,
        "action_url": n.action_url,
        "action_required": n.action_required,
        "link": n.url or n.action_url,
        "priority": priority_name(n.priority),
        "scope": n.scope,
        "meta_data": n.meta_data if isinstance(n.meta_data, dict) else {},
        "actor": _object_ref(n.actor, n.actor_object_id) if n.actor_content_type_id else None,
        "target": (_object_ref(n.target, n.target_object_id) if n.target_content_type_id else None),
        "sender": {"id": sender.pk, "name": person_name(sender)} if sender else None,
        "is_read": read_at is not None,
        "read_at": iso(read_at),
        "created_at": iso(n.created_at),
        "expires_at": iso(n.expires_at),
    }


def template_json(t: Any) -> dict[str, Any]:
    return {
        "id": t.pk,
        "notification_type": t.notification_type,
        "channel": t.channel,
        "organization_key": t.organization_key,
        "language": t.language,
        "subject": t.subject,
        "body": t.body,
        "html_body": t.html_body,
        "is_active": t.is_active,
        "updated_at": iso(t.updated_at),
    }


# --- the answer shapes, for the document ---------------------------------------------------


def _ref() -> Object:
    return Object(
        {
            "type": Str(description='The model, "app_label.model".', example="jobs.job"),
            "id": Str(description="Its primary key, as text."),
            "name": Str(description="How it reads (str() of the object)."),
        },
        all_required=True,
        nullable=True,
    )


NOTIFICATION = Object(
    {
        "id": Int(),
        "type": Str(description="Level code (`type` in the send API), e.g. IN, IM.", example="IN"),
        "level_label": Str(example="Information"),
        "notification_type": Str(description='Registered type key, or "".'),
        "category": Str(description='The type\'s category key, or "".'),
        "title": Str(),
        "description": Str(description="Sanitised HTML."),
        "description_text": Str(description="The description as plain text."),
        "url": Str(),
        "action_url": Str(),
        "action_required": Bool(),
        "link": Str(description="Where a click goes: url, else action_url."),
        "priority": Enum(PRIORITY_NAMES),
        "scope": Enum(Scope.values),
        "meta_data": JSONObject(),
        "actor": _ref(),
        "target": _ref(),
        "sender": Object({"id": Any_(), "name": Str()}, all_required=True, nullable=True),
        "is_read": Bool(description="Read by the requesting user."),
        "read_at": DateTime(nullable=True),
        "created_at": DateTime(),
        "expires_at": DateTime(nullable=True),
    },
    name="Notification",
    all_required=True,
)

NOTIFICATION_PAGE = Object(
    {
        "results": List(NOTIFICATION),
        "next_cursor": Str(
            nullable=True,
            description="Pass as ?cursor= for the next (older) page; null at the end.",
        ),
        "unread_count": Int(
            min_value=0,
            description="The user's unread count now, so a bell refreshes in one request.",
        ),
    },
    name="NotificationPage",
    all_required=True,
)

ERROR = Object(
    {
        "error": Object(
            {
                "code": Str(description="Stable snake_case code (docs/api.md lists them)."),
                "message": Str(description="Human-readable."),
                "fields": Mapping_(List(Str()), description="Messages by field; {} if none."),
            },
            all_required=True,
        )
    },
    name="Error",
    all_required=True,
)

TEMPLATE = Object(
    {
        "id": Int(),
        "notification_type": Str(),
        "channel": Str(),
        "organization_key": Str(),
        "language": Str(),
        "subject": Str(),
        "body": Str(),
        "html_body": Str(),
        "is_active": Bool(),
        "updated_at": DateTime(),
    },
    name="Template",
    all_required=True,
)

TEMPLATE_PAGE = Object(
    {"results": List(TEMPLATE), "next_cursor": Str(nullable=True)},
    name="TemplatePage",
    all_required=True,
)

ALERT = Object(
    {
        "id": Int(),
        "alert_type": Str(),
        "severity": Str(example="warning"),
        "title": Str(),
        "message": Str(),
        "fingerprint": Str(),
        "affected_systems": List(Str()),
        "affected_organizations": List(Str()),
        "meta_data": JSONObject(),
        "occurrence_count": Int(),
        "first_occurred_at": DateTime(),
        "last_occurred_at": DateTime(),
        "is_resolved": Bool(),
        "resolved_at": DateTime(nullable=True),
        "resolved_by": Object({"id": Any_(), "name": Str()}, all_required=True, nullable=True),
        "resolution_notes": Str(),
    },
    name="Alert",
    all_required=True,
)

ALERT_PAGE = Object(
    {"results": List(ALERT), "next_cursor": Str(nullable=True)},
    name="AlertPage",
    all_required=True,
)

ALERT_STATS = Object(
    {
        "active": Int(),
        "critical": Int(),
        "resolved_today": Int(),
        "by_severity": Mapping_(Int()),
        "by_type": Mapping_(Int()),
    },
    name="AlertStats",
    all_required=True,
)

_CHANNEL_STATE = Object(
    {"enabled": Bool(), "frequency": Str(), "source": Str(), "required": Bool()},
    all_required=True,
)

PREFERENCES = Object(
    {
        "types": List(
            Object(
                {
                    "notification_type": Str(),
                    "label": Str(),
                    "category": Str(),
                    "channels": Mapping_(_CHANNEL_STATE, description="By channel alias."),
                },
                all_required=True,
            )
        ),
        "quiet_hours": Object(
            {"start": Str(example="22:00"), "end": Str(example="07:00")},
            all_required=True,
            nullable=True,
        ),
        "timezone": Str(),
        "language": Str(),
        "channels": List(
            Object({"name": Str(), "label": Str(), "supports_digest": Bool()}, all_required=True)
        ),
        "frequencies": List(Object({"value": Str(), "label": Str()}, all_required=True)),
        "categories": List(
            Object({"key": Str(), "name": Str(), "description": Str()}, all_required=True)
        ),
    },
    name="Preferences",
    all_required=True,
)

UNREAD_COUNT = Object({"unread_count": Int(min_value=0)}, name="UnreadCount", all_required=True)
RECENT = Object(
    {"results": List(NOTIFICATION), "unread_count": Int(min_value=0)},
    name="Recent",
    all_required=True,
)
MARKED = Object(
    {"marked": Int(min_value=0), "unread_count": Int(min_value=0)},
    name="Marked",
    all_required=True,
)
CHANGED = Object(
    {"changed": Bool(), "unread_count": Int(min_value=0)}, name="Changed", all_required=True
)
DISMISSED = Object(
    {"dismissed": Int(min_value=0), "unread_count": Int(min_value=0)},
    name="Dismissed",
    all_required=True,
)
STATS = Object(
    {
        "total": Int(min_value=0),
        "unread": Int(min_value=0),
        "read": Int(min_value=0),
        "by_type": Mapping_(Int(), description='By type key; "" for untyped rows.'),
        "by_priority": Mapping_(Int()),
        "by_level": Mapping_(Int()),
        "action_required": Int(min_value=0, description="Unread rows that need an action."),
    },
    name="Stats",
    all_required=True,
)
SENT = Object({"results": List(NOTIFICATION)}, name="Sent", all_required=True)
