"""Which addresses outgoing HTTP from a notification may reach.

:func:`validate_endpoint_url` is the save-time check (no DNS) that
``WebhookEndpoint.clean()`` and the HTTP channels' ``URL`` option run. The connect-time
guard in :mod:`django_notify.channels.http.guard` applies the same address policy to
the addresses a host name actually resolves to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from .conf import app_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
