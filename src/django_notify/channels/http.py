"""The HTTP layer the webhook, Slack and Teams channels share.

Three things live here:

* :func:`validate_endpoint_url` — the save-time check (no DNS) that
  ``WebhookEndpoint.clean()`` and the channels' ``URL`` option run.
* :class:`GuardedBackend` — an ``httpcore`` network backend that resolves the host itself,
  refuses the connection if *any* resolved address is loopback, private, link-local
  (cloud metadata), CGNAT, multicast, reserved or an IPv6 form embedding one of those, and
  then connects to the address it checked. Checking at connect time, on the addresses
  actually used, is what defeats DNS names pointing at internal hosts and DNS rebinding;
  a save-time check alone cannot.
* :class:`HttpChannel` — the base channel: endpoint resolution through
  :class:`~django_notify.models.WebhookEndpoint` rows, one pooled ``httpx.Client`` per
  channel instance, and the mapping of HTTP answers to sent / retry / dead.

httpx is an optional dependency (``pip install 'django-notify-kit[http]'``): it gives us
real timeouts, connection pooling and — the reason it was chosen over ``requests`` — a
pluggable network backend, so the address check runs inside the client at the moment it
opens a socket instead of in a racy pre-flight lookup.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import Q

from ..conf import app_settings
from ..exceptions import (
    DeliveryError,
    EndpointGone,
    NotifyConfigurationError,
    RetryableDeliveryError,
)
from .base import BaseChannel, Message, SendResult

try:
    import httpcore
    import httpx
except ImportError:  # pragma: no cover - exercised only without the extra
    httpcore = httpx = None  # type: ignore[assignment]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PIP_EXTRA = "pip install 'django-notify-kit[http]'"

#: Never reachable from a notification, whatever the resolver says. Python's
#: ``is_global``/``is_private`` tables differ between patch releases and miss some of
#: these (multicast and CGNAT are not "private"), so the list is spelled out.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network", incl. 0.0.0.0 which Linux routes to localhost
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255 broadcast
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo: the embedded client address is attacker-chosen
        "2001:db8::/32",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: Response headers kept on the delivery row (the rest may carry cookies or tokens).
RECORDED_HEADERS = (
    "content-type",
    "date",
    "location",
    "retry-after",
    "request-id",
    "x-request-id",
    "x-ms-request-id",
    "x-slack-req-id",
)
BODY_EXCERPT = 1000
#: Larger answers are cut off: a receiver has no business sending more, and reading an
#: unbounded body would let a hostile endpoint tie up a worker.
MAX_RESPONSE_BYTES = 64 * 1024
#: Header names a channel sets itself and ``OPTIONS["HEADERS"]`` may not override.
RESERVED_HEADERS = frozenset(
    {
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
    }
)


def require_httpx() -> None:
    if httpx is None:
        raise NotifyConfigurationError(
            f"The webhook, Slack and Teams channels need httpx: {PIP_EXTRA}"
        )


# --- addresses ---------------------------------------------------------------------------
def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, well-known NAT64)."""
    if ip.version != 6:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(ip.packed[12:])
    return None


def is_blocked_address(ip: IPAddress) -> bool:
    """True for any address a notification must not reach unless allow-listed."""
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        # ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket; judge what it carries.
        return is_blocked_address(embedded)
    if ip.version == 6 and ip.packed[:12] == bytes(12):
        return True  # ::/96 "IPv4-compatible" (deprecated), ::, ::1
    if any(ip in net for net in BLOCKED_NETWORKS):
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def parse_ip(value: str) -> IPAddress | None:
    """A literal address, or None for a name. Accepts the legacy IPv4 spellings
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``) that resolvers turn into addresses."""
    value = value.strip("[]")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    if value and all(c in "0123456789abcdefxABCDEFX." for c in value):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(value))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class AllowList:
    """``WEBHOOK_ALLOWED_HOSTS``: exact host names, and addresses or CIDR networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, entries: Iterable[str] | None = None) -> AllowList:
        hosts, networks = set(), []
        for entry in app_settings.WEBHOOK_ALLOWED_HOSTS if entries is None else entries:
            entry = entry.strip().strip("[]")
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_normalise_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _normalise_host(host) in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        candidates = [ip]
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            candidates.append(embedded)
        return any(c in net for c in candidates for net in self.networks)


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def validate_endpoint_url(url: str) -> None:
    """Refuse a URL no HTTP channel may post to; no DNS lookup (the connect-time guard
    checks names). Raises ``ValidationError`` with a message naming the problem."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("Enter the endpoint URL.", code="required")
    if url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValidationError(
            "The URL may not contain spaces or control characters.", code="invalid"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"This is not a valid URL: {exc}.", code="invalid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            "Only http:// and https:// URLs can receive notifications.", code="invalid_scheme"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Put no credentials in the URL; use the channel's HEADERS option instead.",
            code="credentials",
        )
    host = parts.hostname
    if not host:
        raise ValidationError("The URL needs a host name.", code="no_host")
    if port == 0:
        raise ValidationError("Port 0 is not a valid port.", code="invalid")
    ip = parse_ip(host)
    if ip is None or not is_blocked_address(ip):
        return
    allow = AllowList.from_settings()
    if allow.allows_host(host) or allow.allows_ip(ip):
        return
    raise ValidationError(
        f"{ip} is a loopback, private, link-local, shared or reserved address; add it to "
        'DJANGO_NOTIFY["WEBHOOK_ALLOWED_HOSTS"] to allow it.',
        code="blocked_address",
    )


# --- the connect-time guard ----------------------------------------------------------------
_SyncBackend: type = httpcore.SyncBackend if httpcore is not None else object
_HTTPTransport: type = httpx.HTTPTransport if httpx is not None else object


class GuardedBackend(_SyncBackend):
    """``httpcore.SyncBackend`` that checks every address before connecting.

    The host is resolved once, here; if any answer is blocked (and neither the name nor
    the address is allow-listed) nothing is connected. Otherwise the socket is opened to
    the checked address, so a second lookup cannot return something else. TLS is
    unaffected: httpcore passes the URL's host name as ``server_hostname`` to
    ``start_tls``, so SNI and certificate checks use the name, not the address.
    """

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            # Fail closed: without an answer there is nothing we could check.
            raise RetryableDeliveryError(
                f"could not resolve {host!r} ({exc}); not connecting", reason="dns failure"
            ) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise RetryableDeliveryError(
                f"{host!r} resolved to no address; not connecting", reason="dns failure"
            )
        return addresses

    def check(self, host: str, addresses: list[str]) -> None:
        allow = AllowList.from_settings()
        if allow.allows_host(host):
            return
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if is_blocked_address(ip) and not allow.allows_ip(ip):
                shown = host if host == address else f"{host} ({address})"
                raise DeliveryError(
                    f"refusing to connect to {shown}: a loopback, private, link-local, shared "
                    'or reserved address not in DJANGO_NOTIFY["WEBHOOK_ALLOWED_HOSTS"]',
                    reason="blocked address",
                    response={"error": "blocked address", "host": host, "address": address},
                )

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        addresses = self.resolve(host, port)
        self.check(host, addresses)
        error: Exception | None = None
        for address in addresses:
            try:
                return self.open_socket(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def open_socket(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[Any] | None,
    ) -> Any:
        # A literal address: socket.create_connection does no DNS for it.
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class GuardedTransport(_HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool connects through a
    :class:`GuardedBackend`. No proxy support on purpose: a proxy would make the
    connection on our behalf and bypass the guard."""

    def __init__(
        self,
        *,
        verify: Any = True,
        network_backend: Any = None,
        limits: Any = None,
    ) -> None:
        require_httpx()
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=10)
        ssl_context = _ssl_context(verify)
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx builds its pool without a backend hook; rebuild it with ours (the
        # unused default pool never opened anything).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=network_backend or GuardedBackend(),
        )


def _ssl_context(verify: Any) -> Any:
    import ssl

    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=True, trust_env=False)


def guarded_client(
    *,
    timeout: float | None = None,
    verify: Any = True,
    headers: Mapping[str, str] | None = None,
    network_backend: Any = None,
) -> Any:
    """An ``httpx.Client`` with the connect-time address guard, no redirects, no
    environment proxies or ``.netrc``, and ``timeout`` (default ``HTTP_TIMEOUT``) for
    connecting, each read and each write. Usable by host code for its own outgoing calls."""
    require_httpx()
    return httpx.Client(
        transport=GuardedTransport(verify=verify, network_backend=network_backend),
        timeout=httpx.Timeout(timeout or app_settings.HTTP_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
        headers=dict(headers or {}),
    )


# --- answers -------------------------------------------------------------------------------
def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP-date), or None.

    Capped at ``RETRY_BACKOFF_MAX`` (6 hours by default): the delivery's own backoff never
    waits longer, and a receiver asking for a year should not park a delivery for a year.
    A date in the past means "now" (0).
    """
    if not value:
        return None
    value = value.strip()
    cap = app_settings.RETRY_BACKOFF_MAX
    if value.isascii() and value.isdigit():
        return cap if len(value) > 9 else min(float(value), cap)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), cap)


@dataclass
class HttpResponse:
    """What :meth:`HttpChannel.transmit` hands to :meth:`HttpChannel.parse_response`."""

    status_code: int
    headers: dict[str, str]
    body: str
    endpoint: Any
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The JSON stored on the delivery row: no URL (Slack and Teams URLs are
        credentials), a few headers, at most 1000 characters of body."""
        return {
            "status_code": self.status_code,
            "headers": {k: v for k, v in self.headers.items() if k in RECORDED_HEADERS},
            "body": self.body[:BODY_EXCERPT],
            "endpoint": getattr(self.endpoint, "pk", None),
            "elapsed": round(self.elapsed, 3),
            **self.extra,
        }


#: How many notifications a digest lists before "…and N more".
DIGEST_ITEMS = 20


def message_priority(message: Message) -> str:
    """The priority's label ("High") for chat cards, or ""."""
    from ..types import Priority

    value = message.data.get("priority")
    if value is None:
        value = getattr(message.notification, "priority", None)
    if value in (None, ""):
        return ""
    try:
        return str(Priority.parse(value).label)
    except ValueError:
        return str(value)


def message_type(message: Message) -> str:
    """The notification type key for chat cards ("digest" for a digest), or ""."""
    if message.is_digest:
        return "digest"
    return str(
        message.data.get("type")
        or getattr(message.delivery, "notification_type", None)
        or getattr(message.notification, "notification_type", None)
        or ""
    )


def is_absolute(url: str) -> bool:
    """Chat buttons need an absolute http(s) link; anything else is left out."""
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def message_facts(message: Message) -> list[tuple[str, str]]:
    """``[("Priority", "High"), ("Type", "job.created")]``, leaving out empty ones."""
    facts = [("Priority", message_priority(message)), ("Type", message_type(message))]
    return [(name, value) for name, value in facts if value]


def describe_endpoint(endpoint: Any) -> str:
    """``endpoint 12 (https://hooks.example.com)`` — never the path, which for Slack and
    Teams is the secret."""
    parts = urlsplit(endpoint.url)
    return f"endpoint {endpoint.pk} ({parts.scheme}://{parts.netloc.rpartition('@')[2]})"


# --- the channel -----------------------------------------------------------------------------
class HttpChannel(BaseChannel):
    """Base for channels that POST one request per message to a
    :class:`~django_notify.models.WebhookEndpoint`.

    Subclasses implement :meth:`build_payload` (returning the body bytes) and may extend
    :meth:`get_headers` and :meth:`parse_response`.
    """

    per_user_address = True
    content_type = "application/json"
    options: Mapping[str, Any] = {
        # A shared endpoint for everyone without a more specific one.
        "URL": None,
        # Seconds for connecting, each read and each write; None uses HTTP_TIMEOUT.
        "TIMEOUT": None,
        # Extra request headers, e.g. {"Authorization": "Bearer …"}.
        "HEADERS": None,
        # True (system CAs via certifi) or the path of a CA bundle. False is refused.
        "VERIFY": True,
    }
    #: The httpcore network backend; tests and hosts may substitute a subclass.
    network_backend_class: type = GuardedBackend

    def __init__(self, alias: str, **options: Any):
        super().__init__(alias, **options)
        self._client: Any = None
        self._client_pid: int | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f'DJANGO_NOTIFY["CHANNELS"][{self.alias!r}]["OPTIONS"]'

    def validate_options(self) -> None:
        require_httpx()
        url = self.config["URL"]
        if url not in (None, ""):
            try:
                validate_endpoint_url(url)
            except ValidationError as exc:
                raise NotifyConfigurationError(
                    f'{self.where}["URL"]: {" ".join(exc.messages)}'
                ) from None
        timeout = self.config["TIMEOUT"]
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise NotifyConfigurationError(f'{self.where}["TIMEOUT"] must be a positive number')
        headers = self.config["HEADERS"]
        if headers is not None:
            if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise NotifyConfigurationError(
                    f'{self.where}["HEADERS"] must be a dict of header name → string value'
                )
            reserved = sorted(k for k in headers if k.lower() in RESERVED_HEADERS)
            if reserved:
                raise NotifyConfigurationError(
                    f'{self.where}["HEADERS"] may not set {", ".join(reserved)}: the channel '
                    "sets those itself"
                )
        verify = self.config["VERIFY"]
        if verify is not True and not (isinstance(verify, str) and verify):
            raise NotifyConfigurationError(
                f'{self.where}["VERIFY"] must be True or the path of a CA bundle; TLS '
                "verification cannot be switched off"
            )

    @property
    def timeout(self) -> float:
        return float(self.config["TIMEOUT"] or app_settings.HTTP_TIMEOUT)

    # --- the client: one pool per channel instance ----------------------------------------
    def open(self) -> None:
        self._get_client()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _get_client(self) -> Any:
        with self._lock:
            # A forked worker (Celery prefork) must not share the parent's sockets.
            if self._client is None or self._client_pid != os.getpid():
                from .. import __version__

                self._client = guarded_client(
                    timeout=self.timeout,
                    verify=self.config["VERIFY"],
                    headers={"user-agent": f"django-notify/{__version__}"},
                    network_backend=self.network_backend_class(),
                )
                self._client_pid = os.getpid()
            return self._client

    # --- addresses: the most specific active endpoint ---------------------------------------
    def get_addresses(self, users: Iterable[Any]) -> dict[Any, str]:
        """``{user pk: endpoint pk}``: the user's own active endpoint, else their
        organization's, else the channel's shared one, else the ``URL`` option's row.
        Two queries per 500 users (the tenancy adapter's and the endpoints'), plus one or
        two the first time the ``URL`` row is created."""
        from ..tenancy import get_adapter

        users = list(users)
        addresses: dict[Any, str] = {}
        settings_row: Any = None
        for start in range(0, len(users), 500):
            ids = [u.pk for u in users[start : start + 500]]
            orgs = {
                pk: str(org)
                for pk, org in get_adapter().get_user_organizations(ids).items()
                if org not in (None, "")
            }
            own, by_org, shared = self._endpoints(ids, set(orgs.values()))
            for pk in ids:
                endpoint = own.get(pk) or by_org.get(orgs.get(pk)) or shared
                if endpoint is None and self.config["URL"]:
                    if settings_row is None:
                        settings_row = self.settings_endpoint()
                    endpoint = settings_row
                if endpoint is not None:
                    addresses[pk] = str(endpoint.pk)
        return addresses

    def _endpoints(self, user_ids: list[Any], org_keys: set[str]) -> tuple[dict, dict, Any]:
        from ..models.endpoint import WebhookEndpoint

        shared_q = Q(user__isnull=True, organization_key="")
        if org_keys:
            shared_q |= Q(user__isnull=True, organization_key__in=org_keys)
        rows = WebhookEndpoint._default_manager.filter(
            Q(user_id__in=user_ids) | shared_q, channel=self.alias, is_active=True
        ).order_by("-created_at", "-pk")
        own: dict[Any, Any] = {}
        by_org: dict[str, Any] = {}
        shared: list[Any] = []
        for row in rows:
            if row.user_id is not None:
                own.setdefault(row.user_id, row)
            elif row.organization_key:
                by_org.setdefault(row.organization_key, row)
            else:
                shared.append(row)
        # A shared row someone created beats the one standing in for the URL option.
        shared.sort(key=lambda row: row.url == self.config["URL"])
        return own, by_org, shared[0] if shared else None

    def settings_endpoint(self) -> Any:
        """The row standing for ``OPTIONS["URL"]``, created on first use so its state (a
        ``410 Gone`` disable) is kept. It is returned even when disabled: the delivery then
        fails with "endpoint disabled" instead of silently having no address."""
        from ..models.endpoint import WebhookEndpoint

        manager = WebhookEndpoint._default_manager
        lookup = {
            "channel": self.alias,
            "url": self.config["URL"],
            "user": None,
            "organization_key": "",
        }
        row = manager.filter(**lookup).order_by("-is_active", "pk").first()
        if row is None:
            row = manager.create(**lookup, description=f"OPTIONS URL of channel {self.alias}")
        return row

    def is_settings_endpoint(self, endpoint: Any) -> bool:
        return (
            bool(self.config["URL"])
            and endpoint.url == self.config["URL"]
            and endpoint.user_id is None
            and not endpoint.organization_key
        )

    def load_endpoint(self, message: Message) -> Any:
        from ..models.endpoint import WebhookEndpoint

        address = str(message.address)
        endpoint = None
        if address.isdigit():
            endpoint = WebhookEndpoint._default_manager.filter(pk=int(address)).first()
        if endpoint is None:
            raise DeliveryError(
                f"webhook endpoint {address!r} does not exist", reason="unknown endpoint"
            )
        if endpoint.channel != self.alias:
            raise DeliveryError(
                f"{describe_endpoint(endpoint)} belongs to channel {endpoint.channel!r}, "
                f"not {self.alias!r}",
                reason="unknown endpoint",
            )
        if not endpoint.is_active:
            why = f": {endpoint.disabled_reason}" if endpoint.disabled_reason else ""
            raise DeliveryError(
                f"{describe_endpoint(endpoint)} is disabled{why}", reason="endpoint disabled"
            )
        try:
            # Rows written without full_clean() (bulk, shell) get the same check.
            validate_endpoint_url(endpoint.url)
        except ValidationError as exc:
            reason = "blocked address" if exc.code == "blocked_address" else "invalid url"
            raise DeliveryError(
                f"{describe_endpoint(endpoint)}: {' '.join(exc.messages)}", reason=reason
            ) from None
        return endpoint

    # --- sending ------------------------------------------------------------------------
    def get_headers(self, body: bytes, message: Message, endpoint: Any) -> dict[str, str]:
        """Request headers for one attempt. Runs before any connection is opened, so it
        may refuse (raise ``DeliveryError``)."""
        return {**(self.config["HEADERS"] or {}), "content-type": self.content_type}

    def transmit(self, payload: bytes, message: Message) -> HttpResponse:
        endpoint = self.load_endpoint(message)
        headers = self.get_headers(payload, message, endpoint)
        client = self._get_client()
        name = describe_endpoint(endpoint)
        started = time.monotonic()
        try:
            with client.stream("POST", endpoint.url, content=payload, headers=headers) as resp:
                body = self._read_body(resp, started)
        except DeliveryError:
            raise
        except httpx.TimeoutException as exc:
            raise RetryableDeliveryError(
                f"{name}: timed out after {self.timeout:g}s ({type(exc).__name__})",
                reason="timeout",
                response={"error": type(exc).__name__, "endpoint": endpoint.pk},
            ) from None
        except httpx.ConnectError as exc:
            raise RetryableDeliveryError(
                f"{name}: could not connect: {exc}",
                reason="connection failed",
                response={"error": "ConnectError", "detail": str(exc), "endpoint": endpoint.pk},
            ) from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise DeliveryError(
                f"{name}: the request could not be made: {exc}",
                reason="invalid request",
                response={"error": type(exc).__name__, "endpoint": endpoint.pk},
            ) from None
        except httpx.TransportError as exc:
            raise RetryableDeliveryError(
                f"{name}: {type(exc).__name__}: {exc}",
                reason="transport error",
                response={"error": type(exc).__name__, "endpoint": endpoint.pk},
            ) from None
        return HttpResponse(
            status_code=resp.status_code,
            headers={k.lower(): v for k, v in resp.headers.items()},
            body=body,
            endpoint=endpoint,
            elapsed=time.monotonic() - started,
        )

    def _read_body(self, response: Any, started: float) -> str:
        # Per-read timeouts alone let a server drip one byte at a time forever.
        deadline = started + 2 * self.timeout
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_RESPONSE_BYTES:
                break
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the response body took too long")
        raw = b"".join(chunks)[:MAX_RESPONSE_BYTES]
        return raw.decode(response.encoding or "utf-8", errors="replace")

    def parse_response(self, response: HttpResponse, message: Message) -> SendResult:
        """2xx → sent; everything else raises, retryable or not (see the docs' table)."""
        status = response.status_code
        record = response.record()
        name = describe_endpoint(response.endpoint)
        if 200 <= status < 300:
            return self.success(response, message)
        if 300 <= status < 400:
            raise DeliveryError(
                f"{name} answered {status}: redirects are not followed; update the endpoint "
                "URL to the final location",
                reason="redirect",
                response=record,
            )
        if status == 410:
            response.endpoint.disable("410 Gone")
            raise EndpointGone(
                f"{name} answered 410 Gone; it has been disabled",
                reason="endpoint gone",
                response=record,
            )
        if status in (408, 429) or 500 <= status < 600:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RetryableDeliveryError(
                f"{name} answered {status}",
                retry_after=retry_after,
                reason=f"http {status}",
                response=record,
            )
        raise DeliveryError(f"{name} answered {status}", reason=f"http {status}", response=record)

    def success(self, response: HttpResponse, message: Message) -> SendResult:
        headers = response.headers
        provider_id = headers.get("x-request-id") or headers.get("request-id") or ""
        return SendResult(response=response.record(), provider_id=provider_id[:200])
