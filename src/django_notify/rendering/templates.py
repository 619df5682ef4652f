"""Per-type × channel templates: files by convention, database rows on top.

Lookup for a notification of type ``job.created`` on channel ``email`` (first found wins;
each of ``subject.txt``, ``body.txt`` and ``body.html`` is looked up on its own)::

    NotificationTemplate row (type, channel): organization + language, organization,
        language, neither
    django_notify/email/job.created/<part>
    django_notify/email/default/<part>
    django_notify/default/<part>           (shipped with the package)

Digests use the key ``digest`` the same way. Files are the host's trusted code and render
with the project's template engine and the full context. Database rows are edited in the
admin: they render in a sandboxed engine (no loaders) from plain values, are checked when
saved (:mod:`django_notify.template_sandbox`), and their HTML is sanitised. Every render
happens in the recipient's language and time zone.

The context (documented in docs/templates.md): ``notification``, ``recipient``,
``sender``, ``sender_name``, ``title``, ``body`` (sanitised HTML), ``text``, ``url``,
``action_url``, ``unsubscribe_url``, ``site_url``, ``priority``, ``level``, ``type`` (the
NotificationType class or None), ``category``, ``actor``, ``target``, ``context`` (the
event's context, whose variables are also available by name), and for digests
``notifications`` and ``count``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.template import Context, TemplateDoesNotExist
from django.template.loader import select_template
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from ..conf import app_settings
from ..loading import get_notification_model
from ..models import NotificationTemplate
from ..sanitize import html_to_text, sanitize_html
from ..template_sandbox import (
    DIGEST_KEY,
    compile_template,
    person,
    plain_context,
)
from ..types import notification_types

PARTS = ("subject", "body", "html_body")
_FILES = {"subject": "subject.txt", "body": "body.txt", "html_body": "body.html"}


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def absolute_url(path: str) -> str:
    """Site-relative links become absolute with ``SITE_URL`` (emails leave the site)."""
    if not path:
        return ""
    if path.startswith(("http://", "https://", "mailto:")):
        return path
    base = app_settings.SITE_URL
    return urljoin(base + "/", path.lstrip("/")) if base else path


def _db_template(type_key: str, channel: str, organization: str, language: str):
    """The most specific active row, in one query."""
    rows = NotificationTemplate.objects.filter(
        Q(organization_key="") | Q(organization_key=organization or ""),
        Q(language="") | Q(language=language or ""),
        notification_type=type_key,
        channel=channel,
        is_active=True,
    )
    return _most_specific(rows)


def _most_specific(rows: Iterable[Any]):
    best = None
    for row in rows:
        rank = (bool(row.organization_key), bool(row.language))
        if best is None or rank > best[0]:
            best = (rank, row)
    return best[1] if best else None


class TemplateLookup:
    """The database-template lookup of :func:`render_parts` for many messages in a row
    (a dispatch batch): each (type, channel, organization, language) is looked up once,
    and :meth:`prefetch` reads the rows a whole batch can use in one query, so rendering
    a hundred messages costs one template query, not a hundred."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str, str], Any] = {}

    @staticmethod
    def _key(type_key: str | None, channel: str, organization: str, language: str):
        return (type_key or "default", channel, organization or "", language or "")

    def prefetch(self, keys: Iterable[tuple[str | None, str, str, str]]) -> None:
        """Read the active rows for every (type, channel, organization, language)."""
        wanted = {self._key(*key) for key in keys} - set(self._found)
        if not wanted:
            return
        rows = list(
            NotificationTemplate.objects.filter(
                notification_type__in={k[0] for k in wanted},
                channel__in={k[1] for k in wanted},
                organization_key__in={"", *(k[2] for k in wanted)},
                language__in={"", *(k[3] for k in wanted)},
                is_active=True,
            )
        )
        for key in wanted:
            type_key, channel, organization, language = key
            self._found[key] = _most_specific(
                row
                for row in rows
                if row.notification_type == type_key
                and row.channel == channel
                and row.organization_key in ("", organization)
                and row.language in ("", language)
            )

    def __call__(self, type_key: str, channel: str, organization: str, language: str):
        key = self._key(type_key, channel, organization, language)
        if key not in self._found:
            self._found[key] = _db_template(*key)
        return self._found[key]


def _file_names(type_key: str, channel: str, part: str) -> list[str]:
    filename = _FILES[part]
    if type_key == DIGEST_KEY:  # a digest is its own kind of message, never "default"
        return [f"django_notify/{channel}/digest/{filename}", f"django_notify/digest/{filename}"]
    return [
        f"django_notify/{channel}/{type_key}/{filename}",
        f"django_notify/{channel}/default/{filename}",
        f"django_notify/default/{filename}",
    ]


def render_parts(
    type_key: str | None,
    channel: str,
    context: Mapping[str, Any],
    *,
    organization: str = "",
    language: str = "",
    tz: str = "",
    override=None,
    templates: TemplateLookup | None = None,
) -> Rendered:
    """Render subject, text and HTML for one recipient.

    ``override`` is an unsaved :class:`~django_notify.models.NotificationTemplate` to use
    instead of the stored ones (the admin's preview). ``templates`` shares the stored
    rows' lookup between the messages of a batch.
    """
    key = type_key or "default"
    with ExitStack() as stack:
        if language:
            stack.enter_context(translation.override(language))
        if tz:
            stack.enter_context(timezone.override(tz))
        if override is not None:
            row = override
        else:
            row = (templates or _db_template)(key, channel, organization, language)
        out: dict[str, str] = {}
        stored: dict[str, Any] | None = None
        for part in PARTS:
            source = getattr(row, part, "") if row is not None else ""
            if source:
                template = compile_template(source, name=part)
                if stored is None:
                    stored = plain_context(context)
                value = template.render(Context(dict(stored), autoescape=part == "html_body"))
                if part == "html_body":
                    value = sanitize_html(value)
            else:
                try:
                    value = select_template(_file_names(key, channel, part)).render(dict(context))
                except TemplateDoesNotExist:
                    value = ""
            out[part] = value
    subject = " ".join(out["subject"].split())[:998]  # RFC 5322 line limit
    html = out["html_body"].strip()
    text = out["body"].strip() or html_to_text(html)
    return Rendered(subject=subject, text=text, html=html)


def notification_context(notification, recipient, *, url: str, unsubscribe_url: str = ""):
    """The documented context for one notification."""
    ntype = (
        notification_types.get(notification.notification_type)
        if notification.notification_type in notification_types
        else None
    )
    event_context = (notification.meta_data or {}).get("context") or {}
    if not isinstance(event_context, dict):
        event_context = {}
    context = {**{k: v for k, v in event_context.items() if isinstance(k, str)}}
    sender = notification.sender if notification.sender_id is not None else None
    context.update(
        notification=notification,
        recipient=recipient,
        # Who caused it, when a person did: messages name them.
        sender=sender,
        sender_name=person(sender)["name"] if sender is not None else "",
        title=notification.title,
        body=mark_safe(notification.description),  # sanitised when the row was saved
        text=notification.description_text,
        url=url,
        action_url=absolute_url(notification.action_url),
        unsubscribe_url=unsubscribe_url,
        site_url=app_settings.SITE_URL,
        priority=notification.get_priority_display(),
        level=notification.get_level_display(),
        type=ntype,
        category=getattr(ntype, "category", None),
        actor=notification.actor,
        target=notification.target,
        context=event_context,
    )
    return context


def digest_context(notifications: Iterable[Any], recipient, *, unsubscribe_url: str = ""):
    rows = list(notifications)
    return {
        "notifications": [
            {
                "notification": n,
                "title": n.title,
                "text": n.description_text,
                "body": mark_safe(n.description),
                "url": absolute_url(n.url or n.action_url),
                "created_at": n.created_at,
                "priority": n.get_priority_display(),
            }
            for n in rows
        ],
        "count": len(rows),
        "recipient": recipient,
        "unsubscribe_url": unsubscribe_url,
        "site_url": app_settings.SITE_URL,
    }


def preview(
    type_key: str,
    channel: str,
    *,
    template=None,
    context: Mapping[str, Any] | None = None,
    recipient=None,
    language: str = "",
) -> Rendered:
    """Render a type on a channel with sample data and nothing saved: for the admin.

    ``template`` is an unsaved NotificationTemplate (the form being edited); the type's
    declared context variables default to ``<name>`` placeholders.
    """
    if type_key == DIGEST_KEY:
        model = get_notification_model()
        sample = [
            model(title=f"Sample notification {i}", description=f"<p>Body {i}</p>",
                  description_text=f"Body {i}", created_at=timezone.now())
            for i in (1, 2)
        ]  # fmt: skip
        ctx = digest_context(sample, recipient or get_user_model()(username="preview"))
        return render_parts(DIGEST_KEY, channel, ctx, language=language, override=template)
    ntype = notification_types.get(type_key)
    values = {name: f"<{name}>" for name in {**ntype.optional_context, **ntype.context}}
    values.update(context or {})
    model = get_notification_model()
    description = ntype.render(ntype.body, values) if ntype.body else ntype.description
    notification = model(
        title=(ntype.render(ntype.title, values) if ntype.title else ntype.get_label())[:255],
        description=sanitize_html(description),
        notification_type=type_key,
        priority=ntype.default_priority,
        level=ntype.level or app_settings.DEFAULT_LEVEL,
        meta_data={"context": values},
        created_at=timezone.now(),
    )
    notification.description_text = html_to_text(notification.description)
    ctx = notification_context(
        notification, recipient or get_user_model()(username="preview"), url=absolute_url("/")
    )
    return render_parts(type_key, channel, ctx, language=language, override=template)
