"""Helpers and fixtures shared by the API tests (test_api*.py, test_openapi*.py).

:class:`Api` is Django's test client with a bearer token, and every answer it gets is
checked against the OpenAPI document: the status must be documented for the operation,
the body must match the documented schema. So each API test also tests the document.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jsonschema_rs
import pytest
from django.test import Client
from django.urls import resolve, reverse

from django_notify.api.openapi import build_document
from django_notify.models import ApiToken
from django_notify.tenancy import Role

ERROR_CODES_BY_STATUS = {
    400: {"invalid", "malformed_json", "invalid_cursor"},
    401: {"not_authenticated"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    413: {"too_large"},
    429: {"rate_limited"},
}


def url(name: str, *args: Any) -> str:
    return reverse(f"django_notify:{name}", args=args)


@cache
def document() -> dict[str, Any]:
    return build_document()


def _validator(schema: dict[str, Any]):
    # The components ride along at the root so "#/components/schemas/…" refs resolve.
    root = {"allOf": [schema], "components": document()["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    match = resolve(path.split("?")[0])
    if match.url_name in (None, "api-unknown"):
        return None
    wanted = f"{match.url_name}.{method.lower()}"
    for item in document()["paths"].values():
        for op in item.values():
            if op["operationId"] == wanted:
                return op
    return None


def assert_error_shape(response, status: int | None = None, code: str | None = None) -> dict:
    if status is not None:
        assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    for name, messages in error["fields"].items():
        assert isinstance(name, str)
        assert messages and all(isinstance(m, str) and m for m in messages)
    expected = ERROR_CODES_BY_STATUS.get(response.status_code)
    if expected is not None:
        assert error["code"] in expected, error
    if code is not None:
        assert error["code"] == code, error
    return error


def check_against_document(method: str, path: str, response) -> None:
    """The answer is one the document promises for this operation."""
    status = response.status_code
    if status == 405:
        assert "Allow" in response
        assert_error_shape(response, code="method_not_allowed")
        return
    op = operation_for(method, path)
    if op is None:
        assert_error_shape(response, 404, "not_found")
        return
    documented = op["responses"].get(str(status))
    assert documented is not None, (
        f"{method} {path}: {status} is not documented ({op['operationId']})"
    )
    if method.upper() == "HEAD":
        return
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    schema = documented["content"]["application/json"]["schema"]
    errors = [e.message for e in _validator(schema).iter_errors(body)]
    assert not errors, f"{method} {path} → {status} does not match the document: {errors[:3]}"
    if status >= 400:
        assert_error_shape(response)


class Api:
    """A test client that speaks JSON and checks every answer against the document."""

    def __init__(self, client: Client, key: str | None = None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def request(self, method: str, path: str, data: Any = None, *, raw: bytes | None = None,
                query: dict | str | None = None, headers: dict | None = None, **extra):  # fmt: skip
        call = getattr(self.client, method.lower())
        kwargs: dict[str, Any] = {"headers": {**self.headers, **(headers or {})}, **extra}
        if method.upper() in ("GET", "HEAD"):
            if query is not None:
                kwargs["data"] = query
        else:
            if query:
                path = f"{path}?{query if isinstance(query, str) else urlencode(query, True)}"
            if raw is not None:
                kwargs.update(data=raw, content_type="application/json")
            elif data is not None:
                kwargs.update(data=json.dumps(data), content_type="application/json")
        response = call(path, **kwargs)
        check_against_document(method, path, response)
        return response

    def get(self, path, query=None, **kw):
        return self.request("GET", path, query=query, **kw)

    def post(self, path, data=None, **kw):
        return self.request("POST", path, data, **kw)

    def patch(self, path, data=None, **kw):
        return self.request("PATCH", path, data, **kw)

    def delete(self, path, data=None, **kw):
        return self.request("DELETE", path, data, **kw)


@pytest.fixture
def api_for(db):
    """``api_for(user)`` → an :class:`Api` authenticated with a fresh token of ``user``."""

    def make(user=None) -> Api:
        if user is None:
            return Api(Client())
        _token, key = ApiToken.create(user, "tests")
        return Api(Client(), key)

    return make


class World:
    """Two organizations. In ``org``: ``ada`` and ``bob`` (DEV_USER, in ``team``),
    ``light`` (LIGHT_USER), ``admin`` (ORG_ADMIN), ``staff`` (staff); ``eve`` is in
    ``other_org`` with ``other_team``."""

    @classmethod
    def build(cls, make_org, make_user, make_team) -> World:
        w = cls()
        w.org = make_org()
        w.other_org = make_org()
        w.ada = make_user(Role.DEV_USER, w.org, username=_unique("ada"))
        w.bob = make_user(Role.DEV_USER, w.org, username=_unique("bob"))
        w.light = make_user(Role.LIGHT_USER, w.org, username=_unique("light"))
        w.admin = make_user(Role.ORG_ADMIN, w.org, username=_unique("admin"))
        w.staff = make_user(Role.DEV_USER, w.org, username=_unique("staff"), staff=True)
        w.eve = make_user(Role.DEV_USER, w.other_org, username=_unique("eve"))
        w.team = make_team(w.org, members=[w.ada, w.bob], name="research")
        w.other_team = make_team(w.other_org, members=[w.eve], name="globex-team")
        return w


_built: dict[str, int] = {}


def _unique(name: str) -> str:
    """The plain name the first time in a test, then name2, name3…"""
    _built[name] = _built.get(name, 0) + 1
    return name if _built[name] == 1 else f"{name}{_built[name]}"


@pytest.fixture
def world(make_org, make_user, make_team) -> World:
    _built.clear()
    return World.build(make_org, make_user, make_team)


@pytest.fixture(scope="session")
def live_server_static_url():
    """Django's live server wraps the site in a static-files handler that breaks on every
    request when ``STATIC_URL`` is unset (tests/settings.py sets none yet). Request this
    before ``live_server`` (autouse in the modules that use it)."""
    from django.conf import settings
    from django.test import override_settings

    if settings.STATIC_URL:
        yield
        return
    with override_settings(STATIC_URL="/static/"):
        yield
