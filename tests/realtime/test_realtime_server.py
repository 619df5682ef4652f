"""The event stream for real: two uvicorn processes serving the Django ASGI app with the
Redis broker, on the same PostgreSQL test database as this process, read by a real HTTP
client (httpx, streaming). Notifications are created here — another process than either
server — and by a ``python -c`` subprocess, and must reach the open streams.

Wiring as in tests/delivery/test_celery_worker.py: this process creates the test database and
starts the servers with ``tests.support.worker_settings`` (the database name and the
``DJANGO_NOTIFY`` dict in their environment, see tests/support/asgi_server.py); the tests install
the same dict with ``override_settings``, so this process publishes to the channels the
servers subscribe to. Channels carry a per-run prefix (``REALTIME_CHANNEL_PREFIX``).

Needs PostgreSQL (``NOTIFY_DB=postgres``) and Redis at ``NOTIFY_REDIS_URL``; skipped
without them, failed instead when ``NOTIFY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from django_notify import notify
from django_notify.models import ApiToken
from django_notify.realtime.brokers import reset_brokers
from django_notify.realtime.framing import Cursor
from tests.support.asgi_server import (
    ROOT,
    TEST_APP,
    AsgiServer,
    SseClient,
    django_env,
)
from tests.support.notify_settings import merged
from tests.support.services import REDIS_URL, redis_client, require_postgres_for

pytestmark = pytest.mark.postgres
#: The servers must see committed rows, and on-commit publishing must run.
live_db = pytest.mark.django_db(transaction=True)

STREAM = "/notifications/stream/"
HEARTBEAT = 1


@dataclass
class Servers:
    a: AsgiServer
    b: AsgiServer
    config: dict
    env: dict
    redis: object
    prefix: str

    def logs(self) -> str:
        return f"===== server a =====\n{self.a.log()}\n===== server b =====\n{self.b.log()}"

    def numsub(self, channel: str) -> int:
        return dict(self.redis.pubsub_numsub(channel))[channel.encode()]

    def subscriber_connections(self) -> int:
        name = f"{self.prefix}.stream"
        return sum(1 for c in self.redis.client_list() if c.get("name") == name)


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    require_postgres_for("the stream server tests")
    client = redis_client()

    prefix = f"notify-e2e-{uuid.uuid4().hex[:10]}"
    # The test settings' dict with these keys, the same in this process and its peers.
    config = merged(
        **{
            "REALTIME_BROKER": "redis",
            # Redis pub/sub ignores the database number: a per-run prefix keeps parallel
            # test runs sharing one server from hearing each other.
            "REALTIME_CHANNEL_PREFIX": prefix,
            "REDIS_URL": REDIS_URL,
            "SSE_HEARTBEAT": HEARTBEAT,
        }
    )
    env = django_env(connection.settings_dict["NAME"], config)
    log_dir = str(tmp_path_factory.mktemp("uvicorn"))
    a = AsgiServer(TEST_APP, env=env, factory=True, log_dir=log_dir)
    b = AsgiServer(TEST_APP, env=env, factory=True, log_dir=log_dir)
    try:
        a.start()
        b.start()
        yield Servers(a, b, config, env, client, prefix)
    finally:
        a.stop()
        b.stop()
        client.close()


@pytest.fixture(autouse=True)
def _each(require_postgres, servers, request):
    reset_brokers()
    failed_before = request.session.testsfailed
    with override_settings(DJANGO_NOTIFY=servers.config):
        yield
    reset_brokers()
    if request.session.testsfailed > failed_before:
        print(servers.logs()[-20000:])


def session_cookies(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)  # the session row commits: the servers read it
    name = settings.SESSION_COOKIE_NAME
    return {name: client.cookies[name].value}


def open_stream(server: AsgiServer, user=None, **headers) -> SseClient:
    cookies = session_cookies(user) if user is not None else None
    stream = SseClient(server.url(STREAM), headers=headers, cookies=cookies).start()
    assert stream.status == 200, (stream.status, stream.error)
    return stream


def connected(server: AsgiServer, user, **headers) -> tuple[SseClient, dict]:
    """An open stream past its first count event; returns the stream and that event."""
    stream = open_stream(server, user, **headers)
    return stream, stream.next("count")


def assert_quiet(stream: SseClient, seconds: float = 0.5) -> None:
    time.sleep(seconds)
    assert [e for e in stream.pending() if e.event != ":"] == []


# --- tests ----------------------------------------------------------------------------------


@live_db
def test_a_notification_committed_in_another_process_arrives_within_a_second(
    servers, make_user, request
):
    ada = make_user()
    stream, first = connected(servers.a, ada)
    assert stream.response_headers["content-type"] == "text/event-stream"
    assert stream.response_headers["cache-control"] == "no-cache"
    assert stream.response_headers["x-accel-buffering"] == "no"
    assert stream.events[0].retry == 3000 and first.data == {"unread_count": 0}

    latencies = []
    for n in range(20):
        committed_at: list[float] = []
        with transaction.atomic():
            # Registered first, so it runs first on commit: the clock starts at the commit.
            transaction.on_commit(lambda at=committed_at: at.append(time.perf_counter()))
            (row,) = notify([ada], title=f"job {n} done")
        event = stream.next("notification", timeout=2)
        latencies.append(event.received_at - committed_at[0])
        assert event.data == {"id": row.pk, "unread_count": n + 1}
        assert Cursor.decode(event.id, int).seen(row.pk)
    stream.close()
    median = statistics.median(latencies)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"\nSSE commit-to-event latency over 20 notifications (Redis, uvicorn, PostgreSQL): "
            f"median {median * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
    assert median < 1.0 and max(latencies) < 1.0, latencies


@live_db
def test_a_storm_of_500_sends_arrives_whole_in_a_few_batches(servers, make_user, request):
    ada = make_user()
    stream, _ = connected(servers.a, ada)
    started = time.perf_counter()
    pks = [notify([ada], title=f"storm {i}")[0].pk for i in range(500)]  # 500 commits
    sent_for = time.perf_counter() - started
    events = [stream.next("notification", timeout=5) for _ in pks]
    assert sorted(e.data["id"] for e in events) == sorted(pks)
    assert events[-1].data["unread_count"] == 500
    # Each batch computes the count once, after the commits so far: distinct counts are
    # the batches (500 if every message were handled on its own).
    batches = len({e.data["unread_count"] for e in events})
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"\nSSE storm: 500 sends committed one by one over {sent_for * 1000:.0f} ms "
            f"reached the stream in {batches} batches"
        )
    # About one batch per COALESCE_SECONDS (0.1 s) of storm, plus lone first messages.
    assert batches <= sent_for / 0.1 + 15, batches
    stream.close()


@live_db
def test_a_python_subprocess_can_publish_too(servers, make_user):
    ada = make_user()
    stream, _ = connected(servers.a, ada)
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from django_notify import notify\n"
        f"notify([get_user_model().objects.get(pk={ada.pk})], title='from a worker')\n"
    )
    subprocess.run([sys.executable, "-c", code], env=servers.env, cwd=ROOT, check=True, timeout=60)
    event = stream.next("notification", timeout=1)
    assert event.data["unread_count"] == 1
    stream.close()


@live_db
def test_read_and_dismiss_reach_every_open_stream_of_the_user(servers, make_user, Notification):
    ada = make_user()
    rows = [notify([ada], title=f"n{i}")[0] for i in range(4)]
    here, _ = connected(servers.a, ada)
    # The same user in another tab, served by another web process.
    there, count = connected(servers.b, ada)
    assert count.data == {"unread_count": 4}

    rows[0].mark_read(ada)
    for stream in (here, there):
        event = stream.next("read", timeout=1)
        assert event.data == {"ids": [rows[0].pk], "unread_count": 3}

    assert Notification.objects.mark_all_read(ada) == 3
    for stream in (here, there):
        event = stream.next("read", timeout=1)
        # One call, one message, one event: the whole feed, no ids.
        assert event.data == {"ids": "all", "unread_count": 0}
        assert_quiet(stream, 0.3)

    rows[2].dismiss(ada)
    for stream in (here, there):
        event = stream.next("dismissed", timeout=1)
        assert event.data == {"ids": [rows[2].pk], "unread_count": 0}
    here.close()
    there.close()


@live_db
def test_last_event_id_catch_up_after_a_disconnect_loses_nothing(servers, make_user):
    ada = make_user()
    stream, _ = connected(servers.a, ada)
    (seen,) = notify([ada], title="seen live")
    live = stream.next("notification", timeout=1)
    stream.close()

    # While the browser is away: two new rows, and one whose transaction began before the
    # row it was sent (an older created_at), committed only now.
    missed = [notify([ada], title=f"missed {i}")[0] for i in range(2)]
    (late,) = notify([ada], title="late commit", created_at=seen.created_at - timedelta(seconds=2))

    # EventSource reconnects (here to the other web process) with its last event id.
    stream, first = connected(servers.b, ada, **{"Last-Event-ID": live.id})
    assert first.data == {"unread_count": 4}
    replayed = [stream.next("notification", timeout=1) for _ in range(3)]
    # Oldest first by created_at: the late row sorts before the ones sent after "seen".
    assert [e.data["id"] for e in replayed] == [late.pk, *(r.pk for r in missed)]
    after = stream.next("count", timeout=1)
    assert after.data == {"unread_count": 4} and after.id == replayed[-1].id
    assert_quiet(stream)  # "seen" is not sent twice
    stream.close()


@live_db
def test_a_stream_only_carries_what_its_user_can_see(servers, make_org, make_user, make_team):
    from django_notify import send, send_system
    from django_notify.tenancy import Role

    org, other_org = make_org(), make_org()
    admin = make_user(Role.ORG_ADMIN, org)
    member, outsider = make_user(org=org), make_user(org=other_org)
    team = make_team(org, members=[member])
    staff = make_user(org=org, staff=True)
    member_stream, _ = connected(servers.a, member)
    outsider_stream, _ = connected(servers.b, outsider)

    notify([outsider], title="for the outsider only")
    assert outsider_stream.next("notification", timeout=1)
    (direct,) = send(admin, title="direct", target_user=member)
    (teamwide,) = send(admin, title="team", target_team=team)
    (orgwide,) = send(admin, title="org", is_global=True)
    # The member's stream saw none of the outsider's row: the first it gets is its own.
    got = [member_stream.next("notification", timeout=1).data["id"] for _ in range(3)]
    assert got == [direct.pk, teamwide.pk, orgwide.pk]
    assert_quiet(outsider_stream)

    (system,) = send_system(staff, title="maintenance tonight")
    for stream in (member_stream, outsider_stream):
        assert stream.next("notification", timeout=1).data["id"] == system.pk
    member_stream.close()
    outsider_stream.close()


@live_db
def test_streams_share_one_redis_connection_and_release_it_on_disconnect(servers, make_user):
    from django_notify.realtime.brokers import get_broker

    ada, bob = make_user(), make_user()
    broker = get_broker()
    channel = broker.user_channel(ada.pk)
    first, _ = connected(servers.a, ada)
    second, _ = connected(servers.a, ada)
    third, _ = connected(servers.a, bob)
    assert servers.numsub(channel) == 1  # one subscription for two streams of server a
    assert servers.subscriber_connections() == 1
    first.close()
    time.sleep(0.3)
    assert servers.numsub(channel) == 1  # the second stream still needs it
    second.close()
    deadline = time.monotonic() + 3
    while servers.numsub(channel) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert servers.numsub(channel) == 0, servers.logs()
    third.close()
    deadline = time.monotonic() + 3
    while servers.subscriber_connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert servers.subscriber_connections() == 0


@live_db
def test_heartbeats_token_auth_and_refusals_over_http(servers, make_user):
    ada = make_user()
    _, key = ApiToken.create(ada, "script")
    stream = open_stream(servers.a, Authorization=f"Bearer {key}")
    stream.next("count")
    beat = stream.next(":", timeout=HEARTBEAT * 2.5)
    assert beat.data == "heartbeat"
    stream.close()

    for headers in ({}, {"Authorization": "Bearer dn_revoked"}):
        response = httpx.get(servers.a.url(STREAM), headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response.json()["error"]["fields"] == {}


def _forged_last_event_id(floor: str) -> str:
    raw = json.dumps({"f": floor, "k": None, "s": []}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@live_db
def test_a_forged_last_event_id_is_ignored_and_the_stream_lives(servers, make_user):
    # 9999-12-31T23:59:59-14:00 overflows converting to UTC: the stream used to drop the
    # connection with a traceback. A bad id is ignored: a fresh start, as documented.
    ada = make_user()
    notify([ada], title="unread")
    tracebacks = servers.logs().count("Traceback")
    for floor in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        stream, first = connected(servers.a, ada, **{"Last-Event-ID": _forged_last_event_id(floor)})
        assert first.data == {"unread_count": 1}
        assert abs(Cursor.decode(first.id, int).floor - timezone.now()) < timedelta(minutes=1)
        (row,) = notify([ada], title="live")
        assert stream.next("notification", timeout=2).data["id"] == row.pk
        stream.close()
        row.delete()
    assert servers.logs().count("Traceback") == tracebacks, servers.logs()[-5000:]


@live_db
def test_other_methods_get_the_json_405_not_a_csrf_page(servers, make_user):
    ada = make_user()
    cookies = session_cookies(ada)  # a browser session, no CSRF token
    for method in ("POST", "PUT", "DELETE"):
        response = httpx.request(method, servers.a.url(STREAM), cookies=cookies, timeout=5)
        assert response.status_code == 405, response.text[:200]
        assert response.headers["allow"] == "GET"
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "method_not_allowed"
