"""The webhook, Slack and Teams channels against real HTTP servers on loopback.

Nothing in httpx is mocked: requests go through the guarded connection pool into a
threaded ``http.server`` that records what arrives (tests/support/http_servers.py).
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from django_notify import notify
from django_notify.channels import http
from django_notify.channels.base import Message
from django_notify.channels.http import (
    GuardedBackend,
    guarded_client,
    parse_retry_after,
    validate_endpoint_url,
)
from django_notify.channels.slack import SlackChannel
from django_notify.channels.teams import TeamsChannel
from django_notify.channels.webhook import WebhookChannel
from django_notify.exceptions import (
    DeliveryError,
    EndpointGone,
    NotifyConfigurationError,
    RetryableDeliveryError,
)
from django_notify.models.endpoint import WebhookEndpoint, generate_secret
from tests.support.http_servers import RecordingServer, closed_port, make_certificate
from tests.support.notify_settings import notify_override

ALIAS = "hooks"


@pytest.fixture
def allow_loopback():
    with notify_override(WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"]):
        yield


@pytest.fixture
def server():
    with RecordingServer() as srv:
        yield srv


@pytest.fixture
def channels():
    """Build channels and close their connection pools afterwards."""
    built = []

    def build(cls=WebhookChannel, alias=ALIAS, **options):
        channel = cls(alias, **options)
        built.append(channel)
        return channel

    yield build
    for channel in built:
        channel.close()


@pytest.fixture
def user(make_user):
    return make_user()


def endpoint_for(url, *, alias=ALIAS, secrets=None, **fields):
    if secrets is None:
        secrets = [generate_secret()]
    return WebhookEndpoint.objects.create(channel=alias, url=url, secrets=secrets, **fields)


def make_message(user, endpoint=None, *, notification=None, data=None, **fields):
    if notification is None and "notifications" not in fields:
        notification = notify([user], title="Job created")[0]
    fields.setdefault("subject", "Job created")
    fields.setdefault("text", "Job 42 was created.")
    return Message(
        recipient=user,
        address=fields.pop("address", None) or str(endpoint.pk),
        idempotency_key=fields.pop("idempotency_key", None) or uuid.uuid4().hex,
        notification=notification,
        data={"job": 42} if data is None else data,
        **fields,
    )


class RecordingBackend(GuardedBackend):
    """The real guard, noting which addresses it actually opened sockets to."""

    opened: list[str] = []

    def open_socket(self, address, port, *args):
        type(self).opened.append(address)
        return super().open_socket(address, port, *args)


@pytest.fixture
def recording_backend():
    RecordingBackend.opened = []
    return RecordingBackend


# --- signatures ------------------------------------------------------------------------
@pytest.mark.usefixtures("allow_loopback")
def test_signature_verifies_with_the_reference_library(server, channels, user):
    endpoint = endpoint_for(server.url())
    result = channels().deliver(make_message(user, endpoint))

    [request] = server.requests
    payload = Webhook(endpoint.secrets[0]).verify(request.body, request.headers)
    assert payload["data"] == {"job": 42}
    assert payload["type"] == "notification"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert result.response["status_code"] == 200
    assert result.response["body"] == "ok"
    assert result.response["endpoint"] == endpoint.pk


@pytest.mark.usefixtures("allow_loopback")
def test_two_signatures_during_a_rotation_each_verify(server, channels, user):
    new, old = generate_secret(), generate_secret()
    endpoint = endpoint_for(server.url(), secrets=[new, old])
    channels().deliver(make_message(user, endpoint))

    [request] = server.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(request.body, request.headers)


@pytest.mark.usefixtures("allow_loopback")
def test_webhook_id_is_stable_across_attempts_and_the_timestamp_is_not(server, channels, user):
    endpoint = endpoint_for(server.url())
    channel = channels()
    message = make_message(user, endpoint)
    channel.deliver(message)
    time.sleep(1.02 - time.time() % 1)  # cross a second boundary
    channel.deliver(message)

    first, second = server.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.idempotency_key
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert first.body == second.body  # the event's own time, not the attempt's
    for request in (first, second):
        Webhook(endpoint.secrets[0]).verify(request.body, request.headers)


@pytest.mark.usefixtures("allow_loopback")
def test_only_message_data_leaves_the_process(server, channels, user):
    notification = notify(
        [user], title="Reset", meta_data={"password": "hunter2", "token": "s3cr3t"}
    )[0]
    endpoint = endpoint_for(server.url())
    message = make_message(user, endpoint, notification=notification, data={"safe": True})
    channels().deliver(message)

    [request] = server.requests
    body = request.json()
    assert set(body) == {"type", "timestamp", "data"}
    assert body["data"] == {"safe": True}
    assert b"hunter2" not in request.body and b"s3cr3t" not in request.body


@pytest.mark.usefixtures("allow_loopback")
def test_an_endpoint_without_a_secret_is_refused_unless_unsigned_is_allowed(server, channels, user):
    endpoint = endpoint_for(server.url(), secrets=[])
    with pytest.raises(DeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert exc.value.reason == "no signing secret" and not exc.value.retryable
    assert server.connections == 0

    channels(ALLOW_UNSIGNED=True).deliver(make_message(user, endpoint))
    [request] = server.requests
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"]


# --- answers ---------------------------------------------------------------------------
@pytest.mark.usefixtures("allow_loopback")
def test_2xx_is_success_with_a_short_record(server, channels, user):
    server.respond(
        "/hook", 202, body="x" * 5000, headers={"X-Request-Id": "r-1", "Set-Cookie": "a=b"}
    )
    endpoint = endpoint_for(server.url())
    result = channels().deliver(make_message(user, endpoint))

    assert result.response["status_code"] == 202
    assert len(result.response["body"]) == 1000
    assert result.response["headers"]["x-request-id"] == "r-1"
    assert "set-cookie" not in result.response["headers"]
    assert result.provider_id == "r-1"
    assert server.url() not in json.dumps(result.response)


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("status", [500, 502, 408])
def test_5xx_and_408_are_retryable(server, channels, user, status):
    server.respond("/hook", status, body="boom")
    endpoint = endpoint_for(server.url())
    with pytest.raises(RetryableDeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert exc.value.response["status_code"] == status
    assert exc.value.response["body"] == "boom"
    assert exc.value.retry_after is None


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_in_seconds_is_honoured(server, channels, user, status):
    server.respond("/hook", status, headers={"Retry-After": "120"})
    endpoint = endpoint_for(server.url())
    with pytest.raises(RetryableDeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert exc.value.retry_after == 120
    assert exc.value.response["headers"]["retry-after"] == "120"


@pytest.mark.usefixtures("allow_loopback")
def test_retry_after_as_an_http_date_is_honoured(server, channels, user):
    when = datetime.now(UTC) + timedelta(seconds=90)
    server.respond("/hook", 429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    endpoint = endpoint_for(server.url())
    with pytest.raises(RetryableDeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert 85 <= exc.value.retry_after <= 90


def test_retry_after_parsing_caps_and_ignores_garbage():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("0") == 0
    assert parse_retry_after("9" * 5000) == 6 * 3600  # capped at RETRY_BACKOFF_MAX
    assert parse_retry_after("86400") == 6 * 3600
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after("Tue, 01 Jan 2030 00:00:30 GMT", now=now) == 30
    assert parse_retry_after("Mon, 31 Dec 2029 00:00:00 GMT", now=now) == 0  # past: now


@pytest.mark.usefixtures("allow_loopback")
def test_redirects_are_not_followed(server, channels, user):
    server.respond("/hook", 301, headers={"Location": server.url("/elsewhere")})
    endpoint = endpoint_for(server.url())
    with pytest.raises(DeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert not exc.value.retryable
    assert exc.value.reason == "redirect"
    assert "redirects are not followed" in str(exc.value)
    assert server.paths() == ["/hook"]


@pytest.mark.usefixtures("allow_loopback")
def test_410_disables_the_endpoint(server, channels, user):
    server.respond("/hook", 410)
    endpoint = endpoint_for(server.url())
    channel = channels()
    with pytest.raises(EndpointGone) as exc:
        channel.deliver(make_message(user, endpoint))
    assert not exc.value.retryable
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason == "410 Gone" and endpoint.disabled_at is not None

    with pytest.raises(DeliveryError) as exc:
        channel.deliver(make_message(user, endpoint))
    assert exc.value.reason == "endpoint disabled"
    assert len(server.requests) == 1


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_permanent(server, channels, user, status):
    server.respond("/hook", status)
    endpoint = endpoint_for(server.url())
    with pytest.raises(DeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert not exc.value.retryable and exc.value.reason == f"http {status}"
    endpoint.refresh_from_db()
    assert endpoint.is_active


@pytest.mark.usefixtures("allow_loopback")
def test_a_timeout_is_retryable(server, channels, user):
    server.respond("/hook", delay=1.0)
    endpoint = endpoint_for(server.url())
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError) as exc:
        channels(TIMEOUT=0.3).deliver(make_message(user, endpoint))
    assert time.monotonic() - started < 0.9
    assert exc.value.reason == "timeout"


@pytest.mark.usefixtures("allow_loopback")
def test_connection_refused_is_retryable(channels, user):
    endpoint = endpoint_for(f"http://127.0.0.1:{closed_port()}/hook")
    with pytest.raises(RetryableDeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert exc.value.reason == "connection failed"


@pytest.mark.usefixtures("allow_loopback")
def test_one_connection_is_reused_across_sends(server, channels, user):
    endpoint = endpoint_for(server.url())
    channel = channels()
    for _ in range(3):
        channel.deliver(make_message(user, endpoint))
    assert len(server.requests) == 3
    assert server.connections == 1


# --- the SSRF guard ---------------------------------------------------------------------
def test_loopback_is_refused_at_connect_time_without_the_allow_list(server, channels, user):
    endpoint = endpoint_for(server.url())
    with pytest.raises(DeliveryError) as exc:
        channels().deliver(make_message(user, endpoint))
    assert exc.value.reason == "blocked address" and not exc.value.retryable
    assert server.connections == 0 and server.requests == []


BLOCKED_LITERALS = [
    "10.0.0.1",
    "169.254.169.254",
    "100.64.1.1",
    "[::ffff:127.0.0.1]",
    "224.0.0.1",
    "[::1]",
    "192.168.1.10",
    "172.16.0.1",
    "0.0.0.0",
    "[fe80::1]",
    "[fd12::1]",
    "[2002:a00:1::]",  # 6to4 around 10.0.0.1
    "[64:ff9b::7f00:1]",  # NAT64 around 127.0.0.1
    "127.1",  # legacy spelling of 127.0.0.1
    "2130706433",  # and another
]


@pytest.mark.parametrize("host", BLOCKED_LITERALS)
def test_blocked_literals_are_refused_on_save(host):
    with pytest.raises(ValidationError) as exc:
        validate_endpoint_url(f"https://{host}/hook")
    assert exc.value.code == "blocked_address"
    assert "WEBHOOK_ALLOWED_HOSTS" in exc.value.messages[0]


@pytest.mark.parametrize("host", BLOCKED_LITERALS)
def test_blocked_literals_are_refused_at_connect_time(host, recording_backend):
    with guarded_client(timeout=1, network_backend=recording_backend()) as client:
        with pytest.raises(DeliveryError) as exc:
            client.post(f"http://{host}:9/hook", content=b"{}")
    assert exc.value.reason == "blocked address"
    assert recording_backend.opened == []


def test_a_name_resolving_to_loopback_is_refused(server, recording_backend):
    with guarded_client(network_backend=recording_backend()) as client:
        with pytest.raises(DeliveryError) as exc:
            client.post(server.url(host="localhost"), content=b"{}")
    assert exc.value.reason == "blocked address"
    assert "localhost (127.0.0.1)" in str(exc.value)
    assert recording_backend.opened == [] and server.connections == 0


def test_an_unresolvable_name_fails_closed(recording_backend, channels, user):
    endpoint = endpoint_for("https://nonexistent.invalid/hook")
    channel = channels()
    channel.network_backend_class = recording_backend
    with pytest.raises(RetryableDeliveryError) as exc:
        channel.deliver(make_message(user, endpoint))
    assert exc.value.reason == "dns failure"
    assert "not connecting" in str(exc.value)
    assert recording_backend.opened == []


@pytest.mark.parametrize("allowed", [["127.0.0.0/8"], ["127.0.0.1"], ["localhost"]])
def test_the_allow_list_takes_names_addresses_and_networks(
    server, channels, user, recording_backend, allowed
):
    with notify_override(WEBHOOK_ALLOWED_HOSTS=allowed):
        endpoint = endpoint_for(server.url(host="localhost"))
        channel = channels()
        channel.network_backend_class = recording_backend
        channel.deliver(make_message(user, endpoint))
    assert len(server.requests) == 1
    # The socket went to the address that was checked, not to a second lookup.
    assert recording_backend.opened == ["127.0.0.1"]
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


def test_the_allow_list_also_applies_on_save():
    with pytest.raises(ValidationError):
        validate_endpoint_url("http://10.1.2.3/")
    with notify_override(WEBHOOK_ALLOWED_HOSTS=["10.0.0.0/8"]):
        validate_endpoint_url("http://10.1.2.3/")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "invalid_scheme"),
        ("file:///etc/passwd", "invalid_scheme"),
        ("https://user:pw@example.com/", "credentials"),
        ("https:///path", "no_host"),
        ("https://example.com:99999/", "invalid"),
        ("https://exa mple.com/", "invalid"),
        ("", "required"),
    ],
)
def test_bad_urls_are_refused_on_save(url, code):
    with pytest.raises(ValidationError) as exc:
        validate_endpoint_url(url)
    assert exc.value.code == code


def test_public_urls_pass_without_dns():
    validate_endpoint_url("https://hooks.slack.com/services/T0/B0/x")
    validate_endpoint_url("https://93.184.216.34:8443/hook")
    validate_endpoint_url("http://[2001:4860:4860::8888]/hook")


@pytest.mark.django_db
def test_the_model_refuses_private_urls_naming_the_field():
    endpoint = WebhookEndpoint(channel=ALIAS, url="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(ValidationError) as exc:
        endpoint.clean()
    assert "url" in exc.value.message_dict


def test_embedded_ipv4_forms_are_judged_by_what_they_carry():
    blocked = http.is_blocked_address
    assert not blocked(ipaddress.ip_address("::ffff:8.8.8.8"))
    assert not blocked(ipaddress.ip_address("64:ff9b::808:808"))
    assert blocked(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert blocked(ipaddress.ip_address("255.255.255.255"))
    assert not blocked(ipaddress.ip_address("2606:4700:4700::1111"))


def test_tls_verifies_the_host_name_while_connecting_to_the_checked_address(
    tmp_path, channels, user, recording_backend
):
    pair = make_certificate(str(tmp_path))
    if pair is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = pair
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with (
        RecordingServer(tls=context) as server,
        notify_override(WEBHOOK_ALLOWED_HOSTS=["localhost", "127.0.0.1"]),
    ):
        channel = channels(VERIFY=cert)
        channel.network_backend_class = recording_backend
        channel.deliver(make_message(user, endpoint_for(server.url(host="localhost"))))
        assert recording_backend.opened == ["127.0.0.1"]
        assert server.requests[0].sni == "localhost"

        # The certificate names localhost only: by address, verification must fail.
        with pytest.raises(RetryableDeliveryError) as exc:
            channel.deliver(make_message(user, endpoint_for(server.url(host="127.0.0.1"))))
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc.value)
        assert len(server.requests) == 1


# --- endpoint resolution ---------------------------------------------------------------------
@pytest.mark.django_db
def test_each_user_gets_the_most_specific_active_endpoint(make_user, make_org, channels):
    org_a, org_b = make_org(), make_org()
    own_user, org_user, other_user = (
        make_user(org=org_a),
        make_user(org=org_a),
        make_user(org=org_b),
    )
    shared = endpoint_for("https://shared.example.com/")
    org_endpoint = endpoint_for("https://org-a.example.com/", organization_key=str(org_a.pk))
    own = endpoint_for("https://own.example.com/", user=own_user)
    endpoint_for("https://disabled.example.com/", user=org_user, is_active=False)
    endpoint_for("https://other-channel.example.com/", alias="slack", user=other_user)

    channel = channels()
    users = [own_user, org_user, other_user]
    with CaptureQueriesContext(connection) as queries:
        addresses = channel.get_addresses(users)
    assert addresses == {
        own_user.pk: str(own.pk),
        org_user.pk: str(org_endpoint.pk),
        other_user.pk: str(shared.pk),
    }
    assert len(queries) == 2

    many = [make_user(org=org_b) for _ in range(20)]
    with CaptureQueriesContext(connection) as queries:
        addresses = channel.get_addresses(many)
    assert set(addresses.values()) == {str(shared.pk)}
    assert len(queries) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("cls", [WebhookChannel, SlackChannel, TeamsChannel])
def test_addresses_of_a_fan_out_cost_the_same_queries_for_30_and_600_users(
    make_user, make_org, channels, cls
):
    """The write path hands a queryset of users: the channel reads their pks (one
    column, no instances), then organizations and endpoints once for all of them."""
    from django.contrib.auth import get_user_model

    from tests.testapp.models import Membership

    User = get_user_model()
    org = make_org()
    own_user = make_user(org=org)
    own = endpoint_for("https://own.example.com/", alias=cls.__name__.lower(), user=own_user)
    org_endpoint = endpoint_for(
        "https://org.example.com/", alias=cls.__name__.lower(), organization_key=str(org.pk)
    )
    tag = uuid.uuid4().hex[:8]
    others = User.objects.bulk_create([User(username=f"fan{tag}-{i}") for i in range(600)])
    Membership.objects.bulk_create([Membership(user=u, organization=org) for u in others])
    channel = channels(cls, alias=cls.__name__.lower())
    counts = []
    for n in (30, 600):
        pks = [own_user.pk, *(u.pk for u in others[:n])]
        users = User.objects.filter(pk__in=pks)
        with CaptureQueriesContext(connection) as queries:
            addresses = channel.get_addresses(users)
        counts.append(len(queries))
        assert addresses == {own_user.pk: str(own.pk)} | {
            u.pk: str(org_endpoint.pk) for u in others[:n]
        }
        # One column of the users, never their rows.
        first = queries.captured_queries[0]["sql"]
        assert "password" not in first and "username" not in first
    assert counts[0] == counts[1] == 3, counts


@pytest.mark.usefixtures("allow_loopback")
def test_the_url_option_becomes_a_shared_endpoint_row(server, channels, make_user):
    secret = generate_secret()
    channel = channels(URL=server.url(), SECRET=secret)
    first, second = make_user(), make_user()
    with CaptureQueriesContext(connection) as queries:
        addresses = channel.get_addresses([first, second])
    assert len(queries) <= 4  # adapter, endpoints, then the row's lookup and insert
    [pk] = set(addresses.values())
    row = WebhookEndpoint.objects.get(pk=pk)
    assert (row.url, row.user, row.organization_key, row.secrets) == (server.url(), None, "", [])
    assert channel.get_addresses([first]) == {first.pk: pk}
    assert WebhookEndpoint.objects.count() == 1

    channel.deliver(make_message(first, address=pk))
    Webhook(secret).verify(server.requests[0].body, server.requests[0].headers)

    server.respond("/hook", 410)
    with pytest.raises(EndpointGone):
        channel.deliver(make_message(first, address=pk))
    # The disabled row keeps standing for the URL: deliveries fail visibly, not silently.
    assert channel.get_addresses([first]) == {first.pk: pk}
    with pytest.raises(DeliveryError) as exc:
        channel.deliver(make_message(first, address=pk))
    assert exc.value.reason == "endpoint disabled"
    assert len(server.requests) == 2


@pytest.mark.django_db
def test_an_unknown_endpoint_is_refused(channels, user):
    with pytest.raises(DeliveryError) as exc:
        channels().deliver(make_message(user, address="999999"))
    assert exc.value.reason == "unknown endpoint"


# --- configuration ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "options", "needle"),
    [
        (WebhookChannel, {"URLS": "https://x.example.com"}, "unknown option(s) URLS"),
        (WebhookChannel, {"SECRET": "whsec_notbase64!"}, '["SECRET"]'),
        (WebhookChannel, {"SECRET": "sk_live_abc"}, "start with whsec_"),
        (WebhookChannel, {"SECRETS": [generate_secret()] * 3}, '["SECRETS"]'),
        (WebhookChannel, {"SECRET": generate_secret(), "SECRETS": []}, "not both"),
        (WebhookChannel, {"URL": "http://10.0.0.1/"}, '["URL"]'),
        (WebhookChannel, {"TIMEOUT": 0}, '["TIMEOUT"]'),
        (WebhookChannel, {"HEADERS": {"webhook-id": "x"}}, "may not set webhook-id"),
        (WebhookChannel, {"HEADERS": ["Authorization"]}, '["HEADERS"]'),
        (SlackChannel, {"VERIFY": False}, "cannot be switched off"),
        (TeamsChannel, {"FORMAT": "connector"}, '["FORMAT"]'),
    ],
)
def test_bad_options_are_refused_naming_the_option(cls, options, needle):
    with pytest.raises(NotifyConfigurationError) as exc:
        cls("chan", **options)
    assert needle in str(exc.value)
    assert "'chan'" in str(exc.value)


def test_a_missing_httpx_names_the_extra(monkeypatch):
    monkeypatch.setattr(http.guard, "httpx", None)
    with pytest.raises(NotifyConfigurationError, match=r"django-notify-kit\[http\]"):
        WebhookChannel("chan")


# --- Slack ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("allow_loopback")
def test_slack_blocks_escape_control_characters(server, channels, user):
    endpoint = endpoint_for(server.url(), alias="slack", secrets=[])
    notification = notify([user], "task.created", title="x", priority="high")[0]
    message = make_message(
        user,
        endpoint,
        notification=notification,
        subject="<script>& <!channel>",
        text="Body <https://evil.example|click> & more",
        url="https://app.example.com/jobs/42",
    )
    channels(SlackChannel, alias="slack").deliver(message)

    body = server.requests[0].json()
    header, section, context, actions = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "&lt;script&gt;&amp; &lt;!channel&gt;"},
    }
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "Body &lt;https://evil.example|click&gt; &amp; more",
    }
    assert context["elements"][0]["text"] == "*Priority:* High  ·  *Type:* task.created"
    assert actions["elements"][0]["url"] == "https://app.example.com/jobs/42"
    assert body["text"].startswith("&lt;script&gt;&amp;")
    assert "<" not in body["text"]
    assert "webhook-signature" not in server.requests[0].headers


@pytest.mark.usefixtures("allow_loopback")
def test_slack_digest_lists_the_notifications(server, channels, user):
    endpoint = endpoint_for(server.url(), alias="slack", secrets=[])
    rows = notify([user], title="A <b>") + notify([user], title="B & C")
    message = make_message(user, endpoint, notifications=rows, subject="Your digest")
    channels(SlackChannel, alias="slack").deliver(message)
    section = server.requests[0].json()["blocks"][1]
    assert section["text"]["text"] == "• A &lt;b&gt;\n• B &amp; C"


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(
    ("status", "body", "error", "gone"),
    [
        (400, "invalid_payload", DeliveryError, False),
        (200, "invalid_blocks", DeliveryError, False),
        (429, "rate_limited", RetryableDeliveryError, False),
        (404, "no_service", EndpointGone, True),
        (410, "channel_is_archived", EndpointGone, True),
        (500, "internal_error", RetryableDeliveryError, False),
    ],
)
def test_slack_error_answers(server, channels, user, status, body, error, gone):
    server.respond("/hook", status, body=body)
    endpoint = endpoint_for(server.url(), alias="slack", secrets=[])
    with pytest.raises(error) as exc:
        channels(SlackChannel, alias="slack").deliver(make_message(user, endpoint))
    assert type(exc.value) is error
    assert body in str(exc.value) or str(status) in str(exc.value)
    endpoint.refresh_from_db()
    assert endpoint.is_active is not gone


# --- Teams ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("allow_loopback")
def test_teams_posts_an_adaptive_card(server, channels, user):
    server.respond("/hook", 202, body="")
    endpoint = endpoint_for(server.url(), alias="teams", secrets=[])
    message = make_message(user, endpoint, url="https://app.example.com/jobs/42")
    result = channels(TeamsChannel, alias="teams").deliver(message)
    assert result.response["status_code"] == 202

    body = server.requests[0].json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts = card["body"]
    assert (title["type"], title["text"], title["wrap"]) == ("TextBlock", "Job created", True)
    assert text["text"] == "Job 42 was created."
    assert facts["type"] == "FactSet"
    assert {"title": "Priority", "value": "Normal"} in facts["facts"]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "https://app.example.com/jobs/42"}
    ]


@pytest.mark.usefixtures("allow_loopback")
def test_teams_message_card_option(server, channels, user):
    endpoint = endpoint_for(server.url(), alias="teams", secrets=[])
    message = make_message(user, endpoint, url="https://app.example.com/jobs/42")
    channels(TeamsChannel, alias="teams", FORMAT="message_card").deliver(message)
    card = server.requests[0].json()
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert (card["title"], card["text"], card["themeColor"]) == (
        "Job created",
        "Job 42 was created.",
        "0078D7",
    )
    assert card["potentialAction"][0]["targets"] == [
        {"os": "default", "uri": "https://app.example.com/jobs/42"}
    ]


@pytest.mark.usefixtures("allow_loopback")
def test_teams_without_a_url_has_no_actions(server, channels, user):
    endpoint = endpoint_for(server.url(), alias="teams", secrets=[])
    channels(TeamsChannel, alias="teams").deliver(make_message(user, endpoint))
    card = server.requests[0].json()["attachments"][0]["content"]
    assert "actions" not in card
