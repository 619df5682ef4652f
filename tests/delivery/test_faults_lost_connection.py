"""Fault injection, in this process: the database session is lost between a send and its
record (``pg_terminate_backend`` from a second connection, as a failover would). The
sends are recorded on a new connection instead of being left ``sending`` for the sweeper
to send again. The same fault through the real worker is in test_faults_pg_terminate.py.

PostgreSQL only: SQLite has no session to lose."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection

from django_notify.delivery.dispatch import deliver_many
from django_notify.delivery.sweep import recover_interrupted
from django_notify.models import Delivery, DeliveryStatus
from tests.support.notify_settings import notify_override

from . import test_dispatch_batches as batches

pytestmark = pytest.mark.postgres
plan = batches.plan  # the fixture


class SessionLosingBackend(EmailBackend):
    """Django's locmem backend that, once its first message has gone out, has this
    process's database session terminated from another connection."""

    lost = False

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        if not SessionLosingBackend.lost:
            SessionLosingBackend.lost = True
            import psycopg

            db = connection.settings_dict
            pid = connection.connection.info.backend_pid
            with psycopg.connect(
                dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]
            ) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return sent


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker
def test_sends_are_recorded_on_a_new_connection_when_the_session_was_lost(
    require_postgres,
    make_user,
    plan,
    caplog,
):
    """Invariant, over every delivery of the batch: each row the channel sent is recorded
    ``sent`` after one attempt, though the session that claimed it is gone; nothing is
    left ``sending``, so the sweeper has nothing to send a second time."""
    pks = plan(batches.make_users(make_user, 3))
    SessionLosingBackend.lost = False
    channel = {
        "BACKEND": "email",
        "OPTIONS": {"EMAIL_BACKEND": f"{__name__}.SessionLosingBackend"},
    }
    claimed_on = connection.connection.info.backend_pid if connection.connection else None
    with notify_override(CHANNELS={"email": channel}), caplog.at_level(logging.WARNING):
        outcomes = deliver_many(pks)
    assert SessionLosingBackend.lost
    assert connection.connection.info.backend_pid != claimed_on  # a new session
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.SENT}
    rows = Delivery.objects.filter(pk__in=pks)
    assert set(rows.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 1)}
    assert len(mail.outbox) == 3
    assert recover_interrupted() == 0
    assert "retrying on a new database connection" in caplog.text
