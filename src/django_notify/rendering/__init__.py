"""Rendering: the per-type × channel templates deliveries are rendered with. The HTML
sanitiser lives in :mod:`django_notify.sanitize` (rows are sanitised below this layer);
its names are importable from here too, where settings have long named them."""

from ..sanitize import (
    bleach_sanitizer,
    get_sanitizer,
    html_to_text,
    nh3_sanitizer,
    sanitize_html,
)

__all__ = ["bleach_sanitizer", "get_sanitizer", "html_to_text", "nh3_sanitizer", "sanitize_html"]
