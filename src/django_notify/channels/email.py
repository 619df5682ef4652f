"""Email through Django's email framework (any ``EMAIL_BACKEND``: SMTP, console, locmem,
anymail's providers).

Each delivery is one ``EmailMultiAlternatives`` with a plain-text body and an HTML
alternative, a ``Message-ID`` derived from the delivery's idempotency key (the same on
every retry, so a receiving server or a provider can drop a duplicate), and RFC 8058
one-click ``List-Unsubscribe`` headers when the message has an unsubscribe URL.

A delivery is ``sent`` only when the backend, with ``fail_silently`` off, reports the
message sent. SMTP 4xx answers and connection trouble are retried; 5xx answers are
permanent.
"""

from __future__ import annotations

import smtplib
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME

from ..conf import app_settings
from ..exceptions import DeliveryError, NotifyConfigurationError, RetryableDeliveryError
from .base import BaseChannel, Message, SendResult


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        # Retry only if every refusal was temporary.
        return max(codes) if codes else None
    return getattr(exc, "smtp_code", None)


class EmailChannel(BaseChannel):
    label = "Email"
    supports_html = True
    options = {
        # Dotted path of a Django email backend; None uses settings.EMAIL_BACKEND.
        "EMAIL_BACKEND": None,
        # Keyword arguments for that backend (host, port, username, timeout, …).
        "CONNECTION": None,
        "FROM_EMAIL": None,
        "REPLY_TO": None,
        # Domain of the Message-ID; defaults to SITE_URL's host, else the machine's name.
        "MESSAGE_ID_DOMAIN": None,
    }

    def validate_options(self) -> None:
        where = f'DJANGO_NOTIFY["CHANNELS"][{self.alias!r}]["OPTIONS"]'
        connection = self.config["CONNECTION"]
        if connection is not None and not isinstance(connection, dict):
            raise NotifyConfigurationError(f'{where}["CONNECTION"] must be a dict')
        backend = self.config["EMAIL_BACKEND"]
        if backend is not None:
            from django.utils.module_loading import import_string

            try:
                import_string(backend)
            except ImportError as exc:
                raise NotifyConfigurationError(
                    f'{where}["EMAIL_BACKEND"] = {backend!r} cannot be imported: {exc}'
                ) from exc

    # --- addresses ----------------------------------------------------------------------
    def get_addresses(self, users) -> dict[Any, str]:
        field = get_user_model().get_email_field_name()
        return {u.pk: getattr(u, field) for u in users if getattr(u, field, "")}

    # --- sending ------------------------------------------------------------------------
    def message_id(self, message: Message) -> str:
        domain = self.config["MESSAGE_ID_DOMAIN"] or urlsplit(app_settings.SITE_URL).hostname
        return f"<{message.idempotency_key}@{domain or DNS_NAME}>"

    def build_payload(self, message: Message) -> EmailMultiAlternatives:
        headers = {"Message-ID": self.message_id(message), **message.headers}
        if message.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        reply_to = self.config["REPLY_TO"]
        email = EmailMultiAlternatives(
            subject=message.subject.replace("\n", " ").strip(),
            body=message.text,
            from_email=self.config["FROM_EMAIL"] or app_settings.EMAIL_FROM,
            to=[message.address],
            reply_to=[reply_to] if isinstance(reply_to, str) else reply_to,
            headers=headers,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        return email

    def transmit(self, payload: EmailMultiAlternatives, message: Message) -> dict:
        connection = get_connection(
            self.config["EMAIL_BACKEND"], fail_silently=False, **(self.config["CONNECTION"] or {})
        )
        try:
            sent = connection.send_messages([payload])
        except smtplib.SMTPException as exc:
            code = _smtp_code(exc)
            detail = f"{type(exc).__name__}: {exc}"
            response = {"smtp_code": code} if code else {}
            if code is not None and 500 <= code < 600:
                raise DeliveryError(detail, response=response) from exc
            raise RetryableDeliveryError(detail, response=response) from exc
        except (TimeoutError, OSError) as exc:  # refused, reset, DNS, timeout
            raise RetryableDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not sent:
            raise DeliveryError("the email backend reported the message as not sent")
        return {"message_id": payload.extra_headers["Message-ID"], "sent": sent}

    def parse_response(self, response: dict, message: Message) -> SendResult:
        return SendResult(response=response, provider_id=response.get("message_id", ""))
