"""System checks and the channel registry: bad delivery settings fail start-up with a
message naming the setting."""

import io

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_notify import AlreadyRegistered, NotRegistered
from django_notify.channels import BaseChannel, Message, TransmitResult, channels, get_channel
from django_notify.exceptions import NotifyConfigurationError

OK = {"CHANNELS": {"outbox": {"BACKEND": "locmem"}}}
SITE = {"SITE_URL": "https://notify.example"}


def check_settings():
    """Every DJANGO_NOTIFY check: the base keys', the channels', delivery's, the centre's."""
    return run_checks(tags=["django_notify"])


def ids(setting):
    with override_settings(DJANGO_NOTIFY={**OK, **SITE, **setting}):
        return [(m.id, m.msg) for m in check_settings()]


@pytest.mark.parametrize(
    "setting, code, words",
    [
        ({"CHANNELS": []}, "E013", "must be a dict"),
        ({"CHANNELS": {**OK["CHANNELS"], "": {"BACKEND": "locmem"}}}, "E013", "1–50 characters"),
        (
            {"CHANNELS": {**OK["CHANNELS"], "x": {"BACKEND": "nope.Missing"}}},
            "E014",
            "cannot be imported",
        ),
        (
            {"CHANNELS": {**OK["CHANNELS"], "x": {"BACKEND": "django.db.models.Model"}}},
            "E014",
            "BaseChannel subclass",
        ),
        ({"CHANNELS": {**OK["CHANNELS"], "x": {"OPTIONS": {}}}}, "E014", "needs a BACKEND"),
        (
            {"CHANNELS": {**OK["CHANNELS"], "x": {"BACKEND": "locmem", "OPTION": {}}}},
            "E014",
            "unknown key(s) OPTION",
        ),
        (
            {
                "CHANNELS": {
                    **OK["CHANNELS"],
                    "x": {"BACKEND": "locmem", "OPTIONS": {"FAIL": "maybe"}},
                }
            },
            "E014",
            '["FAIL"]',
        ),
        (
            {"CHANNELS": {**OK["CHANNELS"], "x": {"BACKEND": "email", "OPTIONS": {"HOST": "h"}}}},
            "E014",
            "unknown option(s) HOST",
        ),
        (
            {
                "CHANNELS": {
                    **OK["CHANNELS"],
                    "x": {"BACKEND": "email", "OPTIONS": {"EMAIL_BACKEND": "no.Such"}},
                }
            },
            "E014",
            "EMAIL_BACKEND",
        ),
        ({"DISPATCHER": "carrier.Pigeon"}, "E033", "DISPATCHER"),
        ({"DISPATCHER": "django_notify.conf.DEFAULTS"}, "E034", "dispatcher class"),
        ({"DEFAULT_CHANNELS": ["in_app", "sms"]}, "E016", "DEFAULT_CHANNELS"),
        ({"RETRY_BACKOFF": 0}, "E036", "RETRY_BACKOFF"),
        ({"RETRY_BACKOFF_MAX": 0}, "E037", "RETRY_BACKOFF_MAX"),
        ({"RETRY_COUNTDOWN_MAX": "5"}, "E038", "RETRY_COUNTDOWN_MAX"),
        ({"SENDING_TIMEOUT": False}, "E039", "SENDING_TIMEOUT"),
        ({"HTTP_TIMEOUT": 0}, "E031", "HTTP_TIMEOUT"),
        ({"RETENTION_BATCH_SIZE": 0}, "E042", "RETENTION_BATCH_SIZE"),
        ({"MAX_ATTEMPTS": "5"}, "E035", "MAX_ATTEMPTS"),
        ({"SITE_URL": "notify.example"}, "E017", "SITE_URL"),
        ({"DIGEST_DAILY_AT": "8 am"}, "E018", "DIGEST_DAILY_AT"),
        ({"DIGEST_WEEKDAY": 7}, "E040", "DIGEST_WEEKDAY"),
        ({"BYPASS_PRIORITY": "urgent"}, "E041", "BYPASS_PRIORITY"),
        ({"RATE_LIMITS": {"sender": "lots"}}, "E019", "'sender'"),
        ({"RATE_LIMITS": {"per_ip": "1/s"}}, "E019", "unknown limit 'per_ip'"),
        ({"RATE_LIMITS": ["1/s"]}, "E019", "must be a dict"),
        ({"RETENTION_DAYS": {"deliveries": -1}}, "E020", "RETENTION_DAYS"),
        ({"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}, "E030", "WEBHOOK_ALLOWED_HOSTS"),
        ({"SENSITIVE_CONTEXT": [1]}, "E043", "SENSITIVE_CONTEXT"),
        ({"REALTIME_PUBLISHER": "no.such.publish"}, "E032", "REALTIME_PUBLISHER"),
    ],
)
def test_bad_delivery_settings_are_reported(setting, code, words):
    found = ids(setting)
    assert any(i == f"django_notify.{code}" and words in msg for i, msg in found), found


def test_good_delivery_settings_are_clean():
    setting = {
        "CHANNELS": {
            "outbox": {"BACKEND": "locmem"},
            "console": {"BACKEND": "console"},
            "email": {"BACKEND": "email", "OPTIONS": {"FROM_EMAIL": "a@b.c"}},
        },
        "DISPATCHER": "celery",
        "RATE_LIMITS": {"sender": "30/minute", "user_type": "100/5m"},
        "RETENTION_DAYS": {"notifications": 365, "deliveries": None},
        "DIGEST_DAILY_AT": "07:30",
        "SITE_URL": "https://notify.example",
    }
    assert ids(setting) == []


def test_a_type_naming_an_unconfigured_channel_is_a_warning():
    with override_settings(DJANGO_NOTIFY={}):
        found = [(m.id, m.obj) for m in check_settings()]
    assert ("django_notify.W002", "test.alert") in found


def test_switching_a_default_channel_off():
    with override_settings(DJANGO_NOTIFY={**OK, "CHANNELS": {**OK["CHANNELS"], "email": None}}):
        assert "email" not in channels
        with pytest.raises(NotRegistered, match="no channel is configured as 'email'"):
            get_channel("email")


class Shout(BaseChannel):
    per_user_address = False
    options = {"LOUD": True}

    def build_payload(self, message: Message) -> str:
        return message.subject.upper() if self.config["LOUD"] else message.subject

    def transmit(self, payload, message):
        return {"said": payload}

    def parse_response(self, response, message):
        return TransmitResult(response=response)


def test_channels_registered_at_run_time():
    channels.register("shout", Shout, options={"LOUD": True})
    try:
        assert "shout" in channels and "shout" in channels.keys()
        channel = get_channel("shout")
        assert get_channel("shout") is channel  # built once
        message = Message(subject="hi", text="", recipient=None, address="", idempotency_key="k")
        assert channel.deliver(message).response == {"said": "HI"}
        with pytest.raises(AlreadyRegistered, match="registered twice"):
            channels.register("shout", Shout, options={"LOUD": False})
        with pytest.raises(NotifyConfigurationError, match="unknown option"):
            channels.register("whisper", Shout, options={"QUIET": True})
    finally:
        channels.unregister("shout")
    assert "shout" not in channels


def test_the_console_channel_writes_the_message():
    stream = io.StringIO()
    channels.register("console-test", "console", options={"STREAM": stream})
    try:
        message = Message(
            subject="Disk full",
            text="Look at /var",
            recipient="ada",
            address="",
            idempotency_key="k1",
        )
        get_channel("console-test").deliver(message)
    finally:
        channels.unregister("console-test")
    assert "Subject: Disk full" in stream.getvalue() and "Look at /var" in stream.getvalue()


def test_emails_without_site_url_are_a_warning():
    with override_settings(DJANGO_NOTIFY=OK):
        found = [m.id for m in check_settings()]
    assert found == ["django_notify.W003"]


def test_countdowns_longer_than_the_visibility_timeout_are_a_warning():
    with override_settings(CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 120}):
        found = ids({"DISPATCHER": "celery", "RETRY_COUNTDOWN_MAX": 300})
        assert [i for i, _ in found] == ["django_notify.W004"]
        assert ids({"DISPATCHER": "celery", "RETRY_COUNTDOWN_MAX": 60}) == []
        assert ids({"RETRY_COUNTDOWN_MAX": 300}) == []  # inline: no broker


def test_a_configured_alias_cannot_be_registered_at_run_time():
    for alias in ("email", "outbox"):
        with pytest.raises(AlreadyRegistered, match="configured in DJANGO_NOTIFY"):
            channels.register(alias, Shout)


@pytest.mark.parametrize(
    "setting, code, words",
    [
        ({"REALTIME_BROKER": "no.such.Broker"}, "E044", "REALTIME_BROKER"),
        ({"REALTIME_BROKER": "django_notify.channels.base.BaseChannel"}, "E021", "Broker subclass"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "E022", "REDIS_URL"),
        ({"REALTIME_CHANNEL_PREFIX": "a:b"}, "E046", "REALTIME_CHANNEL_PREFIX"),
        ({"SSE_HEARTBEAT": 0}, "E050", "SSE_HEARTBEAT"),
        ({"SSE_MAX_SECONDS": 0}, "E051", "SSE_MAX_SECONDS"),
        ({"POLL_INTERVAL": 0}, "E049", "POLL_INTERVAL"),
        ({"STORM_THRESHOLD": -3}, "E052", "STORM_THRESHOLD"),
        ({"API_PAGE_SIZE": 0}, "E047", "API_PAGE_SIZE"),
        ({"API_MAX_PAGE_SIZE": None}, "E048", "API_MAX_PAGE_SIZE"),
        ({"API_PAGE_SIZE": 200}, "E023", "API_PAGE_SIZE"),
        ({"MAX_REQUEST_BYTES": 0}, "E024", "MAX_REQUEST_BYTES"),
        ({"MAX_REQUEST_BYTES": "64k"}, "E024", "MAX_REQUEST_BYTES"),
        ({"MAX_META_DATA_BYTES": -1}, "E029", "MAX_META_DATA_BYTES"),
        ({"MAX_META_DATA_BYTES": True}, "E029", "MAX_META_DATA_BYTES"),
        ({"MAX_META_DATA_BYTES": 8192.5}, "E029", "MAX_META_DATA_BYTES"),
        ({"API_MAX_BODY_BYTES": 65536}, "E002", "API_MAX_BODY_BYTES"),  # renamed
    ],
)
def test_bad_centre_settings_are_reported(setting, code, words):
    found = ids(setting)
    assert any(i == f"django_notify.{code}" and words in msg for i, msg in found), found


def test_size_limits_take_a_positive_int_or_none():
    for value in (None, 1, 65536, 10**9):
        assert ids({"MAX_REQUEST_BYTES": value, "MAX_META_DATA_BYTES": value}) == []


def test_redis_broker_settings_are_clean():
    assert ids({"REALTIME_BROKER": "redis", "REALTIME_CHANNEL_PREFIX": "site2"}) == []
