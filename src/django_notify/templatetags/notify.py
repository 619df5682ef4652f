"""``{% load notify %}``: the bell, the feed and the unread count in any template, and
the assets of the browser widget.

Everything goes through ``visible_to(request.user)``; titles are escaped as text and
only the already-sanitised description is rendered as HTML.

Query cost (asserted in tests/pages/test_templatetags_ui.py): ``notify_unread_count`` is one
query, ``notify_bell`` two (the count and the latest rows; one with ``items=0``),
``notify_assets`` none.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..loading import get_notification_model
from ..models.base import validate_link
from ..types import Priority

register = template.Library()

#: What the dropdown shows unless the tag says otherwise (the latest five).
DROPDOWN_ITEMS = 5
#: The storm window, in seconds: more than STORM_THRESHOLD arrivals within it are
#: summarised in one toast.
STORM_WINDOW = 3

#: Routes the widget and the pages call, by config key. ``{id}`` routes are reversed
#: with a placeholder id the widget replaces (the API's own converters stay the judge).
_ROUTES = {
    "list": "api-list",
    "unreadCount": "api-unread-count",
    "recent": "api-recent",
    "markRead": "api-mark-read",
    "markAllRead": "api-mark-all-read",
    "dismissAll": "api-dismiss-all",
    "stats": "api-stats",
    "preferences": "api-preferences",
    "preferencesReset": "api-preferences-reset",
    "alerts": "api-alerts",
    "alertStats": "api-alert-stats",
    "stream": "stream",
    "page": "page-notifications",
    "preferencesPage": "page-preferences",
}
_ID_ROUTES = {
    "detail": "api-detail",
    "read": "api-read",
    "unread": "api-unread",
    "dismiss": "api-dismiss",
    "alertResolve": "api-alert-resolve",
}
_PLACEHOLDER = 987654321

#: Every text the scripts write, translated on the server (the scripts carry English
#: fallbacks). ``%(name)s`` placeholders are filled in by the script.
MESSAGES = {
    "unreadLabel": _("%(label)s, %(count)s unread"),
    "empty": _("No notifications yet."),
    "loading": _("Loading…"),
    "storm": _("%(count)s new notifications"),
    "unreadSuffix": _(", unread"),
    "close": _("Close"),
    "justNow": _("just now"),
    "priorityLow": _("Low"),
    "priorityNormal": _("Normal"),
    "priorityHigh": _("High"),
    "priorityCritical": _("Critical"),
    "markRead": _("Mark read"),
    "markUnread": _("Mark unread"),
    "dismiss": _("Dismiss"),
    "takeAction": _("Take action"),
    "actionRequired": _("Action required"),
    "from": _("from %(name)s"),
    "stateRead": _("read"),
    "stateUnread": _("unread"),
    "select": _("Select: %(title)s"),
    "selected": _("%(count)s selected"),
    "newOne": _("1 new notification: show"),
    "newMany": _("%(count)s new notifications: show"),
    "listEmpty": _("No notifications match these filters."),
    "alertsEmpty": _("No alerts match these filters."),
    "resolve": _("Resolve"),
    "resolutionNotes": _("Resolution notes (optional)"),
    "resolutionNotesFor": _("Resolution notes for %(title)s"),
    "resolved": _("Resolved %(when)s"),
    "resolvedBy": _("Resolved %(when)s by %(name)s"),
    "firstSeen": _("first %(when)s"),
    "lastSeen": _("last %(when)s"),
    "systems": _("systems: %(list)s"),
    "organizations": _("organizations: %(list)s"),
    "saving": _("Saving…"),
    "saved": _("Preferences saved."),
    "nothingToSave": _("Nothing to save."),
    "resetConfirm": _(
        "Reset every notification switch to the defaults? Quiet hours, time zone and language stay."
    ),
    "resetDone": _("Preferences reset to the defaults."),
    "serverError": _("The server answered %(status)s."),
    "unreachable": _("The server could not be reached."),
}

STYLESHEET = "django_notify/notify.css"
SCRIPT = "django_notify/notify.js"
#: The pages' script (it needs notify.js, which it finds as ``window.DjangoNotify``).
PAGES_SCRIPT = "django_notify/pages.js"


def _user(context):
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


def _authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def _reverse(name: str, *args: Any) -> str:
    try:
        return reverse(f"django_notify:{name}", args=args)
    except NoReverseMatch as exc:
        raise ImproperlyConfigured(
            f"django-notify's widget needs the route 'django_notify:{name}'. Mount the package "
            'with path("notifications/", include("django_notify.urls")) in your ROOT_URLCONF.'
        ) from exc


def widget_urls() -> dict[str, str]:
    """Every URL the widget and the pages use, reversed from the ``django_notify``
    namespace; routes that take an id contain ``{id}``."""
    urls = {key: _reverse(name) for key, name in _ROUTES.items()}
    for key, name in _ID_ROUTES.items():
        urls[key] = _reverse(name, _PLACEHOLDER).replace(str(_PLACEHOLDER), "{id}")
    return urls


def _csrf_header_name() -> str:
    """``CSRF_HEADER_NAME`` is a WSGI environ key ("HTTP_X_CSRFTOKEN"); the browser sends
    the header it stands for ("X-CSRFTOKEN"; header names are case-insensitive)."""
    name = settings.CSRF_HEADER_NAME
    name = name[5:] if name.startswith("HTTP_") else name
    return name.replace("_", "-")


def widget_config(request=None) -> dict[str, Any]:
    """The JSON the widget reads from ``#django-notify-config``."""
    config: dict[str, Any] = {
        "urls": widget_urls(),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        "csrfHeaderName": _csrf_header_name(),
        "pollInterval": app_settings.POLL_INTERVAL,
        "stormThreshold": app_settings.STORM_THRESHOLD,
        "stormWindow": STORM_WINDOW,
        "dropdownLimit": DROPDOWN_ITEMS,
        "messages": {key: str(text) for key, text in MESSAGES.items()},
    }
    if request is not None and _authenticated(getattr(request, "user", None)):
        # For sites whose CSRF cookie the script cannot read (CSRF_USE_SESSIONS,
        # CSRF_COOKIE_HTTPONLY): the widget prefers the cookie, which is fresher after a
        # token rotation, and falls back to this one.
        config["csrfToken"] = get_token(request)
    return config


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
    """The bell's badge text: the count, or "9+" above nine; empty for zero."""
    count = int(count or 0)
    return "" if count <= 0 else ("9+" if count > 9 else str(count))


@register.filter
def notify_priority(value: Any) -> str:
    """A priority (number, member or name) as the widget's lower-case name: "high"."""
    try:
        return Priority.parse(value).name.lower()
    except (TypeError, ValueError):
        return "normal"


@register.filter
def notify_safe_link(value: Any) -> str:
    """``value`` if it is a site-relative path or an http(s)/mailto URL, else "".

    The model refuses other links on save; this also covers rows written around it
    (``QuerySet.update``), since a ``javascript:`` href would run on click.
    """
    value = str(value or "")
    try:
        validate_link(value)
    except ValidationError:
        return ""
    return value


@register.inclusion_tag("django_notify/notification_list.html")
def notify_list(notifications, empty_text: str = "No notifications"):
    """Render a list of notifications (e.g. from ``notify_feed``)."""
    return {"notifications": notifications, "empty_text": empty_text}


def dropdown_rows(user, limit: int) -> list:
    """The dropdown's latest rows in one query.

    The dropdown shows no sender, actor or target, so the prefetches ``visible_to``
    adds are dropped: one query whatever the rows point at.
    """
    if limit <= 0:
        return []
    qs = get_notification_model().objects.visible_to(user).prefetch_related(None)
    return list(qs[:limit])


@register.inclusion_tag("django_notify/bell.html", takes_context=True)
def notify_bell(context, items: int = DROPDOWN_ITEMS, label: str | None = None):
    """``{% notify_bell %}``: the bell button with its unread badge and the dropdown.

    The badge and the latest ``items`` rows are rendered on the server, so the page shows
    the right count before any script runs and the first open needs no request;
    ``items=0`` renders an empty dropdown the widget fills on open (one query less).
    Renders nothing for anonymous users.
    """
    user = _user(context)
    if not _authenticated(user):
        return {"show": False}
    limit = max(0, min(int(items), 20))
    count = get_notification_model().objects.unread_count(user)
    return {
        "show": True,
        "unread_count": count,
        "badge": notify_badge(count),
        "items": dropdown_rows(user, limit),
        "prerendered": limit > 0,
        "label": label or _("Notifications"),
        "page_url": _reverse("page-notifications"),
        "preferences_url": _reverse("page-preferences"),
    }


@register.simple_tag(takes_context=True)
def notify_assets(context, css: bool = True, js: bool = True) -> SafeString:
    """``{% notify_assets %}``: the stylesheet, the widget script and its JSON config.

    Put it in ``<head>`` (the script is ``defer``). ``css=False`` leaves the styles to
    your own bundle; ``js=False`` renders the stylesheet only.
    """
    parts = []
    if css:
        parts.append(format_html('<link rel="stylesheet" href="{}">', static(STYLESHEET)))
    if js:
        # json_script escapes <, > and & so nothing in the config can end the element.
        parts.append(json_script(widget_config(context.get("request")), "django-notify-config"))
        parts.append(format_html('<script src="{}" defer></script>', static(SCRIPT)))
    # Each part is already safe (format_html / json_script); joining loses the mark.
    return mark_safe("\n".join(parts))
