"""One error shape for every non-2xx answer of the API.

``{"error": {"code": "<stable_snake_case>", "message": "<human text>", "fields": {...}}}``
``fields`` maps a field name (``ids[2]``, ``quiet_hours.start``) to its messages, and is
``{}`` when the error is not about fields. Codes are part of the API: clients branch on
them, so they never change once published (docs/api.md lists them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import JsonResponse


def _printable(text: str) -> str:
    """Text safe to encode: a field name echoed from the request may hold a lone
    surrogate ("\\ud800" in JSON), which UTF-8 cannot encode; it is shown escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiError(Exception):
    """Raised anywhere below a view; the view turns it into the error answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        self.status = status
        self.code = code
        self.message = _printable(message)
        self.fields = {
            _printable(str(k)): [_printable(str(m)) for m in v] for k, v in (fields or {}).items()
        }
        self.headers = dict(headers or {})
        super().__init__(message)

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message, self.fields, self.headers)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None):
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    # Feeds are per user: no shared cache (a proxy, the browser's back button) may keep one.
    response["Cache-Control"] = "private, no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "fields": dict(fields or {})}}
    return json_response(body, status=status, headers=headers)


# --- the common cases ---------------------------------------------------------------------


def invalid(fields: Mapping[str, list[str]], message: str = "") -> ApiError:
    if not message:
        # "ids[1]: Must be an integer." — the first few, readable without the fields.
        shown = [
            messages[0] if name == NON_FIELD_ERRORS else f"{name}: {messages[0]}"
            for name, messages in list(fields.items())[:3]
        ]
        more = f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""
        message = " ".join(shown) + more if shown else "Invalid input."
    return ApiError(400, "invalid", message, fields)


def not_found(message: str = "Not found.") -> ApiError:
    return ApiError(404, "not_found", message)


def get_or_404(queryset, pk: int) -> Any:
    """Row ``pk`` of ``queryset``, or 404: a row outside the queryset is as missing as one
    that does not exist."""
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise not_found()
    return row


def not_authenticated(message: str = "Authentication credentials were not provided.") -> ApiError:
    # RFC 9110: a 401 names the scheme that would work.
    return ApiError(401, "not_authenticated", message, headers={"WWW-Authenticate": "Bearer"})


def permission_denied(message: str = "You do not have permission to do this.") -> ApiError:
    return ApiError(403, "permission_denied", message)


def method_not_allowed(method: str, allowed: list[str]) -> ApiError:
    return ApiError(
        405,
        "method_not_allowed",
        f"Method {method} is not allowed here; use {', '.join(allowed)}.",
        headers={"Allow": ", ".join(allowed)},
    )


def rate_limited(message: str, retry_after: float | None) -> ApiError:
    headers = {}
    if retry_after is not None:
        # Retry-After is whole seconds; rounding down would invite a retry that fails.
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return ApiError(429, "rate_limited", message, headers=headers)


def from_validation_error(
    exc: ValidationError, *, rename: Mapping[str, str] | None = None
) -> ApiError:
    """Django's ``ValidationError`` → 400 ``invalid``, field names kept (``rename`` maps
    model field names to the API's, e.g. ``level`` → ``type``). Errors about no field in
    particular are listed under ``__all__`` (Django's ``NON_FIELD_ERRORS``)."""
    rename = rename or {}
    if hasattr(exc, "error_dict"):
        fields = {rename.get(k, k): list(v) for k, v in exc.message_dict.items()}
    else:
        fields = {NON_FIELD_ERRORS: list(exc.messages)}
    return invalid(fields)
