"""The delivery-backend interface.

A channel turns a rendered :class:`Message` into something leaving the process: an email,
an HTTP POST, a line on the console. Channels are configured like ``CACHES``::

    DJANGO_NOTIFY = {
        "CHANNELS": {
            "email": {"BACKEND": "django_notify.channels.email.EmailChannel"},
            "ops-slack": {
                "BACKEND": "django_notify.channels.slack.SlackChannel",
                "OPTIONS": {"URL": "https://hooks.slack.com/services/…"},
            },
        }
    }

The constructor takes the alias and the options as keywords and refuses unknown ones, so a
typo fails ``manage.py check`` instead of being ignored. :meth:`BaseChannel.send` is a
final template method: subclasses fill :meth:`build_payload`, :meth:`transmit` and
:meth:`parse_response`, and raise :class:`~django_notify.exceptions.RetryableDeliveryError`
for transient failures or :class:`~django_notify.exceptions.DeliveryError` for permanent
ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, final

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist

from ..exceptions import NotifyConfigurationError


def user_text_column(name: str) -> str | None:
    """The attname of the user model's text column ``name``, or None when ``name`` is
    not one (a property, a relation, a number)."""
    try:
        field = get_user_model()._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    internal = getattr(field, "get_internal_type", lambda: "")()
    if getattr(field, "concrete", False) and internal in ("CharField", "TextField", "EmailField"):
        return field.attname
    return None


def user_pks(users: Iterable[Any]) -> list[Any]:
    """The pks of ``users``: one column read from a queryset, never the instances (a
    fan-out hands :meth:`BaseChannel.get_addresses` thousands of users)."""
    if hasattr(users, "values_list"):
        return list(users.values_list("pk", flat=True))
    return [user.pk for user in users]


@dataclass
class Message:
    """One rendered message for one recipient on one channel.

    A digest is a message too: ``notifications`` then lists everything it covers and
    ``notification`` is ``None``.
    """

    subject: str
    text: str
    recipient: Any
    address: str
    #: Stable across retries of this delivery (Message-ID, webhook-id, provider keys).
    idempotency_key: str
    html: str = ""
    #: Absolute link to the notification's target, or "".
    url: str = ""
    notification: Any = None
    notifications: list[Any] = field(default_factory=list)
    #: JSON-safe payload for machine channels, with sensitive context removed.
    data: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: One-click unsubscribe URL for this recipient and type(s), or "".
    unsubscribe_url: str = ""
    language: str = ""
    timezone: str = ""
    #: The delivery (or digest) row being sent, for channels that need more.
    delivery: Any = None

    @property
    def is_digest(self) -> bool:
        return self.notification is None


@dataclass
class TransmitResult:
    """What a channel reports after a successful send; stored on the delivery row."""

    response: dict[str, Any] = field(default_factory=dict)
    #: The provider's id for the message, when it returns one.
    provider_id: str = ""


class BaseChannel:
    """Subclass, declare the options you accept, and fill the three hooks."""

    #: Human-readable name for admin lists and docs.
    label: ClassVar[str] = ""
    #: The channel sends HTML bodies (email); others get the plain text.
    supports_html: ClassVar[bool] = False
    #: The channel can send hourly/daily/weekly digests (one message for many
    #: notifications). Channels that cannot get every notification immediately.
    supports_digest: ClassVar[bool] = True
    #: Each recipient needs an address of their own (an email address); channels that
    #: post to one configured endpoint set this False.
    per_user_address: ClassVar[bool] = True
    #: The notification row itself is the delivery (the feed reads it): the write path
    #: writes no Delivery row for this channel and a broadcast stays one row. It decides
    #: the channel per recipient only to hide a direct row born with the channel off,
    #: and calls :meth:`announce` with the new rows' ids after the commit.
    delivers_by_row: ClassVar[bool] = False
    #: The channel sends email: its deliveries are what the admin's "should email" and
    #: "emailed" columns and actions read.
    sends_email: ClassVar[bool] = False
    #: Option names the constructor accepts (``OPTIONS`` keys), and the ones it requires.
    options: ClassVar[Mapping[str, Any]] = {}
    required_options: ClassVar[tuple[str, ...]] = ()

    def announce(self, notifications: Sequence[Any]) -> None:
        """New rows were committed (called for channels that ``delivers_by_row``, with
        the saved rows: route from them rather than reading them again). For a fan-out
        without a sender (``notify()``, an event's audience), each item carries only
        ``pk``, ``scope``, ``recipient_id``, ``team_key`` and ``organization_key``."""

    def __init__(self, alias: str, **options: Any):
        self.alias = alias
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise NotifyConfigurationError(
                f'DJANGO_NOTIFY["CHANNELS"][{alias!r}]["OPTIONS"] has unknown option(s) '
                f"{', '.join(unknown)} for {type(self).__name__} (accepted: {known})"
            )
        missing = [name for name in self.required_options if options.get(name) in (None, "")]
        if missing:
            raise NotifyConfigurationError(
                f'DJANGO_NOTIFY["CHANNELS"][{alias!r}]["OPTIONS"] needs '
                f"{', '.join(missing)} for {type(self).__name__}"
            )
        self.config: dict[str, Any] = {**self.options, **options}
        self.validate_options()

    def validate_options(self) -> None:
        """Hook: raise :class:`NotifyConfigurationError` naming the option. No I/O here:
        system checks construct every configured channel."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"

    # --- connection lifecycle (like Django's email backends) -------------------------
    def open(self) -> None:
        """Open long-lived resources (an SMTP connection, an HTTP pool)."""

    def close(self) -> None:
        """Release what :meth:`open` opened. Safe to call twice."""

    def __enter__(self) -> BaseChannel:
        self.open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[BaseChannel]:
        """Several messages in a row from this thread (the dispatcher wraps each batch of
        deliveries in it), for resources worth holding for a batch but not for the life
        of the instance: the registry shares one instance between threads and keeps it
        open for as long as the configuration stands, so :meth:`open` is the wrong
        place for a connection a server times out or a client cannot share (SMTP). The
        email channel holds one mail connection through it; the HTTP channels' pool
        already lives as long as the instance. The default does nothing."""
        yield self

    # --- addresses --------------------------------------------------------------------
    def get_addresses(self, users: Iterable[Any]) -> dict[Any, str]:
        """``{user pk: address}`` for the users this channel can reach; users left out
        are skipped with the reason "no address". Called once per batch with a queryset
        of users (or any iterable of them), so read in bulk. The default reaches
        everyone at the channel's configured endpoint, and reads only the users' pks."""
        return {pk: self.alias for pk in user_pks(users)}

    def address_source(self) -> tuple[str, str] | None:
        """How a fan-out written in SQL finds each user's address without calling
        :meth:`get_addresses` for thousands of users: ``("constant", address)`` when
        every user has the same one, ``("field", attname)`` when it is a text column of
        the user model (empty or NULL meaning "no address"), ``None`` when only
        :meth:`get_addresses` knows. A subclass overriding ``get_addresses`` gets
        ``None`` unless it overrides this too, so the two never disagree."""
        if type(self).get_addresses is BaseChannel.get_addresses:
            return ("constant", self.alias)
        return None

    # --- sending: a final template method ------------------------------------------
    @final
    def deliver(self, message: Message) -> TransmitResult:
        """Deliver one message (or one digest). Raise a ``DeliveryError`` on failure."""
        payload = self.build_payload(message)
        response = self.transmit(payload, message)
        return self.parse_response(response, message)

    def build_payload(self, message: Message) -> Any:
        """What :meth:`transmit` sends, built from the message."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_payload()")

    def transmit(self, payload: Any, message: Message) -> Any:
        """Send the payload; return the provider's raw response."""
        raise NotImplementedError(f"{type(self).__name__} must implement transmit()")

    def parse_response(self, response: Any, message: Message) -> TransmitResult:
        """Turn the raw response into a :class:`TransmitResult`, or raise."""
        return TransmitResult(response=response if isinstance(response, dict) else {})
