"""A real SMTP server on loopback (aiosmtpd) for the delivery tests.

``SmtpServer`` records every message it accepts and can refuse recipients with a chosen
answer, for a number of attempts or for good::

    with SmtpServer() as smtp:
        smtp.refuse("flaky@example.com", "451 4.3.0 try again later", times=1)
        smtp.refuse("gone@example.com", "550 5.1.1 no such user")
        ...
        assert smtp.messages[0].message["Message-ID"] == "<…@notify.example>"

``with smtp.down():`` stops listening (connections are refused) and comes back on the
same port afterwards, for "SMTP server down" tests.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class _Handler:
    def __init__(self, owner: SmtpServer):
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return self.owner._rcpt(envelope, address)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        self.owner._record(Received(envelope.mail_from, list(envelope.rcpt_tos), raw))
        return "250 2.0.0 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port()
        self.messages: list[Received] = []
        #: RCPT TO commands seen per address (accepted or refused).
        self.rcpt_attempts: Counter[str] = Counter()
        self._refusals: dict[str, tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # --- behaviour ------------------------------------------------------------------------
    def refuse(self, address: str, answer: str, *, times: int | None = None) -> None:
        """Answer RCPT TO for ``address`` with ``answer`` (e.g. ``"550 5.1.1 no such
        user"``): the next ``times`` times, or always."""
        with self._lock:
            self._refusals[address.lower()] = (answer, times)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.rcpt_attempts.clear()
            self._refusals.clear()

    def _rcpt(self, envelope, address: str) -> str:
        key = address.lower()
        with self._lock:
            self.rcpt_attempts[key] += 1
            refusal = self._refusals.get(key)
            if refusal is not None:
                answer, times = refusal
                if times is None or times > 0:
                    if times is not None:
                        self._refusals[key] = (answer, times - 1)
                    return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def _record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SmtpServer:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Nothing listens on the port inside the block (connections are refused)."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
