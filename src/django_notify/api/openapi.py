"""The OpenAPI 3.1 document, built from the URLconf and the views' declarations.

Paths come from ``api/urls.py`` as the site mounted it (found through the route of the
document itself); each method's parameters, body and answers from its
:func:`~django_notify.api.base.operation`; schemas from the same field objects that
validate requests. Nothing is written twice, so the document cannot drift from the code
(and tests/test_openapi*.py check the real answers against it).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver, get_urlconf, reverse

from .. import __version__
from .base import ApiView, Operation
from .schema import MAX_ID, Refs
from .serializers import ERROR

#: The name of the document's own route: the routes declared beside it are the API.
_DOCUMENT_ROUTE = "api-openapi"
_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_ERRORS = {
    400: "Invalid input (code invalid, malformed_json or invalid_cursor).",
    401: "Not authenticated (code not_authenticated).",
    403: "Refused: permission_denied, csrf_failed, or a sender rule's code.",
    404: "Not found, or not visible to you (code not_found).",
    413: "The body is over MAX_REQUEST_BYTES (code too_large).",
    429: "Rate limited (code rate_limited); Retry-After says when to try again.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds to wait (sent when known).",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}
_DESCRIPTION = """\
The JSON API of django-notify. Authenticate with a token (`Authorization: Bearer dn_…`,
made with `manage.py notify_create_token`) or with the Django session cookie; cookie
requests that change something need Django's CSRF token in `X-CSRFToken`.

Every error has the shape `{"error": {"code", "message", "fields"}}`. Lists are
keyset-paginated: follow `next_cursor` until it is null."""


def _api_view_class(pattern: URLPattern) -> type[ApiView] | None:
    view_class = getattr(pattern.callback, "view_class", None)
    if isinstance(view_class, type) and issubclass(view_class, ApiView):
        return view_class
    return None


def _api_patterns(resolver: URLResolver) -> list | None:
    """The patterns of the URLconf holding the document's own route, looked up from the
    site's root URLconf: the API as mounted, however the host included it."""
    patterns = resolver.url_patterns
    for pattern in patterns:
        if (
            isinstance(pattern, URLPattern)
            and pattern.name == _DOCUMENT_ROUTE
            and _api_view_class(pattern) is not None
        ):
            return patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found = _api_patterns(pattern)
            if found is not None:
                return found
    return None


def _routes(patterns, prefix: str = "") -> list[tuple[str, Any, str | None]]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found.extend(_routes(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern):
            view_class = _api_view_class(pattern)
            if view_class is not None:
                found.append((route, view_class, pattern.name))
    return found


def _path_and_params(route: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in _CONVERTER.finditer(route):
        schema = (
            {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            if match["converter"] == "int"
            else {"type": "string"}
        )
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return "/" + _CONVERTER.sub(lambda m: "{" + m["name"] + "}", route), params


def _error_statuses(method: str, op: Operation, has_path_params: bool) -> list[int]:
    # 400 everywhere: unknown query parameters (and unexpected bodies) are refused too;
    # 413 everywhere: any request may carry a body over the limit.
    statuses = {400, 413, *op.errors}
    if op.auth:
        statuses.add(401)
        if method != "get" or op.staff:
            statuses.add(403)  # CSRF on cookie sessions; staff-only endpoints
    if has_path_params:
        statuses.add(404)
    return sorted(statuses)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(method: str, name: str | None, op: Operation, params, refs: Refs) -> dict:
    out: dict[str, Any] = {
        "operationId": f"{name or 'api'}.{method}",
        "summary": op.summary,
    }
    if op.description:
        out["description"] = op.description
    if op.tags:
        out["tags"] = list(op.tags)
    parameters = list(params)
    if op.query is not None:
        parameters += op.query.parameters(refs)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        # No body at all is the same as {}: required only if some field is.
        required = any(f.required for f in op.body.fields.values()) or bool(op.body.groups)
        out["requestBody"] = {"required": required, "content": _json(op.body.schema(refs))}
    responses: dict[str, Any] = {}
    for status, shape in sorted(op.responses.items()):
        responses[str(status)] = {
            "description": "OK" if status < 300 else str(status),
            "content": _json(shape.schema(refs) if shape is not None else {"type": "object"}),
        }
    error = ERROR.schema(refs)
    for status in _error_statuses(method, op, bool(params)):
        answer: dict[str, Any] = {"description": _ERRORS[status], "content": _json(error)}
        if status in _HEADERS:
            answer["headers"] = _HEADERS[status]
        responses[str(status)] = answer
    out["responses"] = responses
    if not op.auth:
        out["security"] = []
    return out


def build_document(base: str | None = None) -> dict[str, Any]:
    """The document for the API as mounted: paths are relative to the ``servers`` URL,
    ``base`` (default: where ``django_notify:api-openapi`` reverses to, minus the file)."""
    if base is None:
        base = reverse(f"django_notify:{_DOCUMENT_ROUTE}").removesuffix("openapi.json")
    base = base.rstrip("/")
    api_patterns = _api_patterns(get_resolver(get_urlconf()))
    if api_patterns is None:
        raise ImproperlyConfigured(
            'The API is not mounted: add path("notifications/", include("django_notify.urls")).'
        )
    refs: Refs = {}
    paths: dict[str, Any] = {}
    for route, view_class, name in _routes(api_patterns):
        path, params = _path_and_params(route)
        item = paths.setdefault(path, {})
        for method, op in view_class.operations().items():
            item[method] = _operation(method, name, op, params, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "django-notify API",
            "version": __version__,
            "description": _DESCRIPTION,
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(refs.items())),
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: Authorization: Bearer dn_…",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                    "description": "The Django session; unsafe methods need X-CSRFToken.",
                },
            },
        },
        "security": [{"token": []}, {"session": []}],
    }
