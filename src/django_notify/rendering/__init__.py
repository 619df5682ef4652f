"""Rendering: HTML sanitising (one function for every row) and the per-type × channel
templates deliveries are rendered with."""

from .sanitize import (
    bleach_sanitizer,
    get_sanitizer,
    html_to_text,
    nh3_sanitizer,
    sanitize_html,
)

__all__ = ["bleach_sanitizer", "get_sanitizer", "html_to_text", "nh3_sanitizer", "sanitize_html"]
