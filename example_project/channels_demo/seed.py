"""The multi-channel tour's seed: "dev" gets build reports on Teams in a daily digest,
with three already waiting, so "Run the digests now" on /channels/ has something to send.

Nothing is posted while seeding (the server is not running yet): the reports are only
scheduled for the digest. Idempotent: the preference is written again (same value), and
reports already there are found by ``meta_data["seed"]``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from django_notify import get_notification_model, notify
from django_notify.delivery.preferences import update_preferences

DIGEST_USER = "dev"
REPORTS = [
    ("build-report-1", "Build #412: 1,204 tests passed"),
    ("build-report-2", "Build #413: 1,206 tests passed, 2 skipped"),
    ("build-report-3", "Build #414: 1,206 tests passed"),
]


def seed_channels() -> str:
    """Seed the tour's preferences and waiting digest; returns a line for the console."""
    user = get_user_model().objects.filter(username=DIGEST_USER).first()
    if user is None:
        return "Channels: no demo user to seed."
    Notification = get_notification_model()
    with transaction.atomic():
        update_preferences(
            user,
            [
                {
                    "notification_type": "build.report",
                    "channel": "teams",
                    "enabled": True,
                    "frequency": "daily",
                }
            ],
        )
        existing = {
            meta.get("seed")
            for meta in Notification.objects.filter(
                notification_type="build.report", meta_data__has_key="seed"
            ).values_list("meta_data", flat=True)
        }
        created = 0
        for key, title in REPORTS:
            if key not in existing:
                notify([user], "build.report", title=title, meta_data={"seed": key})
                created += 1
    return (
        f'Channels: "{DIGEST_USER}" gets build reports on Teams in a daily digest '
        f"({created} new waiting); /channels/ shows what the webhook, Slack and Teams "
        "receivers got, and runs the digests."
    )
