import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

import django_notify
from django_notify.models import Subscription
from django_notify.rules import (
    DynamicCriterion,
    GroupCriterion,
    RuleCriterion,
    StaffCriterion,
    SubscriptionRule,
)
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
        "channels": "{}",
        "criteria-TOTAL_FORMS": str(len(criteria_forms)), "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0", "criteria-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, (model, fields) in enumerate(criteria_forms.items()):
        ct = ContentType.objects.get_for_model(
            {"group": GroupCriterion, "staff": StaffCriterion, "dynamic": DynamicCriterion}[model]
        )
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


@pytest.fixture
def on_call():
    @django_notify.criteria.register("admin_on_call")
    def admin_on_call(target=None, *, rota: str, limit: int = 10):
        return []

    yield
    django_notify.criteria.unregister("admin_on_call")


def _criterion_errors(response) -> list[dict]:
    """The per-field errors of each criterion form of the inline formset."""
    [formset] = [f.formset for f in response.context["inline_admin_formsets"]]
    return [dict(form.errors) for form in formset.forms]


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        ({"name": "no_such_function", "params": "{}"}, "name", "no_such_function"),
        ({"name": "admin_on_call", "params": '{"rota": 5}'}, "params", "'rota' must be str"),
        ({"name": "admin_on_call", "params": '{"rota": "ops", "limit": "10"}'}, "params",
         "'limit' must be int"),
        ({"name": "admin_on_call", "params": "{}"}, "params", "missing parameter 'rota'"),
        ({"name": "admin_on_call", "params": '["ops"]'}, "params", "JSON object"),
        ({"name": "admin_on_call", "params": "{not json"}, "params", "JSON"),
    ],
)  # fmt: skip
def test_bad_dynamic_criterion_is_a_field_error_and_saves_nothing(
    client_admin, on_call, fields, field, needle
):
    client, _ = client_admin
    data = _form(dynamic=fields)
    data["active"] = "on"
    response = client.post(reverse("admin:django_notify_subscriptionrule_add"), data)
    assert response.status_code == 200
    [errors] = _criterion_errors(response)
    assert list(errors) == [field], errors
    assert needle in " ".join(errors[field])
    assert needle.encode() in response.content.replace(b"&#x27;", b"'")
    assert SubscriptionRule.objects.count() == 0
    assert RuleCriterion.objects.count() == 0
    assert Subscription.objects.count() == 0


def test_bad_dynamic_criterion_on_an_existing_rule_changes_nothing(client_admin, on_call):
    client, _ = client_admin
    rule = SubscriptionRule.objects.create(name="Managers", notification_type=TYPE)
    StaffCriterion.objects.create(rule=rule)
    data = _form(dynamic={"name": "admin_on_call", "params": '{"rota": 5}'})
    data["active"] = "on"
    data["name"] = "Renamed"
    url = reverse("admin:django_notify_subscriptionrule_change", args=[rule.pk])
    # The existing criterion stays in the formset, unchanged.
    staff = rule.criteria.get()
    data.update({
        "criteria-TOTAL_FORMS": "2", "criteria-INITIAL_FORMS": "1",
        "criteria-1-id": str(staff.pk), "criteria-1-rule": str(rule.pk),
        "criteria-1-polymorphic_ctype": str(ContentType.objects.get_for_model(StaffCriterion).pk),
        "criteria-1-include_staff": "on", "criteria-1-include_superusers": "on",
    })  # fmt: skip
    # The formset lists initial forms first: swap so the existing criterion is form 0.
    data = {k.replace("criteria-0-", "criteria-X-"): v for k, v in data.items()}
    data = {k.replace("criteria-1-", "criteria-0-"): v for k, v in data.items()}
    data = {k.replace("criteria-X-", "criteria-1-"): v for k, v in data.items()}
    response = client.post(url, data)
    assert response.status_code == 200
    assert [list(e) for e in _criterion_errors(response)] == [[], ["params"]]
    rule.refresh_from_db()
    assert rule.name == "Managers"
    assert [type(c) for c in rule.criteria.all()] == [StaffCriterion]
