"""Which email backend the email channel sends through: Django 6.1's mailers where Django
has them (never the deprecated ``get_connection()``), ``get_connection()`` on 5.2."""

import warnings

import pytest
from django.core import mail
from django.test import override_settings

from django_notify import notify
from django_notify.channels.checks import check_channels as check_settings
from django_notify.channels.email import HAS_MAILERS
from django_notify.models import Delivery, DeliveryStatus
from tests.support.notify_settings import notify_override

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
needs_mailers = pytest.mark.skipif(not HAS_MAILERS, reason="Django 6.1+ (MAILERS)")
before_mailers = pytest.mark.skipif(HAS_MAILERS, reason="Django 5.2 (no MAILERS)")


def _settings(**options):
    return notify_override(
        DEFAULT_CHANNELS=["email"], CHANNELS={"email": {"BACKEND": "email", "OPTIONS": options}}
    )


def _send(make_user, run, **options):
    user = make_user(email="ada@x.io")
    with _settings(**options):
        with warnings.catch_warnings():
            # The send itself: no deprecation from Django's email API, whatever the run's
            # warning filters (the "deprecations" tox env makes them errors everywhere).
            warnings.simplefilter("error", DeprecationWarning)
            warnings.simplefilter("error", PendingDeprecationWarning)
            with run(execute=True):
                notify([user], None, title="Hello")
    delivery = Delivery.objects.get(channel="email")
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    (message,) = mail.outbox
    return message


def _check_errors(**options):
    with _settings(**options):
        return [e.msg for e in check_settings() if e.id == "django_notify.E014"]


@pytest.mark.django_db
def test_the_default_sends_through_the_default_mailer(
    make_user, django_capture_on_commit_callbacks
):
    message = _send(make_user, django_capture_on_commit_callbacks)
    assert message.to == ["ada@x.io"]
    if HAS_MAILERS:  # locmem records the mailer's alias
        assert message.sent_using == "default"


@needs_mailers
@pytest.mark.django_db
def test_mailer_names_a_mailers_entry(make_user, django_capture_on_commit_callbacks):
    mailers = {"default": {"BACKEND": LOCMEM}, "bulk": {"BACKEND": LOCMEM}}
    with override_settings(MAILERS=mailers):
        message = _send(make_user, django_capture_on_commit_callbacks, MAILER="bulk")
    assert message.sent_using == "bulk"


@pytest.mark.django_db
def test_email_backend_is_a_channel_local_backend(make_user, django_capture_on_commit_callbacks):
    message = _send(make_user, django_capture_on_commit_callbacks, EMAIL_BACKEND=LOCMEM)
    if HAS_MAILERS:  # built as mailers build a MAILERS entry, under the channel's name
        assert message.sent_using == "django_notify:email"


@needs_mailers
def test_mailer_must_be_configured_and_alone():
    with override_settings(MAILERS={"default": {"BACKEND": LOCMEM}}):
        [msg] = _check_errors(MAILER="bulk")
        assert "\"MAILER\"] = 'bulk' is not in settings.MAILERS (configured: 'default')" in msg
        [msg] = _check_errors(MAILER="default", EMAIL_BACKEND=LOCMEM)
        assert 'has "MAILER" and "EMAIL_BACKEND"/"CONNECTION": give one of them' in msg
        [msg] = _check_errors(CONNECTION={"timeout": 5})
        assert '["CONNECTION"] needs "EMAIL_BACKEND" on Django 6.1+' in msg
        assert _check_errors(MAILER="default") == []
        assert _check_errors(EMAIL_BACKEND=LOCMEM, CONNECTION={}) == []


@before_mailers
def test_mailer_needs_django_6_1():
    [msg] = _check_errors(MAILER="default")
    assert '["MAILER"] needs Django 6.1 or newer' in msg
    assert _check_errors(CONNECTION={"timeout": 5}) == []  # get_connection(**CONNECTION)
