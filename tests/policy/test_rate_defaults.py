"""The sender limit a site gets without configuring anything: 200 rows a minute and
2,000 a day per sending user, through the real API; overridable and switchable off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone

from django_notify import notify
from django_notify.conf import DEFAULTS
from django_notify.tenancy import Role
from tests.support.notify_settings import notify_override

pytestmark = pytest.mark.django_db

SEND_TO_SELF = "/notifications/api/notifications/send-to-self/"


@pytest.fixture
def sender(client, make_org, make_user):
    user = make_user(Role.DEV_USER, make_org())
    client.force_login(user)
    return user


def _fill(Notification, user, count, age):
    """``count`` rows the user sent ``age`` ago (set-based, as if sent one by one)."""
    created = timezone.now() - age
    org = str(user.testapp_membership.organization_id)
    Notification.objects.bulk_create(
        [
            Notification(title=f"n{i}", scope="user", recipient=user, sender=user,
                         organization_key=org, created_at=created)
            for i in range(count)
        ]
    )  # fmt: skip


def _post(client):
    return client.post(SEND_TO_SELF, {"title": "hello"}, content_type="application/json")


def test_the_default_is_documented():
    assert DEFAULTS["RATE_LIMITS"] == {"sender": ["200/minute", "2000/day"]}


def test_200_a_minute_then_429_with_retry_after(client, sender, Notification):
    _fill(Notification, sender, 199, timedelta(seconds=10))
    assert _post(client).status_code == 201
    response = _post(client)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and "at most 200" in error["message"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Notification.objects.filter(sender=sender).count() == 200


def test_2000_a_day(client, sender, Notification):
    _fill(Notification, sender, 1_999, timedelta(hours=3))
    assert _post(client).status_code == 201
    response = _post(client)
    assert response.status_code == 429
    assert "per day" in response.json()["error"]["message"]
    assert 3600 <= int(response["Retry-After"]) <= 86_400


def test_the_system_is_not_counted(client, sender, Notification):
    _fill(Notification, sender, 199, timedelta(seconds=10))
    notify([sender], "test.alert", title="t", meta_data={"context": {"what": "x"}})
    notify([sender], "test.alert", title="t", meta_data={"context": {"what": "y"}})
    assert _post(client).status_code == 201


def test_a_host_overrides_or_switches_it_off(client, sender, Notification):
    _fill(Notification, sender, 250, timedelta(seconds=10))
    with notify_override(RATE_LIMITS={"sender": None}):
        assert _post(client).status_code == 201
    with notify_override(RATE_LIMITS={"sender": "1000/minute"}):
        assert _post(client).status_code == 201
    # Setting another limit keeps the default sender limit.
    with notify_override(RATE_LIMITS={"user_type": "20/hour"}):
        assert _post(client).status_code == 429


def test_the_check_reads_every_rate_of_a_list():
    with notify_override(RATE_LIMITS={"sender": ["10/minute", "lots"]}):
        errors = [e for e in checks.run_checks() if e.id == "django_notify.E019"]
    assert len(errors) == 1 and "'lots' is not a rate" in errors[0].msg
