"""Who may send a type: ``NotificationType.senders``, checked with the sender rules at
every entry point (the send functions, the API, the model), and a string category."""

from __future__ import annotations

import json

import pytest
from django.core import checks

import django_notify
from django_notify import SendRefused, notify
from django_notify.tenancy import Role
from django_notify.types import Category, notification_types

pytestmark = pytest.mark.django_db


@pytest.fixture
def declare():
    """Register types for one test and take them out again."""
    added = []

    def make(key, **attrs):
        cls = type(key.replace(".", "_"), (django_notify.NotificationType,), {"key": key, **attrs})
        notification_types.register(cls)
        added.append(key)
        return cls

    yield make
    for key in added:
        notification_types.unregister(key)


@pytest.fixture
def org_people(make_org, make_user):
    org = make_org()
    return {
        "admin": make_user(Role.ORG_ADMIN, org),
        "dev": make_user(Role.DEV_USER, org),
        "light": make_user(Role.LIGHT_USER, org),
        "staff": make_user(Role.DEV_USER, org, staff=True),
    }


def _send(sender, recipient, type_key):
    return django_notify.get_notification_model().send(
        sender, title="Sign-in from a new device", target_user=recipient,
        notification_type=type_key, url="https://evil.example/reset",
    )  # fmt: skip


def test_a_system_only_type_is_refused_for_every_person(declare, org_people, Notification):
    declare("t.sign_in", senders="system")
    for sender in org_people.values():
        with pytest.raises(SendRefused) as info:
            _send(sender, org_people["admin"], "t.sign_in")
        assert info.value.code == "type.system_only"
    with pytest.raises(SendRefused) as info:
        Notification.send_system(
            org_people["staff"], title="x", is_global=True, notification_type="t.sign_in"
        )
    assert info.value.code == "type.system_only"
    assert not Notification.objects.exists()
    # The system itself (no person) still sends it.
    notify([org_people["admin"]], "t.sign_in", title="New sign-in")
    assert Notification.objects.count() == 1


def test_the_api_refuses_it_with_the_rule_code_and_writes_nothing(
    client, declare, org_people, Notification
):
    declare("t.sign_in", senders="system")
    client.force_login(org_people["dev"])
    response = client.post(
        "/notifications/api/notifications/send/",
        json.dumps({"title": "Reset your password", "target_user": org_people["admin"].pk,
                    "notification_type": "t.sign_in", "url": "https://evil.example/"}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "type.system_only"
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("senders", "allowed"),
    [
        ("anyone", {"admin", "dev", "light", "staff"}),
        ("staff", {"staff"}),
        ((Role.ORG_ADMIN,), {"admin"}),
        ((Role.ORG_ADMIN, "staff"), {"admin", "staff"}),
        (["DEV_USER"], {"dev", "staff"}),  # the staff user's role is DEV_USER
        (lambda sender, ntype: sender.username.endswith("0") or ntype.key == "nope", None),
    ],
)
def test_staff_roles_and_callables(declare, org_people, Notification, senders, allowed):
    declare("t.limited", senders=senders)
    for name, sender in org_people.items():
        # Everyone sends to themselves, so only the type's rule can refuse.
        expected = (allowed is not None and name in allowed) or (
            allowed is None and sender.username.endswith("0")
        )
        try:
            _send(sender, sender, "t.limited")
            sent = True
        except SendRefused as exc:
            assert exc.code == "type.sender_not_allowed", exc
            sent = False
        assert sent == expected, (senders, name)


def test_the_model_refuses_a_hand_made_row(declare, org_people, Notification):
    declare("t.sign_in", senders="system")
    row = Notification(
        title="x", scope="user", recipient=org_people["dev"], sender=org_people["dev"],
        notification_type="t.sign_in",
    )  # fmt: skip
    with pytest.raises(SendRefused):
        row.save()
    assert not Notification.objects.exists()


@pytest.mark.parametrize("senders", ["everyone", (), ("ADMIN",), 3, ("staff", None)])
def test_a_bad_senders_value_is_refused_at_registration(declare, senders):
    with pytest.raises(ValueError, match=r"t_bad.*senders must be"):
        declare("t.bad", senders=senders)
    assert "t.bad" not in notification_types


def test_a_string_category_is_a_category_key(declare):
    orders = declare("t.order_paid", category="orders")
    assert orders.category == Category("orders", "orders")
    shipped = declare("t.order_shipped", category="orders")
    assert shipped.category is orders.category
    existing = notification_types.get("test.alert").category
    reused = declare("t.other_alert", category=existing.key)
    assert reused.category is existing
    with pytest.raises(TypeError, match="t_bad_category.category must be"):
        declare("t.bad_category", category=7)


def test_events_of_a_string_category_type_are_processed(
    declare, org_people, django_capture_on_commit_callbacks, Notification
):
    declare("t.order_paid", category="orders", title="Order paid")
    with django_capture_on_commit_callbacks(execute=True):
        django_notify.emit("t.order_paid", recipients=[org_people["dev"]])
    row = Notification.objects.get()
    assert row.notification_type == "t.order_paid"


def test_a_required_channel_open_to_anyone_is_warned_about(declare):
    declare("t.loud", channels=("in_app", "email"), required_channels=("email",))
    warnings = [w for w in checks.run_checks() if w.id == "django_notify.W005"]
    assert [w.obj for w in warnings] == ["t.loud"]
