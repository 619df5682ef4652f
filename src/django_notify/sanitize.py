"""HTML sanitising for notification bodies.

One function, :func:`sanitize_html`, is the only way HTML enters a notification row.
The implementation is chosen by ``DJANGO_NOTIFY["HTML_SANITIZER"]``: ``"bleach"``
(default), ``"nh3"`` (install the ``nh3`` extra; bleach is deprecated upstream and nh3
is its successor) or a dotted path to ``callable(html, *, tags, attributes, protocols)``.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable

from .conf import app_settings
from .exceptions import NotifyConfigurationError

Sanitizer = Callable[..., str]


#: Elements whose content is code or styling, never text: removed with their content
#: (bleach's strip=True keeps the text of a stripped tag, so "<script>x()</script>"
#: would otherwise show "x()").
_CODE_ELEMENTS = re.compile(r"<(script|style|template)\b[^>]*>.*?</\1\s*>", re.I | re.S)


def bleach_sanitizer(value: str, *, tags, attributes, protocols) -> str:
    import bleach

    allowed = {t.lower() for t in tags}
    if not allowed & {"script", "style", "template"}:
        value = _CODE_ELEMENTS.sub("", value)
    return bleach.clean(
        value, tags=set(tags), attributes=attributes, protocols=set(protocols), strip=True
    )


def nh3_sanitizer(value: str, *, tags, attributes, protocols) -> str:
    try:
        import nh3
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise NotifyConfigurationError(
            'DJANGO_NOTIFY["HTML_SANITIZER"] = "nh3" needs the nh3 package: '
            "pip install 'django-notify-kit[nh3]'"
        ) from exc
    attrs = {tag: set(names) - {"rel"} for tag, names in attributes.items()}
    return nh3.clean(
        value,
        tags=set(tags),
        attributes=attrs,
        url_schemes=set(protocols),
        link_rel="noopener noreferrer",
    )


def get_sanitizer() -> Sanitizer:
    return app_settings.import_setting("HTML_SANITIZER")


def sanitize_html(value: str | None) -> str:
    """Clean untrusted HTML against the configured allow-list."""
    if not value:
        return ""
    return get_sanitizer()(
        str(value),
        tags=app_settings.ALLOWED_TAGS,
        attributes=app_settings.ALLOWED_ATTRIBUTES,
        protocols=app_settings.ALLOWED_PROTOCOLS,
    )


_BLOCK_BREAK = re.compile(r"<\s*(br|/p|/li|/h\d|/blockquote|/pre|hr)[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(value: str | None) -> str:
    """Plain-text rendering of sanitised HTML (for email alternatives and search)."""
    if not value:
        return ""
    text = _BLOCK_BREAK.sub("\n", value)
    text = _html.unescape(_TAG.sub("", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
