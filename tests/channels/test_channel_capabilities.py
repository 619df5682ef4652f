"""In-app is a channel like the others: what differs is a capability of its class
(``delivers_by_row``: the row is the delivery, announced after commit), and which
channels count as email is one too (``sends_email``). No alias is special-cased."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from django_notify import notify
from django_notify.channels import BaseChannel, channels
from django_notify.channels.in_app import InAppChannel
from django_notify.models import Delivery
from django_notify.pipeline.decisions import candidate_channels
from tests.support.notify_settings import notify_override

pytestmark = pytest.mark.django_db
ANNOUNCED: list[list[Any]] = []


class BoardChannel(BaseChannel):
    """A wall display that shows the feed's rows: it delivers by the row too."""

    label = "Board"
    delivers_by_row = True
    per_user_address = False

    def announce(self, notifications):
        ANNOUNCED.append([row.pk for row in notifications])

    def build_payload(self, message):  # pragma: no cover - never called for it
        raise AssertionError("a row channel is never sent a Delivery")

    def transmit(self, payload, message):  # pragma: no cover
        raise AssertionError("a row channel is never sent a Delivery")


def _with_board():
    configured = {**settings.DJANGO_NOTIFY.get("CHANNELS", {})}
    configured["board"] = {"BACKEND": f"{__name__}.BoardChannel"}
    return notify_override(CHANNELS=configured, DEFAULT_CHANNELS=["in_app", "board", "outbox"])


def test_the_capabilities_name_the_built_in_channels():
    assert InAppChannel.delivers_by_row and not InAppChannel.sends_email
    assert channels.row_channels() == ["in_app"]
    assert channels.aliases_with("sends_email") == ["email"]
    assert "in_app" not in candidate_channels(None)


def test_a_row_channel_gets_no_delivery_and_hears_of_new_rows_after_commit(
    make_user, django_capture_on_commit_callbacks
):
    ANNOUNCED.clear()
    users = [make_user(), make_user()]
    with _with_board():
        assert channels.row_channels() == ["board", "in_app"]
        assert candidate_channels(None) == ["outbox"]
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            rows = notify(users, title="Deploy at noon")
        assert ANNOUNCED == []  # nothing leaves before the commit
        for callback in callbacks:
            callback()
    assert ANNOUNCED == [[row.pk for row in rows]]
    assert set(Delivery.objects.values_list("channel", flat=True)) == {"outbox"}
