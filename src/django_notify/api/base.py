"""The base view every endpoint uses: method check, body cap, authentication (with CSRF
for cookie sessions), staff check, parsing and validation from the endpoint's declared
fields, and one error shape for whatever goes wrong below.

An endpoint is a method decorated with :func:`operation`::

    class UnreadCountView(ApiView):
        @operation(summary="Unread count", responses={200: UNREAD_COUNT})
        def get(self, request, *, user, query, body):
            return {"unread_count": ...}

It returns the answer's data (status 200) or ``(status, data)``. The same declaration
feeds the OpenAPI document (:mod:`.openapi`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.request import RawPostDataException
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..conf import app_settings
from ..exceptions import NotVisible, RateLimited, SendRefused
from ..policy import is_staff
from ..validation import NOT_FINITE, ascii_int, non_finite_path
from . import errors
from .auth import authenticate
from .errors import ApiError
from .schema import MAX_ID, Field, FieldErrors, Object, Query

logger = logging.getLogger("django_notify.api")

METHODS = ("get", "post", "patch", "put", "delete")


@dataclass
class Operation:
    """What one method of one path accepts and answers (the document is built from it)."""

    summary: str
    description: str = ""
    query: Query | None = None
    body: Object | None = None
    #: Success status → answer shape.
    responses: Mapping[int, Field | None] = field(default_factory=dict)
    #: Error statuses this operation can answer besides the ones every operation can.
    errors: tuple[int, ...] = ()
    auth: bool = True
    staff: bool = False
    tags: tuple[str, ...] = ()
    #: Model field names → API names in ValidationErrors (``level`` is ``type`` here).
    rename: Mapping[str, str] = field(default_factory=dict)


def operation(**kwargs: Any) -> Callable[[Callable], Callable]:
    def decorate(func: Callable) -> Callable:
        func.operation = Operation(**kwargs)
        return func

    return decorate


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "The body is not UTF-8 text.") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}") from None
    # NaN and Infinity are not JSON, yet Python reads them, and 1e400 too (as inf): no
    # database column stores them. Refused here, wherever they are, naming the field.
    where = non_finite_path(data)
    if where is not None:
        where = where or NON_FIELD_ERRORS  # the body itself is such a number
        raise ApiError(400, "malformed_json", f"{where}: {NOT_FINITE}", {where: [NOT_FINITE]})
    return data


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _parse_body(request: HttpRequest, raw: bytes) -> Any:
    """The JSON body ({} when empty). An empty form body counts as empty too: a bare
    ``client.post(url)`` or a ``<form>`` without fields sends one."""
    if request.content_type in _FORM_TYPES:
        try:
            given = bool(request.POST) or bool(request.FILES)
        except (ValueError, SuspiciousOperation, MultiPartParserError):  # no boundary, …
            given = True
        if given:
            raise ApiError(
                400, "malformed_json", "The API reads JSON bodies (Content-Type: application/json)."
            )
        return {}
    return _parse_json(raw) if raw.strip() else {}


def _too_large(limit: int | None) -> ApiError:
    if limit is None:  # only Django's own cap applies
        limit, name = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "DATA_UPLOAD_MAX_MEMORY_SIZE"
    else:
        name = 'DJANGO_NOTIFY["MAX_REQUEST_BYTES"]'
    return ApiError(
        413, "too_large", f"The body is larger than the limit of {limit} bytes ({name}).", {}
    )


def _read_body(request: HttpRequest) -> bytes:
    limit = app_settings.MAX_REQUEST_BYTES
    # ASCII digits only: int() would read "١٠" as 10. A malformed length is left to the
    # server; the body read is measured below either way.
    declared = ascii_int(request.META.get("CONTENT_LENGTH") or "0", signed=False)
    if limit is not None and declared is not None and declared > limit:
        raise _too_large(limit)  # refused before reading a byte
    try:
        raw = request.body
    except RequestDataTooBig:  # Django's own cap, when it is the lower one
        raise _too_large(None) from None
    except RawPostDataException:
        raise ApiError(400, "malformed_json", "The body could not be read.") from None
    if limit is not None and len(raw) > limit:
        raise _too_large(limit)
    return raw


@method_decorator(csrf_exempt, name="dispatch")
class ApiView(View):
    """Subclasses define ``get``/``post``/``patch``/``delete`` decorated with
    :func:`operation`. Path arguments named ``pk`` are primary keys (bounded)."""

    http_method_names = [*METHODS, "head", "options"]

    @classmethod
    def operations(cls) -> dict[str, Operation]:
        return {
            method: getattr(cls, method).operation
            for method in METHODS
            if hasattr(getattr(cls, method, None), "operation")
        }

    def allowed_methods(self) -> list[str]:
        methods = [m.upper() for m in self.operations()]
        if "GET" in methods:
            methods.insert(methods.index("GET") + 1, "HEAD")
        return [*methods, "OPTIONS"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return self._dispatch(request, **kwargs)
        except ApiError as exc:
            return exc.response()
        except SendRefused as exc:
            return errors.error_response(403, exc.code, exc.rule.message)
        except (NotVisible, Http404):
            return errors.not_found().response()
        except PermissionDenied as exc:
            return errors.permission_denied(str(exc) or "Permission denied.").response()
        except ValidationError as exc:
            rename = getattr(getattr(self, request.method.lower(), None), "operation", None)
            return errors.from_validation_error(
                exc, rename=rename.rename if rename else None
            ).response()
        except RateLimited as exc:
            return errors.rate_limited(str(exc), exc.retry_after).response()
        except MultiPartParserError:
            # Raised by Django's CSRF check reading request.POST of a broken form body.
            return ApiError(400, "malformed_json", "The body could not be parsed.").response()
        except SuspiciousOperation as exc:
            return errors.ApiError(400, "invalid", f"Bad request: {exc}").response()
        except Exception:
            # A bug, not bad input: logged like Django logs a 500, and the test client
            # re-raises it (it listens to this signal); the caller still gets JSON.
            logger.exception("Unhandled error in %s %s", request.method, request.path)
            got_request_exception.send(sender=type(self), request=request)
            return errors.error_response(500, "server_error", "Internal server error.")

    def _dispatch(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        method = request.method.lower()
        allowed = self.allowed_methods()
        if method == "options":
            response = HttpResponse(status=200)
            response["Allow"] = ", ".join(allowed)
            return response
        handler_name = "get" if method == "head" else method
        handler = getattr(self, handler_name, None) if handler_name in METHODS else None
        op: Operation | None = getattr(handler, "operation", None)
        if op is None:
            raise errors.method_not_allowed(request.method, allowed)

        raw = _read_body(request)
        user = None
        if op.auth:
            found = authenticate(request)
            if found is None:
                raise errors.not_authenticated()
            user = found[0]
            if op.staff and not is_staff(user):
                raise errors.permission_denied("Only staff users may use this endpoint.")

        for name, value in kwargs.items():
            # <int:pk> matches any digits; past a 64-bit key nothing can exist.
            if name == "pk" and not 1 <= value <= MAX_ID:
                raise errors.not_found()

        try:
            query = op.query.from_query(request.GET) if op.query else None
        except FieldErrors as exc:
            raise errors.invalid(exc.errors) from None
        if op.query is None and request.GET:
            raise errors.invalid({key: ["Unknown parameter."] for key in request.GET})

        data = _parse_body(request, raw)
        if not isinstance(data, dict):
            raise errors.invalid({}, "The body must be a JSON object.")
        try:
            body = op.body.clean(data) if op.body else None
        except FieldErrors as exc:
            raise errors.invalid(exc.errors) from None
        if op.body is None and data:
            raise errors.invalid({key: ["Unknown field."] for key in data})

        result = handler(request, user=user, query=query, body=body, **kwargs)
        status, payload = result if isinstance(result, tuple) else (200, result)
        response = errors.json_response(payload, status=status)
        if method == "head":
            response.content = b""
        return response
