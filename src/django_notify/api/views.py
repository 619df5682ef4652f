"""The notification endpoints: the feed, read state, statistics, sending, preferences and
(for staff) message templates.

Every read goes through ``visible_to(user)``: a row the user cannot see is a 404 whether
it exists or not. No recipient is ever taken from a request body except by the send
endpoints, which go through the sender rules (:mod:`django_notify.policy`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField as BooleanOutput
from django.db.models import Case, Count, Value, When

from .. import sending
from ..conf import app_settings
from ..delivery import preferences as prefs
from ..loading import get_notification_model
from ..models import Frequency, NotificationTemplate
from ..types import Priority, notification_types
from . import errors
from .base import ApiView, operation
from .pagination import page
from .schema import (
    AnyOf,
    Bool,
    DateTime,
    Enum,
    Exclusive,
    Id,
    Int,
    JSONObject,
    List,
    Mapping_,
    Object,
    Query,
    Str,
    Time,
)
from .serializers import (
    CHANGED,
    DISMISSED,
    MARKED,
    NOTIFICATION,
    NOTIFICATION_PAGE,
    PREFERENCES,
    PRIORITY_NAMES,
    RECENT,
    SENT,
    STATS,
    TEMPLATE,
    TEMPLATE_PAGE,
    UNREAD_COUNT,
    notification_json,
    priority_name,
    template_json,
)

NOTIFICATIONS = ("notifications",)


def _levels() -> list[str]:
    return list(app_settings.LEVELS)


def _type_keys() -> list[str]:
    return list(notification_types.keys())


def _category_keys() -> list[str]:
    return [c.key for c in notification_types.categories()]


def _max_page() -> int:
    return app_settings.API_MAX_PAGE_SIZE


def _page_size() -> int:
    return min(app_settings.API_PAGE_SIZE, app_settings.API_MAX_PAGE_SIZE)


def _limit(default=_page_size) -> Int:
    return Int(min_value=1, max_value=_max_page, default=default, description="Page size.")


def _cursor() -> Str:
    return Str(max_length=200, description="next_cursor of the previous page.")


def _feed(user):
    return get_notification_model().objects.visible_to(user)


def _unread_count(user) -> int:
    return get_notification_model().objects.unread_count(user)


def _page_unread_count(rows, user) -> int:
    """The count a page read along (``with_unread_count()``); a query if it is empty."""
    return rows[0].feed_unread_count if rows else _unread_count(user)


def get_or_404(queryset, pk: int):
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise errors.not_found()
    return row


def _visible_row(user, pk: int):
    """The row if ``user`` sees it; 404 otherwise (never "exists, but not yours")."""
    return get_or_404(_feed(user), pk)


# --- the feed --------------------------------------------------------------------------------

LIST_QUERY = Query(
    {
        "unread": Bool(description="true: unread only; false: read only."),
        "level": Enum(_levels, description="Level code (the answer's type)."),
        "type": Enum(_type_keys, description="Registered notification type key."),
        "category": Enum(_category_keys, description="Category key of the type."),
        "priority": List(
            Enum(PRIORITY_NAMES),
            max_items=len(PRIORITY_NAMES),
            description="Repeat the parameter or separate with commas.",
        ),
        "since": DateTime(description="Only rows created at or after this instant."),
        "cursor": _cursor(),
        "limit": _limit(),
    }
)


class NotificationListView(ApiView):
    @operation(
        summary="List the feed",
        description="Newest first, keyset-paginated: follow next_cursor until it is null.",
        query=LIST_QUERY,
        responses={200: NOTIFICATION_PAGE},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        rows = _feed(user)
        if "unread" in query:
            rows = rows.unread() if query["unread"] else rows.read()
        if "level" in query:
            rows = rows.filter(level=query["level"])
        if "type" in query:
            rows = rows.filter(notification_type=query["type"])
        if "category" in query:
            keys = [
                t.key
                for t in notification_types
                if t.category is not None and t.category.key == query["category"]
            ]
            rows = rows.filter(notification_type__in=keys)
        if query.get("priority"):
            rows = rows.filter(priority__in=[Priority[p.upper()] for p in query["priority"]])
        if "since" in query:
            rows = rows.filter(created_at__gte=query["since"])
        found, next_cursor = page(
            rows.with_unread_count(), query["limit"], cursor=query.get("cursor"), field="created_at"
        )
        return {
            "results": [notification_json(n) for n in found],
            "next_cursor": next_cursor,
            "unread_count": _page_unread_count(found, user),
        }


class NotificationDetailView(ApiView):
    @operation(
        summary="One notification",
        responses={200: NOTIFICATION},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body, pk):
        return notification_json(_visible_row(user, pk))

    @operation(
        summary="Dismiss a notification",
        description="Same as POST …/dismiss/.",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def delete(self, request, *, user, query, body, pk):
        return _dismiss(user, pk)


class UnreadCountView(ApiView):
    @operation(summary="Unread count", responses={200: UNREAD_COUNT}, tags=NOTIFICATIONS)
    def get(self, request, *, user, query, body):
        return {"unread_count": _unread_count(user)}


class RecentView(ApiView):
    @operation(
        summary="The latest notifications and the unread count (the bell's dropdown)",
        query=Query({"limit": _limit(default=10)}),
        responses={200: RECENT},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        rows = list(_feed(user).with_unread_count()[: query["limit"]])
        return {
            "results": [notification_json(n) for n in rows],
            "unread_count": _page_unread_count(rows, user),
        }


MARK_READ_BODY = Object(
    {"ids": List(Id(), min_items=1, max_items=100, required=True)}, name="MarkReadRequest"
)


class MarkReadView(ApiView):
    @operation(
        summary="Mark several notifications read",
        description="All or nothing: if any id is not visible, the answer is 404 and "
        "nothing changes.",
        body=MARK_READ_BODY,
        responses={200: MARKED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body):
        ids = set(body["ids"])
        manager = get_notification_model().objects
        with transaction.atomic():
            if _feed(user).filter(pk__in=ids).count() != len(ids):
                raise errors.not_found("One or more notifications were not found.")
            marked = manager.mark_read_many(user, ids)
        return {"marked": marked, "unread_count": _unread_count(user)}


class ReadView(ApiView):
    state = "read"

    @operation(
        summary="Mark one notification read",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        row = _visible_row(user, pk)
        changed = row.mark_read(user) if self.state == "read" else row.mark_unread(user)
        return {"changed": changed, "unread_count": _unread_count(user)}


class UnreadView(ReadView):
    state = "unread"

    @operation(
        summary="Mark one notification unread",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        return super().post(request, user=user, query=query, body=body, pk=pk)


class MarkAllReadView(ApiView):
    @operation(summary="Mark everything visible read", responses={200: MARKED}, tags=NOTIFICATIONS)
    def post(self, request, *, user, query, body):
        marked = get_notification_model().objects.mark_all_read(user)
        return {"marked": marked, "unread_count": _unread_count(user)}


def _dismiss(user, pk: int) -> dict[str, Any]:
    # addressed_to(): the feed's audience before dismissals, so dismissing twice (a
    # double click) answers changed=false instead of a 404.
    row = get_or_404(get_notification_model().objects.addressed_to(user), pk)
    changed = row.dismiss(user)
    return {"changed": changed, "unread_count": _unread_count(user)}


class DismissView(ApiView):
    @operation(
        summary="Dismiss a notification",
        description="Hides it from this user's feed (others still see a broadcast).",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        return _dismiss(user, pk)


class DismissAllView(ApiView):
    @operation(summary="Dismiss everything visible", responses={200: DISMISSED}, tags=NOTIFICATIONS)
    def post(self, request, *, user, query, body):
        dismissed = get_notification_model().objects.dismiss_all(user)
        return {"dismissed": dismissed, "unread_count": _unread_count(user)}


class StatsView(ApiView):
    @operation(
        summary="Counts by read state, type, priority and level",
        responses={200: STATS},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        # One grouped query: the groups are bounded by types × priorities × levels.
        groups = (
            _feed(user)
            .order_by()
            .annotate(
                is_unread=Case(
                    When(user_read_at__isnull=True, then=Value(True)),
                    default=Value(False),
                    output_field=BooleanOutput(),
                )
            )
            .values("notification_type", "priority", "level", "action_required", "is_unread")
            .annotate(n=Count("pk"))
        )
        stats: dict[str, Any] = {
            "total": 0, "unread": 0, "read": 0, "by_type": {}, "by_priority": {},
            "by_level": {}, "action_required": 0,
        }  # fmt: skip
        for group in groups:
            n = group["n"]
            stats["total"] += n
            stats["unread" if group["is_unread"] else "read"] += n
            if group["action_required"] and group["is_unread"]:
                stats["action_required"] += n
            for key, value in (
                ("by_type", group["notification_type"] or ""),
                ("by_priority", priority_name(group["priority"])),
                ("by_level", group["level"]),
            ):
                stats[key][value] = stats[key].get(value, 0) + n
        return stats


# --- sending ---------------------------------------------------------------------------------


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
        "type": Enum(_levels, description="Level code, e.g. IN (information), IM (important)."),
        "title": Str(min_length=1, max_length=255, required=True),
        "description": Str(description="HTML; sanitised when stored."),
        "meta_data": JSONObject(),
        "url": _link(description="Site-relative path or http(s)/mailto URL."),
        "action_url": _link(),
        "action_required": Bool(),
        "priority": Enum(PRIORITY_NAMES),
        "expires_at": DateTime(nullable=True),
        "notification_type": Enum(_type_keys, description="Registered type key."),
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
        tags=("sending",),
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(sending.send, user, body)


class SendToSelfView(ApiView):
    @operation(
        summary="Send to yourself",
        body=SEND_TO_SELF_BODY,
        responses={201: SENT},
        errors=_SEND_ERRORS,
        tags=("sending",),
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(sending.send_to_self, user, body)


class SendSystemView(ApiView):
    @operation(
        summary="Send a system notification (staff and superusers)",
        description="Without targets (or with is_global: true) every user sees it.",
        body=SEND_SYSTEM_BODY,
        responses={201: SENT},
        errors=_SEND_ERRORS,
        tags=("sending",),
        rename=_SEND_RENAME,
    )
    def post(self, request, *, user, query, body):
        return _send(sending.send_system, user, body)


# --- preferences -----------------------------------------------------------------------------

PREFERENCE_ENTRY = Object(
    {
        "notification_type": Str(max_length=100, description="A type key; or give category."),
        "category": Str(max_length=100),
        "channel": Str(max_length=50, required=True),
        "enabled": Bool(nullable=True),
        "frequency": Enum(Frequency.values),
    },
    name="PreferenceEntry",
)
PREFERENCES_PATCH = Object(
    {
        "preferences": AnyOf(
            List(PREFERENCE_ENTRY, max_items=1000),
            Mapping_(
                Mapping_(AnyOf(Bool(), Str(max_length=20), nullable=True), max_items=50),
                max_items=500,
                description='Per-type form: {"<type>": {"email_enabled": false, '
                '"email_batch_frequency": "daily"}}; "category:<key>" for a category.',
            ),
        ),
        "quiet_hours": Object(
            {"start": Time(required=True), "end": Time(required=True)},
            nullable=True,
            description="null switches quiet hours off.",
        ),
        "timezone": Str(max_length=64, description="IANA name, e.g. Europe/Paris."),
        "language": Str(max_length=15, description="A code from LANGUAGES."),
    },
    name="PreferencesPatch",
)
_SETTINGS_RENAME = {"quiet_hours_start": "quiet_hours.start", "quiet_hours_end": "quiet_hours.end"}


def preferences_json(user) -> dict[str, Any]:
    from ..channels import channels

    data = prefs.get_preferences(user)
    data["channels"] = [
        {
            "name": alias,
            "label": str(spec.backend.label or alias.replace("_", " ").title()),
            "supports_digest": bool(spec.backend.supports_digest),
        }
        for alias, spec in channels.items()
    ]
    data["frequencies"] = [{"value": v, "label": str(label)} for v, label in Frequency.choices]
    data["categories"] = [
        {"key": c.key, "name": str(c.name), "description": str(c.description)}
        for c in notification_types.categories()
    ]
    return data


def _renamed(exc: ValidationError, names: dict[str, str], prefix: str = "") -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    fields = {}
    for key, messages in exc.message_dict.items():
        key = names.get(key, key)
        if prefix and key != NON_FIELD_ERRORS and not key.startswith(prefix):
            key = f"{prefix}.{key}"
        fields[key] = messages
    return ValidationError(fields)


class PreferencesView(ApiView):
    @operation(
        summary="Your delivery preferences",
        description="Every registered type × channel with its effective switch, plus "
        "quiet hours, time zone, language and what the choices are.",
        responses={200: PREFERENCES},
        tags=("preferences",),
    )
    def get(self, request, *, user, query, body):
        return preferences_json(user)

    @operation(
        summary="Update preferences, quiet hours, time zone, language",
        description="All given parts are applied together or not at all.",
        body=PREFERENCES_PATCH,
        responses={200: PREFERENCES},
        tags=("preferences",),
    )
    def patch(self, request, *, user, query, body):
        with transaction.atomic():
            if "preferences" in body:
                try:
                    prefs.update_preferences(user, body["preferences"])
                except ValidationError as exc:
                    raise _renamed(exc, {}, prefix="preferences") from None
            settings: dict[str, Any] = {}
            if "quiet_hours" in body:
                hours = body["quiet_hours"] or {"start": None, "end": None}
                settings.update(quiet_hours_start=hours["start"], quiet_hours_end=hours["end"])
            for name in ("timezone", "language"):
                if name in body:
                    settings[name] = body[name]
            if settings:
                try:
                    prefs.update_recipient_settings(user, **settings)
                except ValidationError as exc:
                    raise _renamed(exc, _SETTINGS_RENAME) from None
        return preferences_json(user)


class PreferencesResetView(ApiView):
    @operation(
        summary="Reset preferences to the defaults",
        description="Removes your per-type and per-category switches; quiet hours, time "
        "zone and language stay.",
        responses={200: PREFERENCES},
        tags=("preferences",),
    )
    def post(self, request, *, user, query, body):
        prefs.reset_preferences(user)
        return preferences_json(user)


# --- message templates (staff) ---------------------------------------------------------------

_TEMPLATE_FIELDS = {
    "notification_type": Str(max_length=100, description='A type key, or "digest".'),
    "channel": Str(max_length=50),
    "organization_key": Str(max_length=64, description="Empty: every organization."),
    "language": Str(max_length=15, description="Empty: every language."),
    "subject": Str(description="Django template source."),
    "body": Str(description="Django template source (plain text)."),
    "html_body": Str(description="Django template source (HTML, sanitised on render)."),
    "is_active": Bool(),
}
TEMPLATE_CREATE = Object(
    {
        **_TEMPLATE_FIELDS,
        "notification_type": Str(max_length=100, min_length=1, required=True),
        "channel": Str(max_length=50, min_length=1, required=True),
    },
    name="TemplateCreate",
)
TEMPLATE_PATCH = Object(_TEMPLATE_FIELDS, name="TemplatePatch")
TEMPLATES = ("templates",)


def _save_template(template: NotificationTemplate) -> NotificationTemplate:
    template.full_clean()  # syntax errors name the field and the line
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # a concurrent create of the same (type, channel, org, language)
        raise ValidationError(
            {NON_FIELD_ERRORS: ["A template for this type, channel, organization and "
                                "language exists already."]}
        ) from None  # fmt: skip
    return template


class TemplateListView(ApiView):
    @operation(
        summary="List message templates (staff)",
        query=Query(
            {
                "notification_type": Str(max_length=100),
                "channel": Str(max_length=50),
                "cursor": _cursor(),
                "limit": _limit(),
            }
        ),
        responses={200: TEMPLATE_PAGE},
        staff=True,
        tags=TEMPLATES,
    )
    def get(self, request, *, user, query, body):
        rows = NotificationTemplate.objects.order_by("-pk")
        for name in ("notification_type", "channel"):
            if name in query:
                rows = rows.filter(**{name: query[name]})
        found, next_cursor = page(rows, query["limit"], cursor=query.get("cursor"), field=None)
        return {"results": [template_json(t) for t in found], "next_cursor": next_cursor}

    @operation(
        summary="Create a message template (staff)",
        body=TEMPLATE_CREATE,
        responses={201: TEMPLATE},
        staff=True,
        tags=TEMPLATES,
    )
    def post(self, request, *, user, query, body):
        return 201, template_json(_save_template(NotificationTemplate(**body)))


class TemplateDetailView(ApiView):
    @operation(
        summary="One message template (staff)",
        responses={200: TEMPLATE},
        errors=(404,),
        staff=True,
        tags=TEMPLATES,
    )
    def get(self, request, *, user, query, body, pk):
        return template_json(get_or_404(NotificationTemplate.objects, pk))

    @operation(
        summary="Update a message template (staff)",
        body=TEMPLATE_PATCH,
        responses={200: TEMPLATE},
        errors=(404,),
        staff=True,
        tags=TEMPLATES,
    )
    def patch(self, request, *, user, query, body, pk):
        template = get_or_404(NotificationTemplate.objects, pk)
        for name, value in body.items():
            setattr(template, name, value)
        return template_json(_save_template(template))
