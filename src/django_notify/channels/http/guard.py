"""The connect-time address guard: an httpx client that checks where it connects.

:class:`GuardedBackend` is an ``httpcore`` network backend that resolves the host itself,
refuses the connection if *any* resolved address is loopback, private, link-local (cloud
metadata), CGNAT, multicast, reserved or an IPv6 form embedding one of those, and then
connects to the address it checked. Checking at connect time, on the addresses actually
used, is what defeats DNS names pointing at internal hosts and DNS rebinding; a save-time
check (:func:`django_notify.network.validate_endpoint_url`) alone cannot.

httpx is an optional dependency (``pip install 'django-notify-kit[http]'``): it gives us
real timeouts, connection pooling and — the reason it was chosen over ``requests`` — a
pluggable network backend, so the address check runs inside the client at the moment it
opens a socket instead of in a racy pre-flight lookup.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from ...conf import app_settings
from ...exceptions import DeliveryError, NotifyConfigurationError, RetryableDeliveryError
from ...network import AllowList, is_blocked_address

try:
    import httpcore
    import httpx
except ImportError:  # pragma: no cover - exercised only without the extra
    httpcore = httpx = None  # type: ignore[assignment]

PIP_EXTRA = "pip install 'django-notify-kit[http]'"


def require_httpx() -> None:
    if httpx is None:
        raise NotifyConfigurationError(
            f"The webhook, Slack and Teams channels need httpx: {PIP_EXTRA}"
        )


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
