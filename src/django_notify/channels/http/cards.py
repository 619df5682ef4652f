"""What the Slack and Teams cards show of a message."""

from __future__ import annotations

from ...types import Priority
from ..base import Message

#: How many notifications a digest lists before "…and N more".
DIGEST_ITEMS = 20


def message_priority(message: Message) -> str:
    """The priority's label ("High") for chat cards, or ""."""
    value = message.data.get("priority")
    if value is None:
        value = getattr(message.notification, "priority", None)
    if value in (None, ""):
        return ""
    try:
        return str(Priority.parse(value).label)
    except ValueError:
        return str(value)


def message_type(message: Message) -> str:
    """The notification type key for chat cards ("digest" for a digest), or ""."""
    if message.is_digest:
        return "digest"
    return str(
        message.data.get("type")
        or getattr(message.delivery, "notification_type", None)
        or getattr(message.notification, "notification_type", None)
        or ""
    )


def is_absolute(url: str) -> bool:
    """Chat buttons need an absolute http(s) link; anything else is left out."""
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def message_facts(message: Message) -> list[tuple[str, str]]:
    """``[("Priority", "High"), ("Type", "job.created")]``, leaving out empty ones."""
    facts = [("Priority", message_priority(message)), ("Type", message_type(message))]
    return [(name, value) for name, value in facts if value]
