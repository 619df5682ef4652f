"""The email channel against a real SMTP server on loopback (aiosmtpd), inline dispatch:
what the server receives, and how its answers become delivery outcomes."""

import email
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from django_notify import notify
from django_notify.delivery import dispatch
from django_notify.models import Delivery, DeliveryStatus
from tests.support.notify_settings import notify_override

aiosmtpd = pytest.importorskip("aiosmtpd.controller")


class Recorder:
    """Accepts mail, except for recipients it was told to refuse (code and text)."""

    def __init__(self):
        self.messages = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    handler = Recorder()
    handler.port = closed_port()  # free a moment ago; the controller checks it answers
    controller = aiosmtpd.Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def email_settings(port: int, **extra):
    return notify_override(
        **{
            "CHANNELS": {
                "outbox": {"BACKEND": "locmem"},
                "email": {
                    "BACKEND": "email",
                    "OPTIONS": {
                        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                        "CONNECTION": {"host": "127.0.0.1", "port": port, "timeout": 5},
                        "FROM_EMAIL": "alerts@notify.example",
                    },
                },
            },
            "RETRY_BACKOFF": 1,
            "MAX_ATTEMPTS": 3,
            **extra,
        }
    )


def send(run, user):
    with run(execute=True):
        notify([user], "test.alert", title="Disk full", meta_data={"context": {"what": "disk"}})
    return Delivery.objects.get(channel="email")


def test_the_server_receives_one_multipart_message(
    smtp, make_user, django_capture_on_commit_callbacks
):
    user = make_user(email="ada@example.com")
    with email_settings(smtp.port):
        delivery = send(django_capture_on_commit_callbacks, user)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    (message,) = smtp.messages
    assert message["To"] == "ada@example.com" and message["From"] == "alerts@notify.example"
    assert message["Message-ID"] == f"<{delivery.idempotency_key}@notify.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/alternative", "text/plain", "text/html",
    ]  # fmt: skip


def test_smtp_down_is_retried_then_dead(make_user, django_capture_on_commit_callbacks):
    user = make_user(email="ada@example.com")
    with email_settings(closed_port()):
        delivery = send(django_capture_on_commit_callbacks, user)
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
        assert "ConnectionRefusedError" in delivery.last_error
        first_wait = delivery.next_attempt_at
        for _ in range(2):
            Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
            dispatch.deliver(delivery.pk)
        delivery.refresh_from_db()
    assert first_wait > delivery.created_at
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 3)
    assert delivery.reason == "gave up after 3 attempts"


def test_a_permanent_refusal_is_dead_at_once(smtp, make_user, django_capture_on_commit_callbacks):
    user = make_user(email="gone@example.com")
    smtp.refuse["gone@example.com"] = "550 5.1.1 No such user"
    with email_settings(smtp.port):
        delivery = send(django_capture_on_commit_callbacks, user)
    assert (delivery.status, delivery.attempts, delivery.reason) == (
        DeliveryStatus.DEAD, 1, "permanent error",
    )  # fmt: skip
    assert delivery.response == {"smtp_code": 550} and "No such user" in delivery.last_error
    assert smtp.messages == []


def test_a_temporary_refusal_is_retried_and_then_succeeds(
    smtp, make_user, django_capture_on_commit_callbacks
):
    user = make_user(email="busy@example.com")
    smtp.refuse["busy@example.com"] = "451 4.3.0 Try again later"
    with email_settings(smtp.port):
        delivery = send(django_capture_on_commit_callbacks, user)
        assert (delivery.status, delivery.response) == (DeliveryStatus.FAILED, {"smtp_code": 451})
        del smtp.refuse["busy@example.com"]
        Delivery.objects.update(next_attempt_at=timezone.now())
        dispatch.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert "451" in delivery.last_error  # the audit row keeps what the first attempt met
    (message,) = smtp.messages
    assert message["Message-ID"] == f"<{delivery.idempotency_key}@notify.example>"
