"""The base channel for HTTP backends: one POST per message to a webhook endpoint."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError

from ... import __version__
from ...conf import app_settings
from ...exceptions import (
    DeliveryError,
    EndpointGone,
    NotifyConfigurationError,
    RetryableDeliveryError,
)
from ...models.endpoint import WebhookEndpoint
from ...network import validate_endpoint_url
from ...tenancy import get_adapter
from ..base import BaseChannel, Message, TransmitResult, user_pks
from .answers import HttpResponse, parse_retry_after
from .endpoints import (
    active_endpoints,
    check_endpoint,
    describe_endpoint,
    endpoint_for_address,
    is_option_endpoint,
    option_endpoint,
)
from .guard import GuardedBackend, guarded_client, httpx, require_httpx

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
        # A batch's endpoint rows, per thread: the registry shares this instance.
        self._local = threading.local()

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

    @contextmanager
    def batch(self) -> Iterator[HttpChannel]:
        """A batch reads each endpoint row once (most of a batch goes to a few endpoints)
        and sends through the instance's pool, which keeps connections alive between
        messages and between batches."""
        if getattr(self._local, "endpoints", None) is not None:  # nested: the outer one's
            yield self
            return
        self._local.endpoints = {}
        try:
            yield self
        finally:
            self._local.endpoints = None

    def _get_client(self) -> Any:
        with self._lock:
            # A forked worker (Celery prefork) must not share the parent's sockets.
            if self._client is None or self._client_pid != os.getpid():
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
        Three queries whatever the number of users (their pks, the tenancy adapter's
        organizations, the endpoints), plus one or two the first time the ``URL`` row is
        created."""
        ids = user_pks(users)
        if not ids:
            return {}
        orgs = {
            pk: str(org)
            for pk, org in get_adapter().get_user_organizations(ids).items()
            if org not in (None, "")
        }
        own, by_org, shared = active_endpoints(
            self.alias, ids, set(orgs.values()), option_url=self.config["URL"]
        )
        settings_row: Any = None
        addresses: dict[Any, str] = {}
        for pk in ids:
            endpoint = own.get(pk) or by_org.get(orgs.get(pk)) or shared
            if endpoint is None and self.config["URL"]:
                if settings_row is None:  # created only when someone needs it
                    settings_row = self.settings_endpoint()
                endpoint = settings_row
            if endpoint is not None:
                addresses[pk] = str(endpoint.pk)
        return addresses

    def settings_endpoint(self) -> WebhookEndpoint:
        """The row standing for ``OPTIONS["URL"]``, created on first use so its state (a
        ``410 Gone`` disable) is kept. It is returned even when disabled: the delivery then
        fails with "endpoint disabled" instead of silently having no address."""
        return option_endpoint(self.alias, self.config["URL"])

    def is_settings_endpoint(self, endpoint: Any) -> bool:
        return is_option_endpoint(endpoint, self.config["URL"])

    def load_endpoint(self, message: Message) -> WebhookEndpoint:
        endpoints = getattr(self._local, "endpoints", None)
        if endpoints is None:
            return endpoint_for_address(self.alias, message.address)
        key = str(message.address)
        if key not in endpoints:
            endpoints[key] = endpoint_for_address(self.alias, message.address)
            return endpoints[key]
        # Checked again: a 410 Gone earlier in the batch disabled the row (and this copy).
        return check_endpoint(self.alias, endpoints[key])

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

    def parse_response(self, response: HttpResponse, message: Message) -> TransmitResult:
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

    def success(self, response: HttpResponse, message: Message) -> TransmitResult:
        headers = response.headers
        provider_id = headers.get("x-request-id") or headers.get("request-id") or ""
        return TransmitResult(response=response.record(), provider_id=provider_id[:200])
