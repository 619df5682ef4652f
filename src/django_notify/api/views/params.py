"""Request parameters several resources declare alike: page size and cursor, and the
choice lists read from the settings and the type registry."""

from __future__ import annotations

from ...conf import app_settings
from ...types import notification_types
from ..schema import Int, Str


def level_codes() -> list[str]:
    return list(app_settings.LEVELS)


def type_keys() -> list[str]:
    return list(notification_types.keys())


def max_page_size() -> int:
    return app_settings.API_MAX_PAGE_SIZE


def page_size() -> int:
    return min(app_settings.API_PAGE_SIZE, app_settings.API_MAX_PAGE_SIZE)


def limit_param(default=page_size) -> Int:
    return Int(min_value=1, max_value=max_page_size, default=default, description="Page size.")


def cursor_param() -> Str:
    return Str(max_length=200, description="next_cursor of the previous page.")
