"""Subscriptions and rules keep one switch map for every channel, in-app and email
included: ``{"email": false}``; a channel not named is on."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from django_notify.models import Subscription
from django_notify.models.switches import ChannelSwitches
from django_notify.rules import SubscriptionRule
from django_notify.rules.sync import sync_type
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db
TYPE = "team.joined"


def test_a_channel_not_named_is_on_and_switching_on_removes_the_key(make_user):
    sub = Subscription(user=make_user(), notification_type=TYPE)
    assert sub.channel_enabled("email") and sub.channel_enabled("slack")
    sub.set_channel("slack", False)
    sub.email_enabled = False
    assert sub.channels == {"slack": False, "email": False}
    assert not sub.email_enabled and sub.in_app_enabled
    sub.set_channel("slack", True)
    assert sub.channels == {"email": False}


def test_the_built_in_shorthands_are_constructor_arguments(make_user):
    sub = Subscription.objects.create(
        user=make_user(), notification_type=TYPE, email_enabled=False, in_app_enabled=True
    )
    sub.refresh_from_db()
    assert sub.channels == {"email": False}


def test_switched_off_q_selects_rows_with_that_switch_off(make_user):
    off = Subscription.objects.create(
        user=make_user(), notification_type=TYPE, channels={"in_app": False}
    )
    Subscription.objects.create(user=make_user(), notification_type=TYPE, channels={"in_app": True})
    Subscription.objects.create(user=make_user(), notification_type=TYPE)
    found = Subscription.objects.filter(ChannelSwitches.switched_off_q("in_app"))
    assert list(found) == [off]


@pytest.mark.parametrize("bad", [[], {"email": "no"}, {"": False}, {"email": 0}])
def test_a_malformed_map_is_refused_naming_channels(make_user, bad):
    sub = Subscription(user=make_user(), notification_type=TYPE, channels=bad)
    with pytest.raises(ValidationError) as info:
        sub.full_clean()
    assert list(info.value.message_dict) == ["channels"]


def test_a_rule_copies_its_whole_map_onto_its_subscriptions(make_user, django_user_model):
    from django_notify.rules import StaffCriterion

    staff = make_user(staff=True)
    rule = SubscriptionRule.objects.create(
        name="staff", notification_type=TYPE, channels={"email": False, "slack": False}
    )
    StaffCriterion.objects.create(rule=rule)
    sync_type(TYPE)
    sub = Subscription.objects.get(user=staff, notification_type=TYPE)
    assert sub.created_by_rule and sub.channels == {"email": False, "slack": False}
    rule.channels = {}
    rule.save()
    sync_type(TYPE)
    sub.refresh_from_db()
    assert sub.channels == {}


def test_the_admin_lists_and_filters_switched_off_channels(client, make_user, make_org):
    admin_user = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(admin_user)
    Subscription.objects.create(
        user=make_user(), notification_type=TYPE, channels={"email": False, "in_app": False}
    )
    Subscription.objects.create(user=make_user(), notification_type=TYPE)
    url = reverse("admin:django_notify_subscription_changelist")
    response = client.get(url, {"switched_off": "email"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert b"email, in_app" in response.content
    assert client.get(url).context["cl"].result_count == 2
