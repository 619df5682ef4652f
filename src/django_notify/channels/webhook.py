"""Signed JSON webhooks, per the Standard Webhooks specification
(https://www.standardwebhooks.com).

Every request carries:

* ``webhook-id`` — the delivery's idempotency key: the same on every retry, so a receiver
  that stores the ids it has processed drops a retried duplicate;
* ``webhook-timestamp`` — Unix seconds of *this* attempt (receivers reject stale ones);
* ``webhook-signature`` — ``v1,<base64 HMAC-SHA256>`` of ``"{id}.{timestamp}.{body}"``
  with each of the endpoint's ``whsec_`` secrets, space-separated (two during a rotation).

The body is ``{"type": …, "timestamp": …, "data": message.data}`` serialised once; the
exact bytes sent are the bytes signed. Only ``message.data`` leaves the process — the
pipeline has already removed sensitive context from it — never the notification's raw
fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from ..exceptions import DeliveryError, NotifyConfigurationError
from ..models.endpoint import validate_secrets
from .base import Message
from .http.channel import HttpChannel

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key a ``whsec_…`` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secrets: Iterable[str], msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1,<base64>`` per secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(decode_secret(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


class WebhookChannel(HttpChannel):
    label = "Webhook"
    options = {
        **HttpChannel.options,
        # Signing secret(s) for the URL option's endpoint; rows carry their own.
        "SECRET": None,
        "SECRETS": None,
        # Send without a signature when an endpoint has no secret. Off: such a delivery
        # fails with "no signing secret", since an unsigned webhook can be forged by anyone
        # who learns the URL.
        "ALLOW_UNSIGNED": False,
        # The "type" of digest messages.
        "DIGEST_TYPE": "notification.digest",
    }

    def validate_options(self) -> None:
        super().validate_options()
        secret, secrets = self.config["SECRET"], self.config["SECRETS"]
        if secret is not None and secrets is not None:
            raise NotifyConfigurationError(f"{self.where}: give SECRET or SECRETS, not both")
        if secret is not None:
            secrets, name = [secret], "SECRET"
        else:
            name = "SECRETS"
        if secrets is not None:
            try:
                validate_secrets(list(secrets) if isinstance(secrets, list | tuple) else secrets)
            except ValidationError as exc:
                raise NotifyConfigurationError(
                    f'{self.where}["{name}"]: {" ".join(exc.messages)} Generate one with '
                    "django_notify.models.endpoint.generate_secret()."
                ) from None
        if not isinstance(self.config["ALLOW_UNSIGNED"], bool):
            raise NotifyConfigurationError(f'{self.where}["ALLOW_UNSIGNED"] must be True or False')

    @property
    def option_secrets(self) -> list[str]:
        if self.config["SECRET"]:
            return [self.config["SECRET"]]
        return list(self.config["SECRETS"] or [])

    def secrets_for(self, endpoint: Any) -> list[str]:
        """The endpoint's secrets, newest first. The ``URL`` option's row uses the
        ``SECRET(S)`` options, so a rotation done in settings takes effect at once."""
        if self.is_settings_endpoint(endpoint) and self.option_secrets:
            return self.option_secrets
        return [s for s in (endpoint.secrets or []) if s]

    # --- the payload ----------------------------------------------------------------------
    def event_type(self, message: Message) -> str:
        if message.is_digest:
            return self.config["DIGEST_TYPE"]
        for source in (message.delivery, message.notification):
            key = getattr(source, "notification_type", None)
            if key:
                return str(key)
        return "notification"

    def event_time(self, message: Message) -> Any:
        # The event's own time keeps the body identical across retries.
        for source in (message.notification, message.delivery):
            created = getattr(source, "created_at", None)
            if created is not None:
                return created
        return timezone.now()

    def build_payload(self, message: Message) -> bytes:
        envelope = {
            "type": self.event_type(message),
            "timestamp": self.event_time(message),
            "data": message.data,
        }
        return json.dumps(
            envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
        ).encode()

    def get_headers(self, body: bytes, message: Message, endpoint: Any) -> dict[str, str]:
        headers = super().get_headers(body, message, endpoint)
        msg_id = message.idempotency_key
        timestamp = str(int(time.time()))
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = timestamp
        secrets = self.secrets_for(endpoint)
        if secrets:
            headers["webhook-signature"] = sign(secrets, msg_id, timestamp, body)
        elif not self.config["ALLOW_UNSIGNED"]:
            raise DeliveryError(
                f"webhook endpoint {endpoint.pk} has no signing secret; add one (or set "
                f'{self.where}["ALLOW_UNSIGNED"] = True)',
                reason="no signing secret",
            )
        return headers
