"""Run by every env; the `swapped` tox envs run it (and everything else) with
DJANGO_NOTIFY_NOTIFICATION_MODEL = "swapped.CustomNotification"."""

import os

from django.conf import settings

from django_notify import get_notification_model, notify
from django_notify.models import NotificationReceipt
from django_notify.query import NotificationManager
from tests.swapped.models import CustomNotification

SWAPPED = os.environ.get("NOTIFY_SWAPPED") == "1"


def test_model_follows_the_setting():
    expected = "swapped.CustomNotification" if SWAPPED else "django_notify.Notification"
    assert get_notification_model()._meta.label == expected
    assert settings.DJANGO_NOTIFY_NOTIFICATION_MODEL == expected
    assert NotificationReceipt._meta.get_field("notification").related_model._meta.label == (
        expected
    )


def test_a_subclass_gets_the_same_behaviour(make_user, Notification):
    assert isinstance(CustomNotification.objects, NotificationManager)
    user = make_user()
    if SWAPPED:
        [row] = notify([user], title="hi")
        assert isinstance(row, CustomNotification)
        row.colour = "blue"
        row.save()
        assert row.mark_read(user)
        assert CustomNotification.objects.unread_count(user) == 0
