"""Microsoft Teams through a Power Automate "Workflows" webhook, as an Adaptive Card.

Microsoft retired the Office 365 connectors' incoming webhooks in favour of Workflows
("Post to a channel when a webhook request is received"); those take a ``message`` with
Adaptive Card attachments and answer ``202 Accepted``. ``OPTIONS["FORMAT"] =
"message_card"`` sends the old connector ``MessageCard`` instead, for connector URLs that
still work.

Like Slack's, a Workflows URL carries its own signature (``sig=`` in the query): it is a
credential and never leaves the endpoint row.
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import NotifyConfigurationError, RetryableDeliveryError
from ..types import Priority
from .base import Message, TransmitResult
from .http.answers import HttpResponse
from .http.cards import DIGEST_ITEMS, is_absolute, message_facts
from .http.channel import HttpChannel
from .http.endpoints import describe_endpoint

FORMATS = ("adaptive_card", "message_card")
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: MessageCard accent colours by priority (Teams shows them as the card's left bar).
THEME_COLORS = {
    Priority.LOW: "808080",
    Priority.NORMAL: "0078D7",
    Priority.HIGH: "FFA500",
    Priority.CRITICAL: "D13438",
}


class TeamsChannel(HttpChannel):
    label = "Microsoft Teams"
    options = {
        **HttpChannel.options,
        "FORMAT": "adaptive_card",
        "BUTTON_TEXT": "Open",
        # Adaptive Card schema version; 1.4 is what Teams renders on every client.
        "CARD_VERSION": "1.4",
    }

    def validate_options(self) -> None:
        super().validate_options()
        if self.config["FORMAT"] not in FORMATS:
            raise NotifyConfigurationError(
                f'{self.where}["FORMAT"] must be "adaptive_card" (Workflows) or '
                f'"message_card" (retired Office 365 connectors), not {self.config["FORMAT"]!r}'
            )

    def facts(self, message: Message) -> list[tuple[str, str]]:
        return message_facts(message)

    def digest_lines(self, message: Message) -> list[str]:
        lines = [f"- {getattr(n, 'title', '') or n}" for n in message.notifications[:DIGEST_ITEMS]]
        more = len(message.notifications) - DIGEST_ITEMS
        if more > 0:
            lines.append(f"…and {more} more")
        return lines

    # --- Adaptive Card (Workflows) ----------------------------------------------------------
    def adaptive_card(self, message: Message) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": message.subject,
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "style": "heading",
            }
        ]
        text = "\n".join(self.digest_lines(message)) if message.is_digest else message.text
        if text:
            body.append({"type": "TextBlock", "text": text, "wrap": True})
        facts = self.facts(message)
        if facts:
            body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]})
        card: dict[str, Any] = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": self.config["CARD_VERSION"],
            "body": body,
        }
        if is_absolute(message.url):
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": self.config["BUTTON_TEXT"], "url": message.url}
            ]
        return {
            "type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
        }

    # --- MessageCard (retired connectors) ---------------------------------------------------
    def message_card(self, message: Message) -> dict[str, Any]:
        text = "\n\n".join(self.digest_lines(message)) if message.is_digest else message.text
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.subject[:200],
            "title": message.subject,
            "text": text,
        }
        priority = message.data.get("priority", getattr(message.notification, "priority", None))
        try:
            card["themeColor"] = THEME_COLORS[Priority.parse(priority)]
        except (ValueError, KeyError):
            pass
        facts = self.facts(message)
        if facts:
            card["sections"] = [{"facts": [{"name": k, "value": v} for k, v in facts]}]
        if is_absolute(message.url):
            card["potentialAction"] = [
                {
                    "@type": "OpenUri",
                    "name": self.config["BUTTON_TEXT"],
                    "targets": [{"os": "default", "uri": message.url}],
                }
            ]
        return card

    def build_payload(self, message: Message) -> bytes:
        if self.config["FORMAT"] == "message_card":
            payload = self.message_card(message)
        else:
            payload = self.adaptive_card(message)
        return json.dumps(payload, ensure_ascii=False).encode()

    def parse_response(self, response: HttpResponse, message: Message) -> TransmitResult:
        # Connectors answered throttling with a 200 whose body reports Teams' 429.
        if (
            self.config["FORMAT"] == "message_card"
            and response.status_code == 200
            and "HTTP error 429" in response.body
        ):
            raise RetryableDeliveryError(
                f"{describe_endpoint(response.endpoint)}: Teams throttled the connector",
                reason="http 429",
                response=response.record(),
            )
        return super().parse_response(response, message)
