"""The HTTP layer the webhook, Slack and Teams channels share.

* :mod:`.guard` — the connect-time address guard inside the httpx client
  (:func:`guarded_client`, usable by host code for its own outgoing calls);
* :mod:`.answers` — what an HTTP answer means (:func:`parse_retry_after`);
* :mod:`.cards` — what the Slack and Teams cards show of a message;
* :mod:`.endpoints` — which webhook endpoint row a delivery goes to;
* :mod:`.channel` — :class:`HttpChannel`, the base class for HTTP channels.

The save-time URL check, :func:`validate_endpoint_url`, lives in
:mod:`django_notify.network` and is importable from here too.

httpx is an optional dependency: ``pip install 'django-notify-kit[http]'``.
"""

from ...network import is_blocked_address, validate_endpoint_url
from .answers import HttpResponse, parse_retry_after
from .cards import DIGEST_ITEMS, is_absolute, message_facts
from .channel import HttpChannel
from .endpoints import describe_endpoint
from .guard import GuardedBackend, guarded_client

__all__ = [
    "DIGEST_ITEMS",
    "GuardedBackend",
    "HttpChannel",
    "HttpResponse",
    "describe_endpoint",
    "guarded_client",
    "is_absolute",
    "is_blocked_address",
    "message_facts",
    "parse_retry_after",
    "validate_endpoint_url",
]
