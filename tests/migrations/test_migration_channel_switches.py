"""Migrations 0011 and 0012 move the email/in-app columns of subscriptions and rules
into their channel switch map, on a populated database, and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("django_notify", "0010_level_help_text")]
AFTER = [("django_notify", "0012_drop_switch_columns")]

#: (email_enabled, in_app_enabled, other switches) → the map after the migration.
CASES = [
    (True, True, {}, {}),
    (False, True, {}, {"email": False}),
    (True, False, {}, {"in_app": False}),
    (False, False, {"slack": False}, {"email": False, "in_app": False, "slack": False}),
    (True, True, {"teams": False, "slack": True}, {"teams": False, "slack": True}),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_schema_after():
    yield
    # Whatever happened, later tests need the current schema.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("django_notify"))


@pytest.mark.django_db(transaction=True)
def test_switch_columns_move_into_the_map_and_back(latest_schema_after):
    apps = _migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Subscription = apps.get_model("django_notify", "Subscription")
    Rule = apps.get_model("django_notify", "SubscriptionRule")
    users = [User.objects.create(username=f"u{i}") for i in range(len(CASES) * 100)]
    subs, rules = [], []
    for n, user in enumerate(users):
        email, in_app, others, _ = CASES[n % len(CASES)]
        subs.append(
            Subscription(
                user=user,
                notification_type=f"t.{n}",
                email_enabled=email,
                in_app_enabled=in_app,
                channels=others,
            )  # fmt: skip
        )
        if n < len(CASES):
            rules.append(
                Rule(
                    name=f"r{n}",
                    notification_type=f"t.{n}",
                    email_enabled=email,
                    in_app_enabled=in_app,
                )  # fmt: skip
            )
    Subscription.objects.bulk_create(subs)
    Rule.objects.bulk_create(rules)

    apps = _migrate(AFTER)
    Subscription = apps.get_model("django_notify", "Subscription")
    Rule = apps.get_model("django_notify", "SubscriptionRule")
    assert Subscription.objects.count() == len(users)
    for sub in Subscription.objects.all():
        n = int(sub.notification_type.removeprefix("t."))
        assert sub.channels == CASES[n % len(CASES)][3], sub.notification_type
    for rule in Rule.objects.all():
        email, in_app, _, _ = CASES[int(rule.name[1:])]
        expected = {k: False for k, on in (("email", email), ("in_app", in_app)) if not on}
        assert rule.channels == expected

    apps = _migrate(BEFORE)
    Subscription = apps.get_model("django_notify", "Subscription")
    Rule = apps.get_model("django_notify", "SubscriptionRule")
    for sub in Subscription.objects.all():
        n = int(sub.notification_type.removeprefix("t."))
        email, in_app, others, _ = CASES[n % len(CASES)]
        assert (sub.email_enabled, sub.in_app_enabled, sub.channels) == (email, in_app, others)
    for rule in Rule.objects.all():
        email, in_app, _, _ = CASES[int(rule.name[1:])]
        assert (rule.email_enabled, rule.in_app_enabled) == (email, in_app)
