"""A small typed client for the django-notify JSON API, for scripts outside the Django
process (cron jobs, CI, monitoring, notebooks).

Standard library only (``urllib.request`` and ``json``): it imports nothing from Django
or from the rest of the package, so a script can use it from the installed package or
with this one file copied next to it::

    from django_notify.client import Client

    api = Client("https://example.com/notifications/", token="dn_…")
    api.Notification.send(type="IN", title="Dataset ready",
                          description="The dataset finished loading.", target_user=42)
    api.Notification.send_to_self(type="IN", title="Sync complete")
    api.Notification.send_system(type="IM", title="Planned maintenance", is_global=True)

    for notification in api.Notification.filter(unread=True, priority="high"):
        print(notification.title, notification.created_at)
        notification.mark_read()
    api.Notification.dismiss_all()

``token`` defaults to the ``DJANGO_NOTIFY_TOKEN`` environment variable. Make one with
``manage.py notify_create_token <username>``. Errors raise :class:`ClientError`
subclasses carrying the API's ``status``, ``code``, ``message`` and ``fields``; they are
named for the HTTP answer (``Forbidden``, ``TooManyRequests``) so that they never share a
name with the package's in-process exceptions (``SendRefused``, ``RateLimited``), and the
records the API returns are ``NotificationRecord`` and ``AlertRecord``, not the models.
"""

from __future__ import annotations

import json as jsonlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, overload

__all__ = [
    "AlertRecord",
    "BadRequest",
    "Client",
    "ClientError",
    "Forbidden",
    "MethodNotAllowed",
    "NotAuthenticated",
    "NotFound",
    "NotificationRecord",
    "ObjectRef",
    "SendForbidden",
    "ServerError",
    "TooManyRequests",
    "TransportError",
    "UserRef",
]

USER_AGENT = "django-notify-client/1"
#: 403 codes that are not a sender rule's refusal.
_GENERIC_403 = {"permission_denied", "csrf_failed"}


# --- errors ------------------------------------------------------------------------------


class ClientError(Exception):
    """The API answered with an error (or could not be reached: :class:`TransportError`).

    ``status`` is the HTTP status (None if there was no answer), ``code`` the API's stable
    error code, ``message`` its text, ``fields`` the messages by field name.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        fields: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.fields: dict[str, list[str]] = dict(fields or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(message)

    def __str__(self) -> str:
        head = f"[{self.status} {self.code}] " if self.status else ""
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.fields.items())
        return f"{head}{self.message}" + (f" ({details})" if details else "")


class TransportError(ClientError):
    """No answer: DNS, connection refused, TLS, timeout."""


class BadRequest(ClientError):
    """400: invalid input (``fields`` says which), malformed JSON, bad cursor; 413: the
    body is over the server's ``MAX_REQUEST_BYTES`` (code ``too_large``)."""


class NotAuthenticated(ClientError):
    """401: no token, or an unknown, revoked or expired one."""


class Forbidden(ClientError):
    """403: not allowed (e.g. a staff-only endpoint)."""


class SendForbidden(Forbidden):
    """403 from a send: a sender rule refused it. ``rule`` is its code, e.g.
    ``"light_user.self_only"``; ``message`` is the rule's explanation."""

    @property
    def rule(self) -> str:
        return self.code


class NotFound(ClientError):
    """404: no such notification, or not one you can see."""


class MethodNotAllowed(ClientError):
    """405: the server does not offer this method here (a client/server version gap)."""


class TooManyRequests(ClientError):
    """429: over the sender rate limit. ``retry_after`` is seconds to wait (None if the
    server could not say, e.g. when the batch alone is over the limit)."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(ClientError):
    """5xx: the server failed; retrying later may help."""


_BY_STATUS: dict[int, type[ClientError]] = {
    400: BadRequest,
    401: NotAuthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: BadRequest,
    429: TooManyRequests,
}


def _error_for(status: int, body: bytes, headers: Mapping[str, str]) -> ClientError:
    try:
        error = jsonlib.loads(body.decode("utf-8"))["error"]
        code, message = str(error["code"]), str(error["message"])
        fields = {str(k): [str(m) for m in v] for k, v in (error.get("fields") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not the API's JSON: a proxy's error page, a wrong base URL.
        code, message, fields = f"http_{status}", f"HTTP {status} from the server.", {}
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ClientError)
    if status == 403 and code not in _GENERIC_403:
        cls = SendForbidden
    return cls(message, status=status, code=code, fields=fields, headers=headers)


# --- records -----------------------------------------------------------------------------


def _parse_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class ObjectRef:
    """An actor or target: ``type`` is "app_label.model", ``id`` its key as text."""

    type: str
    id: str
    name: str


@dataclass(frozen=True)
class UserRef:
    id: Any
    name: str


def _ref(cls, data: Any):
    return cls(**{k: data.get(k) for k in cls.__dataclass_fields__}) if data else None


@dataclass(eq=False)
class NotificationRecord:
    """One notification as the API shows it to you (``is_read`` is your read state)."""

    id: int
    title: str
    type: str = ""
    level_label: str = ""
    notification_type: str = ""
    category: str = ""
    description: str = ""
    description_text: str = ""
    url: str = ""
    action_url: str = ""
    action_required: bool = False
    link: str = ""
    priority: str = "normal"
    scope: str = ""
    meta_data: dict[str, Any] = field(default_factory=dict)
    actor: ObjectRef | None = None
    target: ObjectRef | None = None
    sender: UserRef | None = None
    is_read: bool = False
    read_at: datetime | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    #: Keys a newer server sends that this client does not know yet.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _api: NotificationAPI | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], api: NotificationAPI | None = None):
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_") and f != "extra"}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("read_at", "created_at", "expires_at"):
            values[name] = _parse_datetime(values.get(name))
        for name in ("actor", "target"):
            values[name] = _ref(ObjectRef, values.get(name))
        values["sender"] = _ref(UserRef, values.get("sender"))
        values["meta_data"] = dict(values.get("meta_data") or {})
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra, _api=api)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotificationRecord) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("notification", self.id))

    def _client(self) -> NotificationAPI:
        if self._api is None:
            raise RuntimeError("This notification was not fetched through a Client.")
        return self._api

    def mark_read(self) -> bool:
        """Mark read for you; True if it was unread."""
        answer = self._client()._post(f"notifications/{self.id}/read/")
        self.is_read = True
        return bool(answer["changed"])

    def mark_unread(self) -> bool:
        answer = self._client()._post(f"notifications/{self.id}/unread/")
        self.is_read, self.read_at = False, None
        return bool(answer["changed"])

    def dismiss(self) -> bool:
        """Hide it from your feed; True if it was not dismissed yet."""
        return bool(self._client()._post(f"notifications/{self.id}/dismiss/")["changed"])

    def refresh(self) -> NotificationRecord:
        """Read it again from the server (NotFound once dismissed or expired)."""
        fresh = self._client().get(self.id)
        for name in self.__dataclass_fields__:
            if not name.startswith("_"):
                setattr(self, name, getattr(fresh, name))
        return self


@dataclass(eq=False)
class AlertRecord:
    """A platform alert (staff only)."""

    id: int
    alert_type: str
    severity: str
    title: str
    message: str = ""
    fingerprint: str = ""
    affected_systems: list[str] = field(default_factory=list)
    affected_organizations: list[str] = field(default_factory=list)
    meta_data: dict[str, Any] = field(default_factory=dict)
    occurrence_count: int = 1
    first_occurred_at: datetime | None = None
    last_occurred_at: datetime | None = None
    is_resolved: bool = False
    resolved_at: datetime | None = None
    resolved_by: UserRef | None = None
    resolution_notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _api: AlertAPI | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], api: AlertAPI | None = None):
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_") and f != "extra"}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("first_occurred_at", "last_occurred_at", "resolved_at"):
            values[name] = _parse_datetime(values.get(name))
        values["resolved_by"] = _ref(UserRef, values.get("resolved_by"))
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra, _api=api)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlertRecord) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("alert", self.id))

    def resolve(self, notes: str = "") -> AlertRecord:
        """Resolve it with ``notes`` (resolving twice changes nothing)."""
        if self._api is None:
            raise RuntimeError("This alert was not fetched through a Client.")
        fresh = self._api._record(
            self._api._client.post(f"alerts/{self.id}/resolve/", {"notes": notes})
        )
        for name in self.__dataclass_fields__:
            if not name.startswith("_"):
                setattr(self, name, getattr(fresh, name))
        return self


# --- lazy, paginated results ----------------------------------------------------------------

T = TypeVar("T")


class Pages(Iterable[T]):
    """Results of a list endpoint, fetched page by page as you iterate (following
    ``next_cursor``). Indexing and slicing fetch only the pages they need; what was
    fetched is kept, so iterating twice does not ask again."""

    def __init__(self, fetch, params: dict[str, Any], make):
        self._fetch = fetch
        self._params = params
        self._make = make
        self._cache: list[T] = []
        self._cursor: str | None = None
        self._done = False

    def _next_page(self) -> bool:
        if self._done:
            return False
        params = dict(self._params)
        if self._cursor:
            params["cursor"] = self._cursor
        answer = self._fetch(params)
        self._cache.extend(self._make(item) for item in answer["results"])
        self._cursor = answer.get("next_cursor")
        self._done = not self._cursor
        return True

    def __iter__(self) -> Iterator[T]:
        i = 0
        while True:
            while i < len(self._cache):
                yield self._cache[i]
                i += 1
            if not self._next_page():
                return

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            if (index.start or 0) < 0 or (index.stop or 0) < 0 or index.stop is None:
                return list(self)[index]
            while len(self._cache) < index.stop and self._next_page():
                pass
            return self._cache[index]
        if index < 0:
            return list(self)[index]
        while len(self._cache) <= index and self._next_page():
            pass
        if index >= len(self._cache):
            raise IndexError("no notification at that index")
        return self._cache[index]

    def first(self) -> T | None:
        """The first result, or None (fetches one page at most)."""
        try:
            return self[0]
        except IndexError:
            return None


# --- the API ------------------------------------------------------------------------------


def _key(value: Any) -> Any:
    """The send API takes ids or objects with an ``id`` (``target_team=team``)."""
    for attr in ("id", "pk"):
        key = getattr(value, attr, None)
        if key is not None:
            return key
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class NotificationAPI:
    """``client.Notification``: the ``Notification`` class methods, against the API; it
    answers with :class:`NotificationRecord` objects."""

    def __init__(self, client: Client):
        self._client = client

    def _post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._client.post(path, body)

    def _make(self, data: Mapping[str, Any]) -> NotificationRecord:
        return NotificationRecord.from_json(data, self)

    def _sent(self, path: str, body: dict[str, Any]) -> list[NotificationRecord]:
        body = {k: _json_value(v) for k, v in body.items() if v is not None}
        return [self._make(n) for n in self._post(path, body)["results"]]

    # --- sending --------------------------------------------------------------------------
    def send(
        self,
        *,
        title: str,
        type: str | None = None,  # noqa: A002 - the send API's name for the level code
        description: str | None = None,
        target_user: Any = None,
        target_team: Any = None,
        user_ids: Iterable[Any] | None = None,
        team_ids: Iterable[Any] | None = None,
        meta_data: Mapping[str, Any] | None = None,
        is_global: bool | None = None,
        **content: Any,
    ) -> list[NotificationRecord]:
        """Organization-scoped: exactly one of ``target_user``, ``target_team``,
        ``user_ids``, ``team_ids`` or ``is_global=True``. One notification per resolved
        target. Other keywords: ``url``, ``action_url``, ``action_required``,
        ``priority``, ``expires_at``, ``notification_type``."""
        return self._sent(
            "notifications/send/",
            {
                "type": type, "title": title, "description": description,
                "target_user": _key(target_user) if target_user is not None else None,
                "target_team": _key(target_team) if target_team is not None else None,
                "user_ids": [_key(u) for u in user_ids] if user_ids is not None else None,
                "team_ids": [_key(t) for t in team_ids] if team_ids is not None else None,
                "meta_data": dict(meta_data) if meta_data is not None else None,
                "is_global": is_global, **content,
            },
        )  # fmt: skip

    def send_to_self(
        self,
        *,
        title: str,
        type: str | None = None,  # noqa: A002
        description: str | None = None,
        meta_data: Mapping[str, Any] | None = None,
        **content: Any,
    ) -> list[NotificationRecord]:
        """A notification for yourself only."""
        return self._sent(
            "notifications/send-to-self/",
            {
                "type": type, "title": title, "description": description,
                "meta_data": dict(meta_data) if meta_data is not None else None, **content,
            },
        )  # fmt: skip

    def send_system(
        self,
        *,
        title: str,
        type: str | None = None,  # noqa: A002
        description: str | None = None,
        is_global: bool | None = None,
        target_user: Any = None,
        target_team: Any = None,
        user_ids: Iterable[Any] | None = None,
        team_ids: Iterable[Any] | None = None,
        meta_data: Mapping[str, Any] | None = None,
        **content: Any,
    ) -> list[NotificationRecord]:
        """System scope (staff and superusers): everyone (``is_global=True`` or no
        targets), or the given users/teams in any organization."""
        return self._sent(
            "notifications/send-system/",
            {
                "type": type, "title": title, "description": description,
                "is_global": is_global,
                "target_user": _key(target_user) if target_user is not None else None,
                "target_team": _key(target_team) if target_team is not None else None,
                "user_ids": [_key(u) for u in user_ids] if user_ids is not None else None,
                "team_ids": [_key(t) for t in team_ids] if team_ids is not None else None,
                "meta_data": dict(meta_data) if meta_data is not None else None, **content,
            },
        )  # fmt: skip

    # --- reading -----------------------------------------------------------------------------
    def filter(
        self,
        *,
        unread: bool | None = None,
        level: str | None = None,
        notification_type: str | None = None,
        category: str | None = None,
        priority: str | Iterable[str] | None = None,
        since: datetime | str | None = None,
        page_size: int | None = None,
    ) -> Pages[NotificationRecord]:
        """Your feed, newest first, fetched lazily page by page. ``notification_type``
        is the registered type key (the API's ``type`` parameter); ``level`` the level
        code; ``priority`` one name or several."""
        params = {
            "unread": unread, "level": level, "type": notification_type,
            "category": category, "since": since, "limit": page_size,
            "priority": [priority] if isinstance(priority, str) else priority,
        }  # fmt: skip
        params = {k: v for k, v in params.items() if v is not None}
        return Pages(lambda p: self._client.get("notifications/", p), params, self._make)

    def all(self) -> Pages[NotificationRecord]:
        return self.filter()

    def get(self, id: int) -> NotificationRecord:  # noqa: A002
        return self._make(self._client.get(f"notifications/{int(id)}/"))

    def recent(self, limit: int = 10) -> list[NotificationRecord]:
        """The latest ``limit`` notifications (the bell's dropdown)."""
        answer = self._client.get("notifications/recent/", {"limit": limit})
        return [self._make(n) for n in answer["results"]]

    def unread_count(self) -> int:
        return int(self._client.get("notifications/unread-count/")["unread_count"])

    def stats(self) -> dict[str, Any]:
        """Counts by read state, type, priority and level."""
        return self._client.get("notifications/stats/")

    # --- state (bulk actions) -----------------------------------------------------------------
    def mark_read(self, ids: Iterable[Any]) -> int:
        """Mark these (ids or notifications, at most 100) read; how many changed. All or
        nothing: one id you cannot see raises NotFound and changes nothing."""
        return int(
            self._post("notifications/mark-read/", {"ids": [_key(i) for i in ids]})["marked"]
        )

    def mark_all_read(self) -> int:
        """Everything you can see, read; how many changed."""
        return int(self._post("notifications/mark-all-read/")["marked"])

    def dismiss_all(self) -> int:
        """Dismiss everything you can see; how many changed."""
        return int(self._post("notifications/dismiss-all/")["dismissed"])


class AlertAPI:
    """``client.Alert``: platform alerts, for staff tokens, as :class:`AlertRecord` objects."""

    def __init__(self, client: Client):
        self._client = client

    def _record(self, data: Mapping[str, Any]) -> AlertRecord:
        return AlertRecord.from_json(data, self)

    def raise_alert(
        self,
        alert_type: str,
        severity: str,
        title: str,
        message: str = "",
        *,
        fingerprint: str | None = None,
        affected_systems: Iterable[str] = (),
        affected_organizations: Iterable[Any] = (),
        meta_data: Mapping[str, Any] | None = None,
    ) -> tuple[AlertRecord, bool]:
        """Open an alert or count another occurrence of the open one; (alert, created)."""
        body: dict[str, Any] = {
            "alert_type": alert_type, "severity": severity, "title": title,
            "message": message, "affected_systems": list(affected_systems),
            "affected_organizations": list(affected_organizations),
        }  # fmt: skip
        if fingerprint is not None:
            body["fingerprint"] = fingerprint
        if meta_data is not None:
            body["meta_data"] = dict(meta_data)
        status, data = self._client.request("POST", "alerts/", json=body, with_status=True)
        return self._record(data), status == 201

    def filter(
        self,
        *,
        resolved: bool | None = None,
        severity: str | None = None,
        alert_type: str | None = None,
        page_size: int | None = None,
    ) -> Pages[AlertRecord]:
        params = {
            "resolved": resolved, "severity": severity, "alert_type": alert_type,
            "limit": page_size,
        }  # fmt: skip
        params = {k: v for k, v in params.items() if v is not None}
        return Pages(lambda p: self._client.get("alerts/", p), params, self._record)

    def stats(self) -> dict[str, Any]:
        return self._client.get("alerts/stats/")


class _NoRedirectForWrites(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        # urllib would turn a redirected POST into a body-less GET: fail loudly instead.
        if req.get_method() not in ("GET", "HEAD"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Client:
    """Talks to one site. ``base_url`` is where the host mounted ``django_notify.urls``
    (e.g. ``https://example.com/notifications/``); the API lives under ``api/``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ):
        base = base_url if base_url.endswith("/") else base_url + "/"
        self.api_url = base if base.endswith("/api/") else urllib.parse.urljoin(base, "api/")
        self.token = token if token is not None else os.environ.get("DJANGO_NOTIFY_TOKEN")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._opener = urllib.request.build_opener(_NoRedirectForWrites())
        self.Notification = NotificationAPI(self)
        self.Alert = AlertAPI(self)

    def __repr__(self) -> str:
        return f"Client({self.api_url!r})"

    # --- transport ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        with_status: bool = False,
    ) -> Any:
        """Call ``api/<path>``; the decoded JSON answer (``(status, answer)`` with
        ``with_status``). Raises a :class:`ClientError` subclass for an error answer."""
        url = urllib.parse.urljoin(self.api_url, path.lstrip("/"))
        if params:
            pairs = []
            for key, value in params.items():
                values = value if isinstance(value, list | tuple) else [value]
                pairs += [(key, _text(v)) for v in values if v is not None]
            url = f"{url}?{urllib.parse.urlencode(pairs)}"
        data = None
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if json is not None:
            data = jsonlib.dumps(json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            raise _error_for(
                exc.code, body, {k.lower(): v for k, v in exc.headers.items()}
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(f"Cannot reach {url}: {reason}", code="transport") from exc
        try:
            answer = jsonlib.loads(body.decode("utf-8")) if body else None
        except ValueError:
            raise ClientError(
                f"{url} did not answer with JSON: is {self.api_url} the API?",
                status=status,
                code="not_json",
            ) from None
        return (status, answer) if with_status else answer

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=dict(body) if body is not None else None)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, json=dict(body))

    # --- preferences -------------------------------------------------------------------------
    def preferences(self) -> dict[str, Any]:
        """Your effective preferences per type × channel, quiet hours, time zone, language."""
        return self.get("preferences/")

    def update_preferences(self, **changes: Any) -> dict[str, Any]:
        """``preferences=[{"notification_type": …, "channel": "email", "enabled": False}]``,
        ``quiet_hours={"start": "22:00", "end": "07:00"}`` (or None), ``timezone=…``,
        ``language=…``; all applied or none. Returns the new preferences."""
        return self.patch("preferences/", changes)

    def reset_preferences(self) -> dict[str, Any]:
        return self.post("preferences/reset/")

    def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        return self.get("openapi.json")
