"""Slack incoming webhooks (https://api.slack.com/messaging/webhooks) with Block Kit.

The webhook URL is the credential: it is never logged or stored on delivery rows (only
the endpoint's id is). Text is escaped with Slack's three entities (``&amp;``, ``&lt;``,
``&gt;``) so a title such as ``<!channel>`` or ``<https://evil|click>`` is shown, not
interpreted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..exceptions import DeliveryError, EndpointGone, RetryableDeliveryError
from .base import Message, TransmitResult
from .http.answers import HttpResponse, parse_retry_after
from .http.cards import DIGEST_ITEMS, is_absolute, message_facts
from .http.channel import HttpChannel
from .http.endpoints import describe_endpoint

#: Slack's documented incoming-webhook errors meaning the webhook itself is gone: the
#: endpoint is disabled, as for a 410.
GONE_ERRORS = frozenset(
    {"channel_is_archived", "invalid_token", "no_service", "no_team", "team_disabled"}
)
RETRYABLE_ERRORS = frozenset({"rate_limited", "internal_error", "service_unavailable"})
#: Statuses whose body Slack fills with an error code such as ``invalid_payload``.
SLACK_ERROR_STATUSES = frozenset({200, 400, 401, 403, 404, 410, 429})
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{1,60}")

HEADER_MAX = 150
SECTION_MAX = 3000


def escape(text: str) -> str:
    """Slack's escaping for message text: only ``&``, ``<`` and ``>``."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SlackChannel(HttpChannel):
    label = "Slack"
    options = {
        **HttpChannel.options,
        # Label of the button linking to the notification.
        "BUTTON_TEXT": "Open",
    }

    def blocks(self, message: Message) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(escape(message.subject), HEADER_MAX)},
            }
        ]
        body = self.digest_text(message) if message.is_digest else escape(message.text)
        if body.strip():
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SECTION_MAX)}}
            )
        facts = [f"*{name}:* {escape(value)}" for name, value in message_facts(message)]
        if facts:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(facts)}]}
            )
        if is_absolute(message.url):
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": self.config["BUTTON_TEXT"]},
                            "url": message.url,
                        }
                    ],
                }
            )
        return blocks

    def digest_text(self, message: Message) -> str:
        lines = []
        for notification in message.notifications[:DIGEST_ITEMS]:
            title = escape(getattr(notification, "title", "") or str(notification))
            url = getattr(notification, "url", "") or ""
            if is_absolute(url) and "|" not in url and ">" not in url:
                lines.append(f"• <{url}|{title}>")
            else:
                lines.append(f"• {title}")
        more = len(message.notifications) - DIGEST_ITEMS
        if more > 0:
            lines.append(f"…and {more} more")
        return "\n".join(lines) or escape(message.text)

    def build_payload(self, message: Message) -> bytes:
        payload = {
            # The fallback for notifications and clients that cannot show blocks.
            "text": escape(message.subject + (f": {message.text}" if message.text else "")),
            "blocks": self.blocks(message),
        }
        return json.dumps(payload, ensure_ascii=False).encode()

    def parse_response(self, response: HttpResponse, message: Message) -> TransmitResult:
        # Slack answers "ok", or an error code as the plain-text body (usually with a 4xx,
        # occasionally with a 200). Other bodies are left to the status code.
        body = response.body.strip()
        if (
            response.status_code in SLACK_ERROR_STATUSES
            and body != "ok"
            and ERROR_CODE.fullmatch(body)
        ):
            self._slack_error(response, body)
        return super().parse_response(response, message)

    def _slack_error(self, response: HttpResponse, code: str) -> None:
        name = describe_endpoint(response.endpoint)
        record = {**response.record(), "error": code}
        if code in GONE_ERRORS:
            response.endpoint.disable(f"Slack: {code}")
            raise EndpointGone(
                f"{name}: Slack answered {code}; the endpoint has been disabled",
                reason=f"slack {code}",
                response=record,
            )
        if code in RETRYABLE_ERRORS or response.status_code == 429:
            raise RetryableDeliveryError(
                f"{name}: Slack answered {code}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                reason=f"slack {code}",
                response=record,
            )
        raise DeliveryError(
            f"{name}: Slack answered {response.status_code} {code}",
            reason=f"slack {code}",
            response=record,
        )
