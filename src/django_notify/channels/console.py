"""Prints each message to a stream (stdout by default): for development."""

from __future__ import annotations

import sys
import threading
from typing import Any

from .base import BaseChannel, Message, TransmitResult


class ConsoleChannel(BaseChannel):
    label = "Console"
    supports_html = True
    per_user_address = False
    options = {"STREAM": None}

    def __init__(self, alias: str, **options: Any):
        super().__init__(alias, **options)
        self._lock = threading.Lock()

    def build_payload(self, message: Message) -> str:
        kind = "digest" if message.is_digest else "notification"
        lines = [
            f"--- {self.alias}: {kind} to {message.recipient} <{message.address}> "
            f"[{message.idempotency_key}]",
            f"Subject: {message.subject}",
            "",
            message.text,
        ]
        if message.url:
            lines += ["", message.url]
        return "\n".join(lines) + "\n"

    def transmit(self, payload: str, message: Message) -> dict:
        stream = self.config["STREAM"] or sys.stdout
        with self._lock:
            stream.write(payload)
            stream.flush()
        return {"written": len(payload)}

    def parse_response(self, response: dict, message: Message) -> TransmitResult:
        return TransmitResult(response=response)
