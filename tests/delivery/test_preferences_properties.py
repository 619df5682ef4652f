"""Preference precedence: the set-based ``decide()`` over real rows agrees with a plain
reference over random organization defaults, user preferences, subscription switches and
required channels."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_notify.delivery.decide import decide
from django_notify.delivery.preferences import get_preferences
from django_notify.models import NotificationPreference, OrganizationPreference
from django_notify.types import notification_types

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("PREFERENCE_PROPS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TYPES = ["test.alert", "test.security", "test.news"]
CHANNELS = ["email", "outbox"]
SCOPES = ["all", "category", "type"]
switch = st.sampled_from([None, True, False])
frequency = st.sampled_from(["", "immediate", "hourly", "daily", "weekly"])


def statement():
    return st.tuples(switch, frequency).filter(lambda s: s != (None, ""))


def reference(ntype, channel, org_says, user_says, subscription):
    """Search from the most specific statement down, the way a person reads the rules:
    required first; then the subscription can only switch off; then the user's type,
    category and all-types rows; then the organization's; then the type's default."""
    ordered = [user_says.get(s) for s in reversed(SCOPES)] + [
        org_says.get(s) for s in reversed(SCOPES)
    ]
    enabled = next((e for e, _ in filter(None, ordered) if e is not None), None)
    if enabled is None:
        enabled = channel in ntype.default_channels
    freq = next((f for _, f in filter(None, ordered) if f), None) or ntype.default_frequency
    if channel in ntype.required_channels:
        return True, freq
    if subscription is False:
        enabled = False
    return enabled, freq


def _scope_fields(ntype, scope):
    if scope == "type":
        return {"notification_type": ntype.key, "category": ""}
    if scope == "category":
        return {"notification_type": "", "category": ntype.category.key}
    return {"notification_type": "", "category": ""}


@pytest.mark.django_db
@PROPERTY_SETTINGS
@given(data=st.data())
def test_decide_matches_the_reference(data, make_org, make_user):
    orgs = [make_org(), make_org()]
    users = [make_user(org=orgs[i % 2]) for i in range(3)]
    organizations = {u.pk: orgs[i % 2].pk for i, u in enumerate(users)}
    ntype = notification_types.get(data.draw(st.sampled_from(TYPES), label="type"))

    org_says: dict = {}
    user_says: dict = {}
    for org in orgs:
        for channel in CHANNELS:
            for scope in SCOPES:
                said = data.draw(st.none() | statement(), label=f"org {org.pk} {channel} {scope}")
                if said is not None:
                    org_says.setdefault((org.pk, channel), {})[scope] = said
                    OrganizationPreference.objects.create(
                        organization_key=str(org.pk), channel=channel,
                        enabled=said[0], frequency=said[1], **_scope_fields(ntype, scope),
                    )  # fmt: skip
    for user in users:
        for channel in CHANNELS:
            for scope in SCOPES:
                said = data.draw(st.none() | statement(), label=f"user {user.pk} {channel} {scope}")
                if said is not None:
                    user_says.setdefault((user.pk, channel), {})[scope] = said
                    NotificationPreference.objects.create(
                        user=user, channel=channel, enabled=said[0], frequency=said[1],
                        **_scope_fields(ntype, scope),
                    )  # fmt: skip
    # Rows for another type or category must not matter.
    NotificationPreference.objects.create(
        user=users[0], notification_type="test.limited", channel="outbox", enabled=False
    )
    subscriptions = {
        (u.pk, c): s
        for u in users
        for c in CHANNELS
        if (s := data.draw(switch, label=f"subscription {u.pk} {c}")) is not None
    }

    got = decide(
        [u.pk for u in users],
        ntype,
        CHANNELS,
        organizations=organizations,
        subscriptions=subscriptions,
    )
    for user in users:
        for channel in CHANNELS:
            expected = reference(
                ntype,
                channel,
                org_says.get((organizations[user.pk], channel), {}),
                user_says.get((user.pk, channel), {}),
                subscriptions.get((user.pk, channel)),
            )
            decision = got[(user.pk, channel)]
            assert (decision.enabled, decision.frequency) == expected, (user.pk, channel)
            assert decision.required == (channel in ntype.required_channels)
    # get_preferences() reads the same rules from rows in memory: it must agree with
    # decide() (which has no subscription switches in a preferences page).
    plain = decide([u.pk for u in users], ntype, CHANNELS, organizations=organizations)
    for user in users:
        page = {t["notification_type"]: t for t in get_preferences(user)["types"]}[ntype.key]
        for channel, shown in page["channels"].items():
            if channel not in CHANNELS:
                continue
            decision = plain[(user.pk, channel)]
            assert (shown["enabled"], shown["frequency"]) == (
                decision.enabled, decision.frequency,
            ), (user.pk, channel)  # fmt: skip
    NotificationPreference.objects.all().delete()
    OrganizationPreference.objects.all().delete()
