"""The entry points that start a write: the send API (``send``, ``send_to_self``,
``send_system``, checked against the sender rules) and the trusted ``notify``.

Each builds the rows and hands one :class:`~django_notify.pipeline.request.WriteRequest`
to :func:`~django_notify.pipeline.write.write`, the path every notification takes
(``emit()`` gets there through event processing): a refused or invalid send writes
nothing, and there is no second path for "simple" cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from .. import policy
from ..loading import get_notification_model
from ..tenancy import get_adapter
from ..types import Origin, Scope
from .request import WriteRequest
from .rows import (
    build_template,
    clone,
    recipient_ids,
    rows_for_targets,
    system_rows,
)
from .write import write


def _require_sender(sender) -> None:
    if sender is None or not getattr(sender, "is_authenticated", False):
        raise policy.SendRefused(policy.SenderRule.SENDER_ACTIVE)


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
                policy.SenderRule.ORG_SENDER_MEMBER, "the sender has no organization"
            )
        rows = [
            clone(
                template,
                scope=Scope.ORGANIZATION,
                origin=origin,
                organization_key=str(org),
                is_global=True,
                sender=sender,
            )  # fmt: skip
        ]
    else:
        rows = rows_for_targets(
            template, origin, sender, target_user, target_team, user_ids, team_ids
        )
    return write(WriteRequest(rows, created_by=sender))


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
    policy.check(sender, policy.Addressees(origin=Origin.SYSTEM))
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
            clone(
                template,
                scope=Scope.SYSTEM,
                origin=Origin.SYSTEM,
                is_global=True,
                sender=sender,
                organization_key="",
            )  # fmt: skip
        ]
    else:
        rows = rows_for_targets(template, Origin.SYSTEM, sender, *targets)
    return write(WriteRequest(rows, created_by=sender))


def notify(
    recipients: Iterable[Any] | models.QuerySet,
    type_key: str | None = None,
    *,
    title: str,
    body: str = "",
    level: str | None = None,
    model=None,
    **content: Any,
) -> list[models.Model]:
    """Trusted, system-originated fan-out from host code (bulk creation).

    One direct row per recipient (users, ids or a user queryset), inserted in bulk in
    one transaction. No sender rules apply: only call this from trusted code.
    """
    model = model or get_notification_model()
    user_ids = recipient_ids("recipients", recipients)
    rows = system_rows(model, user_ids, type_key, title=title, body=body, level=level, **content)
    return write(WriteRequest(rows))
