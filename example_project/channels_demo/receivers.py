"""Verification as a real receiver does it, one function per channel.

Each returns ``(verified, problem)``: ``problem`` says why a request was refused.

- webhook: the Standard Webhooks signature, checked with the reference library
  (``standardwebhooks``), which also refuses timestamps more than five minutes off;
- Slack and Teams: their incoming webhooks are not signed (the URL is the credential),
  so the demo gives both channels a bearer token through their ``HEADERS`` option and
  checks it, then checks that the body has the shape Slack or Teams would accept.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

#: The request headers recorded with each message (the token itself never is).
HEADERS_OF_INTEREST = (
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)


def recorded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in HEADERS_OF_INTEREST if name in headers}
    if "authorization" in headers:
        kept["authorization"] = (
            "Bearer …" if headers["authorization"].startswith("Bearer ") else "…"
        )
    return kept


def verify_webhook(body: bytes, headers: Mapping[str, str]) -> tuple[bool, str]:
    try:
        Webhook(settings.CHANNELS_DEMO_WEBHOOK_SECRET).verify(body, dict(headers))
    except WebhookVerificationError as exc:
        return False, f"signature: {exc}"
    except ValueError as exc:  # a verified body that is not JSON
        return False, f"body: {exc}"
    return True, ""


def _token_ok(headers: Mapping[str, str]) -> bool:
    expected = f"Bearer {settings.CHANNELS_DEMO_TOKEN}"
    return hmac.compare_digest(headers.get("authorization", "").encode(), expected.encode())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def verify_slack(body: bytes, headers: Mapping[str, str]) -> tuple[bool, str]:
    if not _token_ok(headers):
        return False, "missing or wrong bearer token"
    payload = _json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return False, 'not a Slack message: no "text"'
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or not all(
        isinstance(block, dict) and "type" in block for block in blocks
    ):
        return False, 'not a Slack message: "blocks" must be a list of typed blocks'
    return True, ""


ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def verify_teams(body: bytes, headers: Mapping[str, str]) -> tuple[bool, str]:
    if not _token_ok(headers):
        return False, "missing or wrong bearer token"
    payload = _json(body)
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return False, 'not a Teams message: "type" is not "message"'
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return False, "not a Teams message: no attachments"
    for attachment in attachments:
        card = attachment.get("content") if isinstance(attachment, dict) else None
        if (
            not isinstance(card, dict)
            or attachment.get("contentType") != ADAPTIVE_CARD
            or card.get("type") != "AdaptiveCard"
            or not isinstance(card.get("body"), list)
        ):
            return False, "not a Teams message: each attachment must be an Adaptive Card"
    return True, ""


VERIFIERS = {"webhook": verify_webhook, "slack": verify_slack, "teams": verify_teams}
