"""Signed one-click unsubscribe links (RFC 8058) for email and other channels.

The token names the user, the type(s) and the channel, signed with ``SECRET_KEY``
(Django's signing, salted), so the link works without a login and cannot be forged or
pointed at somebody else. Following it switches that channel off for those types through
the preferences API, so the user sees it on their preferences page and can undo it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import NoReverseMatch, reverse

from ..conf import app_settings
from ..rendering.templates import absolute_url
from ..types import notification_types
from .preferences import update_preferences

SALT = "django_notify.unsubscribe"
#: Links stay valid this long (seconds): an old email's link still works for a year.
MAX_AGE = 366 * 24 * 3600


def make_token(user, type_keys: Iterable[str], channel: str) -> str:
    return signing.dumps(
        {"u": str(user.pk), "t": sorted(set(type_keys)), "c": channel}, salt=SALT, compress=True
    )


def read_token(token: str) -> tuple[Any, list[str], str]:
    """(user, type keys, channel); ``ValidationError`` for a bad or expired token."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
        user = get_user_model()._default_manager.get(pk=data["u"])
        return user, list(data["t"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ValidationError(
            {"token": "This unsubscribe link is invalid or has expired."}
        ) from None
    except get_user_model().DoesNotExist:
        raise ValidationError({"token": "This unsubscribe link is no longer valid."}) from None


def url_for(user, type_keys: Iterable[str], channel: str) -> str:
    """The absolute link, or "" when the host has not included ``django_notify.urls`` or
    set ``SITE_URL`` (a List-Unsubscribe header must be an absolute URI)."""
    if not app_settings.SITE_URL:
        return ""
    try:
        path = reverse("django_notify:unsubscribe", args=[make_token(user, type_keys, channel)])
    except NoReverseMatch:
        return ""
    return absolute_url(path)


def apply(token: str) -> tuple[Any, list[str], str]:
    """Switch the channel off for the token's types (required channels stay on)."""
    user, type_keys, channel = read_token(token)
    entries = [
        {"notification_type": key, "channel": channel, "enabled": False}
        for key in type_keys
        if key in notification_types
        and channel in notification_types.get(key).channels
        and channel not in notification_types.get(key).required_channels
    ]
    if entries:
        update_preferences(user, entries)
    return user, [e["notification_type"] for e in entries], channel
