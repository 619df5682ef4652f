"""Which :class:`~django_notify.models.WebhookEndpoint` row an HTTP channel posts to.

A user's deliveries go to the most specific active endpoint of the channel: the user's
own, else their organization's, else the channel's shared one, else the row standing for
the channel's ``URL`` option.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import Q

from ...exceptions import DeliveryError
from ...id_lists import in_ids
from ...models.endpoint import WebhookEndpoint
from ...network import validate_endpoint_url


def describe_endpoint(endpoint: Any) -> str:
    """``endpoint 12 (https://hooks.example.com)`` — never the path, which for Slack and
    Teams is the secret."""
    parts = urlsplit(endpoint.url)
    return f"endpoint {endpoint.pk} ({parts.scheme}://{parts.netloc.rpartition('@')[2]})"


def active_endpoints(
    channel: str, user_ids: list[Any], org_keys: set[str], *, option_url: str | None
) -> tuple[dict[Any, WebhookEndpoint], dict[str, WebhookEndpoint], WebhookEndpoint | None]:
    """``(by user pk, by organization key, shared)``: the newest active endpoint of each
    kind for ``channel``, in one query."""
    # Each list is one parameter (in_ids): a fan-out's thousands of users are one query.
    shared_q = Q(user__isnull=True, organization_key="")
    if org_keys:
        shared_q |= Q(in_ids("organization_key", org_keys), user__isnull=True)
    rows = WebhookEndpoint._default_manager.filter(
        Q(in_ids("user_id", user_ids)) | shared_q, channel=channel, is_active=True
    ).order_by("-created_at", "-pk")
    own: dict[Any, WebhookEndpoint] = {}
    by_org: dict[str, WebhookEndpoint] = {}
    shared: list[WebhookEndpoint] = []
    for row in rows:
        if row.user_id is not None:
            own.setdefault(row.user_id, row)
        elif row.organization_key:
            by_org.setdefault(row.organization_key, row)
        else:
            shared.append(row)
    # A shared row someone created beats the one standing in for the URL option.
    shared.sort(key=lambda row: row.url == option_url)
    return own, by_org, shared[0] if shared else None


def option_endpoint(channel: str, url: str) -> WebhookEndpoint:
    """The row standing for a channel's ``OPTIONS["URL"]``, created on first use so its
    state (a ``410 Gone`` disable) is kept. It is returned even when disabled: the delivery
    then fails with "endpoint disabled" instead of silently having no address."""
    manager = WebhookEndpoint._default_manager
    lookup = {"channel": channel, "url": url, "user": None, "organization_key": ""}
    row = manager.filter(**lookup).order_by("-is_active", "pk").first()
    if row is None:
        row = manager.create(**lookup, description=f"OPTIONS URL of channel {channel}")
    return row


def is_option_endpoint(endpoint: Any, option_url: str | None) -> bool:
    """True for the row standing for the channel's ``URL`` option."""
    return (
        bool(option_url)
        and endpoint.url == option_url
        and endpoint.user_id is None
        and not endpoint.organization_key
    )


def endpoint_for_address(channel: str, address: Any) -> WebhookEndpoint:
    """The endpoint a delivery's address names, refused (``DeliveryError``) unless it
    exists, belongs to ``channel``, is active and its URL passes the address check."""
    address = str(address)
    endpoint = None
    if address.isdigit():
        endpoint = WebhookEndpoint._default_manager.filter(pk=int(address)).first()
    if endpoint is None:
        raise DeliveryError(
            f"webhook endpoint {address!r} does not exist", reason="unknown endpoint"
        )
    return check_endpoint(channel, endpoint)


def check_endpoint(channel: str, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """``endpoint``, refused (``DeliveryError``) unless it belongs to ``channel``, is
    active and its URL passes the address check."""
    if endpoint.channel != channel:
        raise DeliveryError(
            f"{describe_endpoint(endpoint)} belongs to channel {endpoint.channel!r}, "
            f"not {channel!r}",
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
