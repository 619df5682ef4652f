"""Building the :class:`~django_notify.channels.Message` for a delivery or a digest:
templates rendered in the recipient's language and time zone, a machine payload without
sensitive context, and the one-click unsubscribe link."""

from __future__ import annotations

from typing import Any

from ..channels.base import BaseChannel, Message
from ..conf import app_settings
from ..rendering.templates import (
    DIGEST_KEY,
    TemplateLookup,
    absolute_url,
    digest_context,
    notification_context,
    render_parts,
)
from ..types import Priority, notification_types
from . import unsubscribe
from .locales import recipient_locales


def _sensitive(ntype) -> set[str]:
    return set(app_settings.SENSITIVE_CONTEXT) | set(getattr(ntype, "sensitive_context", ()))


def _object_ref(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"type": obj._meta.label_lower, "id": str(obj.pk), "name": str(obj)}


def payload(notification, recipient) -> dict[str, Any]:
    """The JSON machine channels receive: what the recipient may see, minus sensitive
    context (the type's ``sensitive_context`` and ``SENSITIVE_CONTEXT``)."""
    ntype = notification_types.of(notification)
    hidden = _sensitive(ntype)
    context = (notification.meta_data or {}).get("context") or {}
    if not isinstance(context, dict):
        context = {}
    return {
        "id": notification.pk,
        "type": notification.notification_type,
        "level": notification.level,
        "priority": Priority(notification.priority).name.lower(),
        "title": notification.title,
        "body": notification.description_text,
        "url": absolute_url(notification.url),
        "action_url": absolute_url(notification.action_url),
        "action_required": notification.action_required,
        "created_at": notification.created_at.isoformat(),
        "scope": notification.scope,
        "actor": _object_ref(notification.actor),
        "target": _object_ref(notification.target),
        "context": {k: v for k, v in context.items() if k not in hidden},
        "recipient": {"id": recipient.pk},
    }


def _organization(notification) -> str:
    return notification.organization_key or ""


def for_delivery(
    delivery,
    notification,
    channel: BaseChannel,
    *,
    locale: tuple[str, str, Any] | None = None,
    templates: TemplateLookup | None = None,
) -> Message:
    """The message for one delivery. A batch passes what it read for all its deliveries
    at once: the recipient's ``locale`` (from :func:`recipient_locales`) and its
    ``templates`` lookup."""
    recipient = delivery.user
    language, tz, _ = locale or recipient_locales([recipient.pk])[recipient.pk]
    url = absolute_url(notification.url or notification.action_url)
    unsubscribe_url = (
        unsubscribe.url_for(recipient, [notification.notification_type], delivery.channel)
        if notification.notification_type
        else ""
    )
    context = notification_context(
        notification, recipient, url=url, unsubscribe_url=unsubscribe_url
    )
    rendered = render_parts(
        notification.notification_type,
        delivery.channel,
        context,
        organization=_organization(notification),
        language=language,
        tz=tz,
        templates=templates,
    )
    return Message(
        subject=rendered.subject or notification.title,
        text=rendered.text,
        html=rendered.html if channel.supports_html else "",
        recipient=recipient,
        address=delivery.address,
        idempotency_key=delivery.idempotency_key,
        url=url,
        notification=notification,
        data=payload(notification, recipient),
        unsubscribe_url=unsubscribe_url,
        language=language,
        timezone=tz,
        delivery=delivery,
    )


def for_digest(digest, notifications: list[Any], channel: BaseChannel) -> Message:
    recipient = digest.user
    language, tz, _ = recipient_locales([recipient.pk])[recipient.pk]
    types = sorted({n.notification_type for n in notifications if n.notification_type})
    unsubscribe_url = unsubscribe.url_for(recipient, types, digest.channel) if types else ""
    context = digest_context(notifications, recipient, unsubscribe_url=unsubscribe_url)
    organization = next((n.organization_key for n in notifications if n.organization_key), "")
    rendered = render_parts(
        DIGEST_KEY,
        digest.channel,
        context,
        organization=organization,
        language=language,
        tz=tz,
    )
    return Message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html if channel.supports_html else "",
        recipient=recipient,
        address=digest.address,
        idempotency_key=digest.idempotency_key,
        notifications=notifications,
        data={
            "digest": True,
            "frequency": digest.frequency,
            "count": len(notifications),
            "notifications": [payload(n, recipient) for n in notifications],
        },
        unsubscribe_url=unsubscribe_url,
        language=language,
        timezone=tz,
        delivery=digest,
    )
