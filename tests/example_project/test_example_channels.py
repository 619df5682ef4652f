"""The demo's multi-channel tour (``/channels/``), run for real.

``migrate`` under ``example.settings``, then ``runserver`` on a free port with ``PORT`` set
to it, then ``seed_demo`` with the same ``PORT`` (so the seeded digest's endpoint is this
server). The webhook, Slack and Teams channels post, inline and right after the sending
request commits, to the demo's own receivers on that same threaded server, which verify
them (the webhook's Standard Webhooks signature with the ``standardwebhooks`` library, the
Slack and Teams bearer token and message shape) and store what arrived.

The database is a temporary SQLite file, or with ``NOTIFY_DB=postgres`` a PostgreSQL
database of its own (``<NOTIFY_PG_NAME>_channels_…``, created and dropped here). What the
site wrote is read back through ``manage.py shell`` in the site's own settings.
"""

from __future__ import annotations

import json
import os
import re
import time
from urllib.request import Request, urlopen

import pytest
from standardwebhooks.webhooks import Webhook

from tests.example_project.test_example_project import (
    Browser,
    _env,
    _manage,
    _postgres_database,
    _shell,
    _start_server,
    _stop_server,
)

# The demo's own secret and token (example/settings.py), as a receiver would hold them.
WEBHOOK_SECRET = "whsec_CunzzLapI1fSaj/68bQwaVXh5xPhF+zs8p2YiycPEVo="
TOKEN = "demo-receiver-token"


# --- the site ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example_channels")
    env = _env(tmp / "db.sqlite3")
    for name in ("SITE_URL", "PORT", "NOTIFY_DISPATCHER"):
        env.pop(name, None)  # the demo's defaults: inline delivery, links from PORT
    drop = None
    if os.environ.get("NOTIFY_DB") == "postgres":
        env["DATABASE_URL"], drop = _postgres_database("channels")
    try:
        _manage(env, "migrate", "--noinput")
        with open(tmp / "runserver.log", "w+") as log:
            proc, port = _start_server(env, log)
            env = {**env, "PORT": str(port)}
            try:
                seeded = _manage(env, "seed_demo")
                yield {"env": env, "base": f"http://127.0.0.1:{port}", "seed": seeded}
            finally:
                _stop_server(proc)
            log.seek(0)
            output = log.read()
        assert "Traceback" not in output, f"the server logged an error:\n{output}"
    finally:
        if drop is not None:
            drop()


def _received_since(env, last_id: int) -> list[dict]:
    return _shell(
        env,
        f"""
        import json
        from channels_demo.models import ReceivedMessage
        rows = ReceivedMessage.objects.filter(id__gt={last_id}).order_by("id")
        print(json.dumps({{"rows": [
            {{"id": r.id, "channel": r.channel, "headers": r.headers, "body": r.body,
              "verified": r.verified, "problem": r.problem}}
            for r in rows
        ]}}))
        """,
    )["rows"]


def _last_received_id(env) -> int:
    return _shell(
        env,
        """
        import json
        from django.db.models import Max
        from channels_demo.models import ReceivedMessage
        print(json.dumps({"id": ReceivedMessage.objects.aggregate(m=Max("id"))["m"] or 0}))
        """,
    )["id"]


def _login(site, username: str) -> Browser:
    browser = Browser(site["base"])
    browser.get("/accounts/login/")
    status, headers, _ = browser.post("/accounts/login/", username=username, password="demo")
    assert status == 302, f"{username} could not log in"
    return browser


def _messages(page: str) -> list[str]:
    return re.findall(r'<ul class="messages"><li class="[^"]*">(.*?)</li>', page, re.S)


def _rows(page: str, table: str) -> list[dict[str, str]]:
    match = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    if not match:
        return []
    return [
        dict(re.findall(r'data-([a-z]+)="([^"]*)"', attrs))
        for attrs in re.findall(r"<tr (data-[^>]*)>", match.group(1))
    ]


# --- the tests --------------------------------------------------------------------------------
def test_seed_schedules_a_digest_and_mentions_the_page(site):
    assert "/channels/" in site["seed"]
    browser = _login(site, "dev")
    status, _, page = browser.get("/channels/")
    assert status == 200
    waiting = re.search(r'id="digest-waiting">(\d+) of your deliveries', page)
    assert waiting and int(waiting.group(1)) >= 3


def test_a_send_arrives_signed_at_each_receiver_and_verifies(site):
    env = site["env"]
    last = _last_received_id(env)
    browser = _login(site, "light")
    status, headers, _ = browser.post("/channels/send/")
    # The inline send ran inside this request (after its commit) and posted back into the
    # same threaded server; by the redirect, all three receivers have answered.
    assert status == 302 and headers["Location"] == "/channels/"

    received = _received_since(env, last)
    assert sorted(r["channel"] for r in received) == ["slack", "teams", "webhook"]
    assert all(r["verified"] and not r["problem"] for r in received), received

    # The webhook verifies here too, with the reference library, from what arrived.
    (webhook,) = [r for r in received if r["channel"] == "webhook"]
    assert set(webhook["headers"]) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    event = Webhook(WEBHOOK_SECRET).verify(webhook["body"].encode(), webhook["headers"])
    assert event["type"] == "deploy.finished"
    assert event["data"]["title"].startswith("Deploy ")
    # A wrong secret does not verify the same request.
    other = Webhook("whsec_" + "A" * 43 + "=")
    with pytest.raises(Exception, match="signature"):
        other.verify(webhook["body"].encode(), webhook["headers"])

    (slack,) = [r for r in received if r["channel"] == "slack"]
    assert json.loads(slack["body"])["blocks"][0]["type"] == "header"
    assert slack["headers"]["authorization"] == "Bearer …"  # recorded, never copied
    (teams,) = [r for r in received if r["channel"] == "teams"]
    card = json.loads(teams["body"])["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"

    status, _, page = browser.get("/channels/")
    assert "Sent: a deploy notification to you" in " ".join(_messages(page))
    log = _rows(page, "deliveries")
    assert {(row["channel"], row["status"]) for row in log[:3]} == {
        ("webhook", "sent"),
        ("slack", "sent"),
        ("teams", "sent"),
    }
    shown = _rows(page, "received")
    assert {(row["channel"], row["verified"]) for row in shown[:3]} == {
        ("webhook", "yes"),
        ("slack", "yes"),
        ("teams", "yes"),
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    from urllib.error import HTTPError

    try:
        with urlopen(Request(url, data=body, headers=headers, method="POST"), timeout=10) as r:
            return r.status
    except HTTPError as exc:
        return exc.code


def test_forged_requests_are_refused_and_shown_unverified(site):
    env, base = site["env"], site["base"]
    last = _last_received_id(env)
    body = b'{"type":"deploy.finished","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    forged = Webhook("whsec_" + "A" * 43 + "=")
    msg_id, now = "forged-1", int(time.time())
    from datetime import UTC, datetime

    signature = forged.sign(msg_id, datetime.fromtimestamp(now, UTC), body)
    webhook_headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }
    assert _post(f"{base}/channels/receive/webhook/", body, webhook_headers) == 400
    slack = json.dumps({"text": "hi", "blocks": []}).encode()
    assert _post(f"{base}/channels/receive/slack/", slack, {"content-type": "text/json"}) == 403
    teams = json.dumps({"type": "message", "attachments": [{"contentType": "text/plain"}]})
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert _post(f"{base}/channels/receive/teams/", teams.encode(), auth) == 401

    received = _received_since(env, last)
    assert [(r["channel"], r["verified"]) for r in received] == [
        ("webhook", False),
        ("slack", False),
        ("teams", False),
    ]
    assert "signature" in received[0]["problem"]
    assert "token" in received[1]["problem"]
    assert "Adaptive Card" in received[2]["problem"]


def test_the_delivery_log_costs_the_same_queries_for_more_rows(site):
    """The page's queries do not grow with the rows it shows (no query per delivery)."""
    result = _shell(
        site["env"],
        """
        import json
        from django.contrib.auth import get_user_model
        from django.db import connection, transaction
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django_notify import notify

        user = get_user_model().objects.get(username="orgadmin")
        client = Client()
        client.force_login(user)

        def page():
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/channels/", HTTP_HOST="127.0.0.1")
            assert response.status_code == 200, response.status_code
            html = response.content.decode()
            return len(queries), html.count('<tr data-channel="'), html

        def send(count):
            for n in range(count):
                with transaction.atomic():
                    notify([user], "deploy.finished", title=f"Query check {n}")

        send(1)
        few, few_rows, _ = page()
        send(4)
        many, many_rows, html = page()
        print(json.dumps({"few": few, "many": many, "few_rows": few_rows,
                          "many_rows": many_rows, "sent": html.count('data-status="sent"')}))
        """,
    )
    assert result["many_rows"] > result["few_rows"] + 10, result
    assert result["sent"] >= 15, result
    assert result["many"] == result["few"], result


def test_running_the_digests_sends_one_message_for_several_notifications(site):
    env = site["env"]
    last = _last_received_id(env)
    browser = _login(site, "dev")
    status, _, _ = browser.post("/channels/digests/")
    assert status == 302
    _, _, page = browser.get("/channels/")
    assert _messages(page) == ["1 digest sent to you, with 3 notifications."]

    received = _received_since(env, last)
    assert [(r["channel"], r["verified"]) for r in received] == [("teams", True)]
    card = json.loads(received[0]["body"])["attachments"][0]["content"]
    text = json.dumps(card)
    assert "3 new notifications" in text
    for title in ("Build #412", "Build #413", "Build #414"):
        assert title in text

    (digest,) = _rows(page, "digests")
    assert digest == {"channel": "teams", "status": "sent"}
    assert re.search(r"<td>#\d+</td>\s*<td>teams</td>\s*<td>Daily digest</td>\s*<td>3</td>", page)

    # Nothing is left to digest: a second run sends nothing.
    browser.post("/channels/digests/")
    _, _, page = browser.get("/channels/")
    assert "Nothing was waiting for a digest of yours" in " ".join(_messages(page))
    assert _received_since(env, received[0]["id"]) == []


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_has_no_serious_axe_violation(site, width):
    """The page as a visitor sees it after a send, with a request's details open, on a
    desktop and a phone: axe-core finds nothing serious or critical, and the tables
    scroll inside their cards instead of widening the page."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser_support import CHROMIUM_ARGS, axe_violations, chromium_path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(f"{site['base']}/accounts/login/")
            page.locator("input[name=username]").fill("orgadmin")
            page.locator("input[name=password]").fill("demo")
            page.locator("form:has(input[name=password]) [type=submit]").click()
            page.wait_for_load_state()
            page.goto(f"{site['base']}/channels/")
            page.locator("#send-test").click()
            page.wait_for_selector("#received tr[data-channel]")
            page.locator("#received details").first.locator("summary").click()
            assert axe_violations(page) == []
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
        finally:
            browser.close()
