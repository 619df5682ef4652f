"""``{% load notify %}``: the feed and the unread count in any template.

Everything goes through ``visible_to(request.user)``; titles are escaped as text and
only the already-sanitised description is rendered as HTML.
"""

from __future__ import annotations

from django import template

from ..loading import get_notification_model

register = template.Library()


def _user(context):
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


@register.simple_tag(takes_context=True)
def notify_unread_count(context) -> int:
    """``{% notify_unread_count as count %}`` (one query)."""
    return get_notification_model().objects.unread_count(_user(context))


@register.simple_tag(takes_context=True)
def notify_feed(context, limit: int = 5):
    """``{% notify_feed 5 as notifications %}``: the latest visible notifications."""
    qs = get_notification_model().objects.visible_to(_user(context)).with_related()
    return list(qs[: max(0, min(int(limit), 100))])


@register.filter
def notify_badge(count: int) -> str:
    """Seed 003's badge text: the count, or "9+" above nine; empty for zero."""
    count = int(count or 0)
    return "" if count <= 0 else ("9+" if count > 9 else str(count))


@register.inclusion_tag("django_notify/notification_list.html")
def notify_list(notifications, empty_text: str = "No notifications"):
    """Render a list of notifications (e.g. from ``notify_feed``)."""
    return {"notifications": notifications, "empty_text": empty_text}
