"""Email through Django's email framework (any email backend: SMTP, console, locmem,
anymail's providers).

Which backend: on Django 6.1+ a mailer from ``settings.MAILERS`` (the ``MAILER`` option,
default ``"default"``) or a channel-local one (``EMAIL_BACKEND`` with ``CONNECTION`` as its
``OPTIONS``); on Django 5.2, ``get_connection(EMAIL_BACKEND, **CONNECTION)`` as before.

Each delivery is one ``EmailMultiAlternatives`` with a plain-text body and an HTML
alternative, a ``Message-ID`` derived from the delivery's idempotency key (the same on
every retry, so a receiving server or a provider can drop a duplicate), and RFC 8058
one-click ``List-Unsubscribe`` headers when the message has an unsubscribe URL.

A delivery is ``sent`` only when the backend, with ``fail_silently`` off, reports the
message sent. SMTP 4xx answers and connection trouble are retried; 5xx answers are
permanent.

Inside :meth:`EmailChannel.batch` (the dispatcher's batches) the messages share one
backend connection — one SMTP session for a batch instead of one per message — opened
at the first message and opened again after a failure.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.utils.module_loading import import_string

from ..conf import app_settings
from ..exceptions import DeliveryError, NotifyConfigurationError, RetryableDeliveryError
from .base import BaseChannel, Message, TransmitResult, user_text_column

#: Django 6.1+ names its email backends in ``settings.MAILERS`` and hands them out through
#: ``django.core.mail.mailers``; ``get_connection()`` and ``EMAIL_BACKEND`` are deprecated
#: there. Django 5.2 has only the old API.
HAS_MAILERS = hasattr(mail, "mailers")


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        # Retry only if every refusal was temporary.
        return max(codes) if codes else None
    return getattr(exc, "smtp_code", None)


class _HeldConnection:
    """One backend connection for the messages of a batch."""

    def __init__(self, channel: EmailChannel):
        self.channel = channel
        self.mailer: Any = None

    def send(self, payload: EmailMultiAlternatives) -> int:
        if self.mailer is None:
            mailer = self.channel.get_mailer()
            # Opened here, send_messages() leaves it open (it closes only what it opened).
            mailer.open()
            self.mailer = mailer
        try:
            return self.mailer.send_messages([payload])
        except Exception:
            # After a refusal or a dropped connection the session's state is unknown: the
            # next message starts a fresh one rather than fail on this one's leftovers.
            self.close()
            raise

    def close(self) -> None:
        mailer, self.mailer = self.mailer, None
        if mailer is not None:
            try:
                mailer.close()
            except Exception:  # noqa: S110 - QUIT on a broken session: nothing to save
                pass


class EmailChannel(BaseChannel):
    label = "Email"
    supports_html = True
    sends_email = True
    options = {
        # Django 6.1+: the alias of a settings.MAILERS entry; None is "default".
        "MAILER": None,
        # Dotted path of a Django email backend for this channel alone; None uses the
        # project's (MAILERS["default"] on Django 6.1+, settings.EMAIL_BACKEND on 5.2).
        "EMAIL_BACKEND": None,
        # Keyword arguments for that backend (host, port, username, timeout, …): on Django
        # 6.1+ its OPTIONS, as in a MAILERS entry (no fallback to the EMAIL_* settings).
        "CONNECTION": None,
        "FROM_EMAIL": None,
        "REPLY_TO": None,
        # Domain of the Message-ID; defaults to SITE_URL's host, else the machine's name.
        "MESSAGE_ID_DOMAIN": None,
    }

    def __init__(self, alias: str, **options: Any):
        super().__init__(alias, **options)
        # The registry shares this instance between threads; a batch's connection is
        # its thread's alone (smtplib sessions are not thread-safe).
        self._local = threading.local()

    @contextmanager
    def batch(self) -> Iterator[EmailChannel]:
        """The messages sent inside share one backend connection, closed at the end."""
        if getattr(self._local, "held", None) is not None:  # nested: the outer one owns it
            yield self
            return
        held = self._local.held = _HeldConnection(self)
        try:
            yield self
        finally:
            self._local.held = None
            held.close()

    def validate_options(self) -> None:
        where = f'DJANGO_NOTIFY["CHANNELS"][{self.alias!r}]["OPTIONS"]'
        connection = self.config["CONNECTION"]
        if connection is not None and not isinstance(connection, dict):
            raise NotifyConfigurationError(f'{where}["CONNECTION"] must be a dict')
        backend = self.config["EMAIL_BACKEND"]
        if backend is not None:
            try:
                import_string(backend)
            except ImportError as exc:
                raise NotifyConfigurationError(
                    f'{where}["EMAIL_BACKEND"] = {backend!r} cannot be imported: {exc}'
                ) from exc
        mailer = self.config["MAILER"]
        if mailer is None:
            if HAS_MAILERS and connection is not None and backend is None:
                raise NotifyConfigurationError(
                    f'{where}["CONNECTION"] needs "EMAIL_BACKEND" on Django 6.1+: name a '
                    'settings.MAILERS entry in "MAILER" instead (its OPTIONS hold the '
                    'connection settings), or give "EMAIL_BACKEND" too'
                )
            return
        if not HAS_MAILERS:
            raise NotifyConfigurationError(
                f'{where}["MAILER"] needs Django 6.1 or newer (settings.MAILERS); on this '
                'Django use "EMAIL_BACKEND" and "CONNECTION"'
            )
        if backend is not None or connection is not None:
            raise NotifyConfigurationError(
                f'{where} has "MAILER" and "EMAIL_BACKEND"/"CONNECTION": give one of them'
            )
        if not isinstance(mailer, str) or mailer not in mail.mailers:
            configured = ", ".join(map(repr, mail.mailers)) or "none"
            raise NotifyConfigurationError(
                f'{where}["MAILER"] = {mailer!r} is not in settings.MAILERS '
                f"(configured: {configured})"
            )

    def get_mailer(self):
        """A new email backend instance for one send or one batch, the way this Django
        hands them out: ``MAILER`` → ``mailers[alias]``; ``EMAIL_BACKEND`` → that class
        with ``CONNECTION`` as its options (a mailer of this channel's own); neither → the
        default mailer. On Django 5.2, ``get_connection()``."""
        backend = self.config["EMAIL_BACKEND"]
        options = self.config["CONNECTION"] or {}
        if not HAS_MAILERS:  # Django 5.2
            return mail.get_connection(backend, fail_silently=False, **options)
        if self.config["MAILER"]:
            return mail.mailers[self.config["MAILER"]]
        if backend:
            # What mailers.create_connection() does for a MAILERS entry.
            return import_string(backend)(alias=f"django_notify:{self.alias}", **options)
        return mail.mailers.default

    # --- addresses ----------------------------------------------------------------------
    def get_addresses(self, users) -> dict[Any, str]:
        field = get_user_model().get_email_field_name()
        if hasattr(users, "values_list"):  # a queryset: read the one column
            return {pk: email for pk, email in users.values_list("pk", field) if email}
        return {u.pk: getattr(u, field) for u in users if getattr(u, field, "")}

    def address_source(self) -> tuple[str, str] | None:
        if type(self).get_addresses is not EmailChannel.get_addresses:
            return super().address_source()
        column = user_text_column(get_user_model().get_email_field_name())
        return ("field", column) if column else None

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
        held = getattr(self._local, "held", None)
        try:
            if held is not None:
                sent = held.send(payload)
            else:
                sent = self.get_mailer().send_messages([payload])
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

    def parse_response(self, response: dict, message: Message) -> TransmitResult:
        return TransmitResult(response=response, provider_id=response.get("message_id", ""))
