import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from django_notify.models import Subscription
from django_notify.rules import GroupCriterion, StaffCriterion, SubscriptionRule
from django_notify.tenancy import Role

TYPE = "team.joined"


@pytest.fixture
def client_admin(client, make_user):
    user = make_user(Role.ORG_ADMIN, staff=True, superuser=True)
    client.force_login(user)
    return client, user


def _form(**criteria_forms):
    data = {
        "name": "Managers", "notification_type": TYPE, "priority": "5", "description": "",
        "email_enabled": "on", "in_app_enabled": "on",
        "criteria-TOTAL_FORMS": str(len(criteria_forms)), "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0", "criteria-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, (model, fields) in enumerate(criteria_forms.items()):
        ct = ContentType.objects.get_for_model({"group": GroupCriterion,
                                                "staff": StaffCriterion}[model])  # fmt: skip
        data[f"criteria-{i}-polymorphic_ctype"] = str(ct.pk)
        data[f"criteria-{i}-id"] = ""
        for key, value in fields.items():
            data[f"criteria-{i}-{key}"] = value
    return data


def test_add_page_offers_every_criterion_model(client_admin):
    client, _ = client_admin
    response = client.get(reverse("admin:django_notify_subscriptionrule_add"))
    assert response.status_code == 200
    for name in (b"group criterion", b"staff criterion", b"dynamic criterion",
                 b"organization role criterion", b"permission criterion"):  # fmt: skip
        assert name in response.content.lower()


def test_active_rule_needs_a_criterion(client_admin):
    client, _ = client_admin
    data = _form()
    data["active"] = "on"
    response = client.post(reverse("admin:django_notify_subscriptionrule_add"), data)
    assert response.status_code == 200
    assert b"at least one criterion" in response.content
    assert SubscriptionRule.objects.count() == 0


def test_rule_with_inline_criterion_is_saved_and_synced(client_admin, make_user):
    client, admin_user = client_admin
    member = make_user()
    group = Group.objects.create(name="managers")
    group.user_set.add(member)
    data = _form(group={"group": str(group.pk)})
    data["active"] = "on"

    from django.db import connection
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(using=connection.alias, execute=True):
        response = client.post(reverse("admin:django_notify_subscriptionrule_add"), data)
    assert response.status_code == 302, response.content[:3000]
    rule = SubscriptionRule.objects.get()
    assert [type(c) for c in rule.criteria.all()] == [GroupCriterion]
    assert list(Subscription.objects.values_list("user_id", "rule_id")) == [(member.pk, rule.pk)]

    changelist = client.get(reverse("admin:django_notify_subscriptionrule_changelist"))
    assert changelist.status_code == 200
    assert b"group criterion: 1" in changelist.content


def test_unknown_type_is_refused(client_admin):
    client, _ = client_admin
    data = _form(staff={"include_staff": "on"})
    data["notification_type"] = "no.such.type"
    response = client.post(reverse("admin:django_notify_subscriptionrule_add"), data)
    assert response.status_code == 200
    assert "notification_type" in response.context["adminform"].form.errors
