"""Creating notification rows: the send API's ``send`` paths and the trusted ``notify``.

Every path ends in :func:`create_notifications`, which validates, bulk-inserts in one
transaction and sends ``notification_created`` — so a refused or invalid send writes
nothing, and there is no second path for "simple" cases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from . import policy, signals
from .conf import app_settings
from .loading import get_notification_model
from .tenancy import get_adapter
from .types import Origin, Priority, Scope
from .validation import check_meta_data

logger = logging.getLogger("django_notify.sending")

#: Content fields every creation path accepts as keyword arguments.
CONTENT_FIELDS = (
    "description", "url", "action_url", "action_required", "priority", "meta_data",
    "notification_type", "expires_at", "actor", "target",
)  # fmt: skip
#: Only trusted host code may backdate or postdate a row (a sender could otherwise pin
#: theirs to the top of a team's feed).
TRUSTED_FIELDS = ("created_at",)
# Fields validated once on the template row; the rest are checked in bulk.
_NOT_PER_ROW = ["recipient", "sender", "actor_content_type", "target_content_type", "scope"]


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, models.QuerySet):
        return list(value.values_list("pk", flat=True))
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError({name: f"{name} must be a list of ids or objects."})
    return list(value)


def resolve_user_ids(name: str, values: Iterable[Any]) -> list[Any]:
    """Ids or user instances → existing user pks, in order, de-duplicated."""
    pk_field = get_user_model()._meta.pk
    ids = []
    for value in values:
        try:
            ids.append(pk_field.to_python(_pk(value)))
        except ValidationError:
            raise ValidationError({name: f"{_pk(value)!r} is not a valid user id."}) from None
    ids = _unique(ids)
    found = set(get_user_model()._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationError({name: f"Unknown user id(s): {', '.join(missing[:10])}."})
    return ids


#: What an adapter may raise for a team key it cannot read ("¹", "abc" for an integer
#: pk, a number past the column): the caller's bad input, not a server error.
_BAD_KEY_ERRORS = (ValueError, TypeError, ValidationError, OverflowError)


def resolve_team_keys(name: str, values: Iterable[Any]) -> tuple[list[str], dict[str, str]]:
    """Team ids or instances → (keys, {key: organization key}); unknown teams refused,
    and so is a key the adapter fails to read (a ``ValidationError`` naming ``name``)."""
    adapter = get_adapter()
    values = list(values)
    try:
        keys = _unique(str(adapter.team_key(v)) for v in values if v is not None)
        orgs = {str(k): str(v) for k, v in adapter.get_team_organizations(keys).items()}
    except _BAD_KEY_ERRORS as exc:
        # Logged for the host (an adapter bug looks the same from here); the caller is
        # told which values, not the adapter's internals.
        logger.info("the tenancy adapter could not read %s %r", name, values, exc_info=True)
        if isinstance(exc, ValidationError):
            raise ValidationError({name: exc.messages}) from None
        shown = ", ".join(str(getattr(v, "pk", v)) for v in values[:10])
        raise ValidationError({name: f"Unknown or malformed team id(s): {shown}."}) from None
    missing = [k for k in keys if k not in orgs]
    if missing:
        raise ValidationError({name: f"Unknown team id(s): {', '.join(missing[:10])}."})
    return keys, orgs


def _targets(target_user, target_team, user_ids, team_ids) -> tuple[str, list[Any]]:
    given = {
        name: value
        for name, value in (
            ("target_user", target_user),
            ("target_team", target_team),
            ("user_ids", user_ids),
            ("team_ids", team_ids),
        )  # fmt: skip
        if value is not None
    }
    if len(given) != 1:
        names = ", ".join(given) or "none"
        error = f"Give exactly one of target_user, target_team, user_ids or team_ids (got {names})."
        raise ValidationError({name: error for name in given} or {"target_user": error})
    name, value = given.popitem()
    values = [value] if name in ("target_user", "target_team") else _as_list(name, value)
    if not values:
        raise ValidationError({name: f"{name} must not be empty."})
    return name, values


def build_template(
    model,
    *,
    title: str,
    level_code: str | None = None,
    trusted: bool = False,
    limit_meta_data: bool = True,
    **content,
) -> models.Model:
    """An unsaved row holding the shared content, validated once. ``meta_data`` must
    hold finite numbers and (``limit_meta_data``) fit ``MAX_META_DATA_BYTES``."""
    if "level" in content:
        raise TypeError("The send functions take the level code as type=, not level=")
    allowed = set(CONTENT_FIELDS) | (set(TRUSTED_FIELDS) if trusted else set())
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise TypeError(f"Unexpected keyword argument(s): {', '.join(unknown)}")
    actor = content.pop("actor", None)
    target = content.pop("target", None)
    if content.get("meta_data") is None:
        content["meta_data"] = {}
    check_meta_data(content["meta_data"], limit_size=limit_meta_data)
    if "priority" in content:
        try:
            content["priority"] = Priority.parse(content["priority"])
        except ValueError as exc:
            raise ValidationError({"priority": str(exc)}) from None
    if content.get("created_at") is None:
        content.pop("created_at", None)
    row = model(title=title, level=level_code or app_settings.DEFAULT_LEVEL, **content)
    for prefix, obj in (("actor", actor), ("target", target)):
        if obj is not None:
            if getattr(obj, "pk", None) is None:
                raise ValidationError({prefix: f"{prefix} must be a saved model instance."})
            setattr(row, f"{prefix}_content_type", ContentType.objects.get_for_model(obj))
            setattr(row, f"{prefix}_object_id", str(obj.pk))
    row.prepare()
    row.clean_fields(exclude=_NOT_PER_ROW)
    return row


def _clone(template, **target) -> models.Model:
    data = {
        f.attname: getattr(template, f.attname)
        for f in template._meta.concrete_fields
        if not f.primary_key
    }
    data.update(target)
    if "sender" in target:
        data.pop("sender_id", None)
    row = type(template)(**data)
    row._notify_prepared = True
    return row


def create_notifications(
    rows: Sequence[models.Model], *, created_by=None, reach=None
) -> list[models.Model]:
    """Check the sender rules and rate limit for the batch, insert it atomically with its
    Delivery rows, signal each row; dispatch and real-time push follow the commit."""
    if not rows:
        return []
    from .channels.in_app import publish_on_commit
    from .delivery import planning, ratelimit
    from .delivery.dispatch import dispatch_on_commit

    model = type(rows[0])
    with transaction.atomic():
        ratelimit.check_sender(created_by, len(rows), model)
        # The manager's bulk_create checks the sender rules for the whole batch.
        created = model._default_manager.bulk_create(rows, batch_size=app_settings.BULK_BATCH_SIZE)
        if signals.notification_created.has_listeners(model):
            for row in created:
                signals.notification_created.send(
                    sender=model, notification=row, created_by=created_by
                )
        # The intent to deliver commits with the rows; the work leaves after commit.
        deliveries = planning.plan(created, reach=reach)
        dispatch_on_commit(planning.due_now(deliveries))
        publish_on_commit([row.pk for row in created])
    return created


def _user_rows(template, user_ids, origin, sender, orgs=None) -> list[models.Model]:
    if orgs is None:
        orgs = get_adapter().get_user_organizations(user_ids)
    return [
        _clone(
            template,
            scope=Scope.USER,
            origin=origin,
            recipient_id=uid,
            organization_key=str(orgs.get(uid) or ""),
            sender=sender,
            is_global=False,
        )  # fmt: skip
        for uid in user_ids
    ]


def _team_rows(template, keys, team_orgs, origin, sender) -> list[models.Model]:
    return [
        _clone(
            template,
            scope=Scope.TEAM,
            origin=origin,
            team_key=key,
            organization_key=team_orgs[key],
            sender=sender,
            is_global=False,
        )  # fmt: skip
        for key in keys
    ]


def _rows_for_targets(template, origin, sender, target_user, target_team, user_ids, team_ids):
    name, values = _targets(target_user, target_team, user_ids, team_ids)
    if name in ("target_user", "user_ids"):
        return _user_rows(template, resolve_user_ids(name, values), origin, sender)
    keys, team_orgs = resolve_team_keys(name, values)
    return _team_rows(template, keys, team_orgs, origin, sender)


def _require_sender(sender) -> None:
    if sender is None or not getattr(sender, "is_authenticated", False):
        raise policy.SendRefused(policy.Rule.SENDER_ACTIVE)


def send(
    sender,
    *,
    title: str,
    type: str | None = None,  # noqa: A002 - the send API's name for the level code
    description: str = "",
    target_user: Any = None,
    target_team: Any = None,
    user_ids: Iterable[Any] | None = None,
    team_ids: Iterable[Any] | None = None,
    meta_data: dict | None = None,
    is_global: bool = False,
    model=None,
    **content: Any,
) -> list[models.Model]:
    """Organization-scoped send: one row per resolved target.

    ``is_global=True`` (no targets) notifies the sender's whole organization, which
    only organization admins, staff and superusers may do.
    """
    _require_sender(sender)
    model = model or get_notification_model()
    template = build_template(
        model, title=title, level_code=type, description=description, meta_data=meta_data, **content
    )
    origin = Origin.ORGANIZATION
    if is_global:
        if any(v is not None for v in (target_user, target_team, user_ids, team_ids)):
            raise ValidationError({"is_global": "is_global=True cannot be combined with targets."})
        org = get_adapter().get_organization_id(sender)
        if org is None:
            raise policy.SendRefused(
                policy.Rule.ORG_SENDER_MEMBER, "the sender has no organization"
            )
        rows = [
            _clone(
                template,
                scope=Scope.ORGANIZATION,
                origin=origin,
                organization_key=str(org),
                is_global=True,
                sender=sender,
            )  # fmt: skip
        ]
    else:
        rows = _rows_for_targets(
            template, origin, sender, target_user, target_team, user_ids, team_ids
        )
    return create_notifications(rows, created_by=sender)


def send_to_self(
    sender,
    *,
    title: str,
    type: str | None = None,  # noqa: A002
    description: str = "",
    meta_data: dict | None = None,
    model=None,
    **content: Any,
) -> list[models.Model]:
    """An organization-scoped notification addressed to the sender only."""
    return send(
        sender, title=title, type=type, description=description, meta_data=meta_data,
        target_user=sender, model=model, **content,
    )  # fmt: skip


def send_system(
    sender,
    *,
    title: str,
    type: str | None = None,  # noqa: A002
    description: str = "",
    is_global: bool | None = None,
    target_user: Any = None,
    target_team: Any = None,
    user_ids: Iterable[Any] | None = None,
    team_ids: Iterable[Any] | None = None,
    meta_data: dict | None = None,
    model=None,
    **content: Any,
) -> list[models.Model]:
    """A system-scoped notification (staff and superusers only).

    ``is_global=True`` (the default without targets) is one row every user sees.
    With targets (``is_global`` then defaults to False) it addresses the given users or
    teams in any organization, under the system rules.
    """
    _require_sender(sender)
    model = model or get_notification_model()
    # Refuse before looking anything up: non-staff learn nothing about targets.
    policy.check(sender, policy.Audience(origin=Origin.SYSTEM))
    template = build_template(
        model, title=title, level_code=type, description=description, meta_data=meta_data, **content
    )
    targets = (target_user, target_team, user_ids, team_ids)
    if is_global is None:
        is_global = all(v is None for v in targets)
    if is_global:
        if any(v is not None for v in targets):
            raise ValidationError({"is_global": "is_global=True cannot be combined with targets."})
        rows = [
            _clone(
                template,
                scope=Scope.SYSTEM,
                origin=Origin.SYSTEM,
                is_global=True,
                sender=sender,
                organization_key="",
            )  # fmt: skip
        ]
    else:
        rows = _rows_for_targets(template, Origin.SYSTEM, sender, *targets)
    return create_notifications(rows, created_by=sender)


def notify(
    recipients: Iterable[Any] | models.QuerySet,
    type_key: str | None = None,
    *,
    title: str,
    body: str = "",
    level: str | None = None,
    model=None,
    _reach: dict[str, set[Any]] | None = None,
    **content: Any,
) -> list[models.Model]:
    """Trusted, system-originated fan-out from host code (the notification centre's bulk create).

    One direct row per recipient (users, ids or a user queryset), inserted in bulk in
    one transaction. No sender rules apply: only call this from trusted code.
    """
    model = model or get_notification_model()
    user_ids = resolve_user_ids("recipients", _as_list("recipients", recipients))
    if "description" in content:
        raise TypeError("notify() takes body=, not description=")
    from .types import notification_types

    if type_key and type_key in notification_types:
        # A registered type's level and priority apply unless the caller chose.
        ntype = notification_types.get(type_key)
        level = level or ntype.level
        content.setdefault("priority", ntype.default_priority)
    template = build_template(
        model,
        title=title,
        level_code=level,
        description=body,
        notification_type=type_key,
        trusted=True,
        # Event processing passes ``_reach`` and builds meta_data from the event's
        # context: not a caller's meta_data, and refusing it would fail the event on
        # every attempt. Non-finite numbers are refused all the same.
        limit_meta_data=_reach is None,
        **content,
    )
    rows = _user_rows(template, user_ids, Origin.ORGANIZATION, None)
    # ``_reach`` (from event processing): channel → the users subscriptions and rules
    # reach on it; a user left out of a channel's set has it switched off.
    return create_notifications(rows, created_by=None, reach=_reach)
