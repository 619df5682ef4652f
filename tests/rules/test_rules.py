from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

import django_notify
from django_notify import emit, signals
from django_notify.models import OptOut, Subscription
from django_notify.rules import (
    DynamicCriterion,
    GroupCriterion,
    OrganizationRoleCriterion,
    PermissionCriterion,
    StaffCriterion,
    SubscriptionRule,
)
from django_notify.rules.sync import sync_rule, sync_type
from django_notify.tenancy import Role

TYPE = "team.joined"


@pytest.fixture
def sync(django_capture_on_commit_callbacks):
    """Run the on-commit syncs that saving rules and criteria schedules."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


def _rule(name="r", priority=0, **kw):
    return SubscriptionRule.objects.create(name=name, notification_type=TYPE, priority=priority,
                                           **kw)  # fmt: skip


def _subs():
    return {
        s.user_id: (s.rule_id, s.email_enabled, s.created_by_rule)
        for s in Subscription.objects.filter(notification_type=TYPE)
    }


def test_saving_criteria_syncs_and_priority_decides(make_user, sync):
    a, b, c = make_user(), make_user(), make_user()
    managers, everyone = Group.objects.create(name="m"), Group.objects.create(name="e")
    managers.user_set.add(a)
    everyone.user_set.add(a, b)
    low = _rule("low", priority=1, email_enabled=False)
    high = _rule("high", priority=10, email_enabled=True)
    sync(GroupCriterion.objects.create, rule=low, group=everyone)
    sync(GroupCriterion.objects.create, rule=high, group=managers)
    assert _subs() == {a.pk: (high.pk, True, True), b.pk: (low.pk, False, True)}
    # Deactivating the high rule hands a over to the low one.
    high.active = False
    sync(high.save)
    assert _subs() == {a.pk: (low.pk, False, True), b.pk: (low.pk, False, True)}
    assert c.pk not in _subs()
    sync(low.delete)
    assert _subs() == {}


def test_manual_subscriptions_are_never_touched(make_user, sync):
    a = make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    Subscription.objects.create(user=a, notification_type=TYPE, email_enabled=False)
    rule = _rule()
    sync(GroupCriterion.objects.create, rule=rule, group=group)
    assert _subs() == {a.pk: (None, False, False)}
    sync(rule.delete)
    assert _subs() == {a.pk: (None, False, False)}


def test_sync_command_follows_membership_changes(make_user, sync, capsys):
    a, b = make_user(), make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    sync(GroupCriterion.objects.create, rule=_rule(), group=group)
    group.user_set.set([b])  # data the criterion reads changed; no rule was saved
    call_command("notify_sync_rules", "--type", TYPE)
    assert "1 created, 0 updated, 1 removed" in capsys.readouterr().out
    assert set(_subs()) == {b.pk}


def test_built_in_criteria(make_org, make_user, make_team, sync):
    org = make_org()
    admin = make_user(Role.ORG_ADMIN, org)
    dev = make_user(Role.DEV_USER, org)
    outsider_admin = make_user(Role.ORG_ADMIN)
    staff = make_user(Role.DEV_USER, org, staff=True)
    holder = make_user(Role.DEV_USER, org)
    holder.user_permissions.add(Permission.objects.get(codename="view_group"))
    team = make_team(org, members=[dev])
    cases = [
        (lambda r: OrganizationRoleCriterion.objects.create(
            rule=r, role=Role.ORG_ADMIN, organization_key=str(org.pk)), {admin.pk}),
        (lambda r: OrganizationRoleCriterion.objects.create(
            rule=r, role=Role.ORG_ADMIN), {admin.pk, outsider_admin.pk}),
        (lambda r: OrganizationRoleCriterion.objects.create(rule=r, team_key=str(team.pk)),
         {dev.pk}),
        (lambda r: StaffCriterion.objects.create(rule=r, include_superusers=False), {staff.pk}),
        (lambda r: PermissionCriterion.objects.create(
            rule=r, permission=Permission.objects.get(codename="view_group")), {holder.pk}),
    ]  # fmt: skip
    for make, expected in cases:
        rule = _rule()
        sync(make, rule)
        assert set(_subs()) == expected
        sync(rule.delete)


@pytest.fixture
def criterion_functions():
    registry = django_notify.criteria

    @registry.register("members_of")
    def members_of(target=None, *, group: str, limit: int = 100):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(groups__name=group)[:limit]

    @registry.register("target_members")
    def target_members(target=None):
        return target.members.all() if target is not None else []

    yield registry
    registry.unregister("members_of")
    registry.unregister("target_members")


def test_dynamic_criterion_validates_params(criterion_functions, make_user, sync):
    rule = _rule()
    bad = [
        ({"name": "nope", "params": {}}, "name"),
        ({"name": "members_of", "params": {}}, "params"),
        ({"name": "members_of", "params": {"group": 5}}, "params"),
        ({"name": "members_of", "params": {"group": "g", "limit": "10"}}, "params"),
        ({"name": "members_of", "params": {"group": "g", "colour": "red"}}, "params"),
        ({"name": "members_of", "params": ["g"]}, "params"),
    ]
    for fields, field in bad:
        with pytest.raises(ValidationError) as info:
            DynamicCriterion.objects.create(rule=rule, **fields)
        assert field in info.value.message_dict
    assert DynamicCriterion.objects.count() == 0
    a = make_user()
    Group.objects.create(name="g").user_set.add(a)
    sync(DynamicCriterion.objects.create, rule=rule, name="members_of", params={"group": "g"})
    assert set(_subs()) == {a.pk}


def test_per_event_criterion_uses_the_event_target(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    org = make_org()
    a, b, _ = make_user(org=org), make_user(org=org), make_user(org=org)
    team = make_team(org, members=[a, b])
    rule = _rule()
    sync(DynamicCriterion.objects.create, rule=rule, name="target_members",
         evaluate_per_event=True)  # fmt: skip
    assert _subs() == {}  # per-event criteria make no standing subscriptions
    OptOut.objects.create(user=b, notification_type=TYPE)
    with django_capture_on_commit_callbacks(execute=True):
        emit(TYPE, target=team, context={"team": team.name})
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [a.pk]


def test_opt_out_beats_a_rule_while_it_lasts(make_user, sync, Notification,
                                             django_capture_on_commit_callbacks):  # fmt: skip
    a = make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    sync(GroupCriterion.objects.create, rule=_rule(), group=group)
    mute = OptOut.objects.create(user=a, notification_type=TYPE,
                                 until=timezone.now() + timedelta(hours=1))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        emit(TYPE, context={"team": "x"})
    assert Notification.objects.count() == 0
    mute.until = timezone.now() - timedelta(seconds=1)
    mute.save()
    with django_capture_on_commit_callbacks(execute=True):
        emit(TYPE, context={"team": "x"})
    assert Notification.objects.count() == 1


def test_rule_without_criteria_is_a_clear_error(db):
    rule = _rule()
    with pytest.raises(ValidationError, match="at least one criterion"):
        sync_rule(rule)
    with pytest.raises(ValidationError):
        rule.full_clean()
    with pytest.raises(ValidationError) as info:
        SubscriptionRule(name="x", notification_type="no.such.type").full_clean()
    assert "notification_type" in info.value.message_dict


def test_sync_reports_active_rules_without_criteria(make_user, caplog):
    from django_notify.rules.sync import rules_without_criteria, sync_all

    a = make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    working = _rule("working", priority=1)
    GroupCriterion.objects.create(rule=working, group=group)
    bare = _rule("Forgotten rule", priority=5)
    _rule("inactive and bare", active=False)
    with caplog.at_level("WARNING", logger="django_notify.rules"):
        counts = sync_type(TYPE)
    # The rest of the type is synced; the bare rule is named, not silently skipped.
    assert counts == {"created": 1, "updated": 0, "deleted": 0}
    assert counts.rules_without_criteria == [bare]
    assert "'Forgotten rule'" in caplog.text and f"#{bare.pk}" in caplog.text
    assert "no criteria" in caplog.text
    assert list(rules_without_criteria(TYPE)) == [bare]
    assert list(rules_without_criteria("task.created")) == []
    assert sync_all()[TYPE].rules_without_criteria == [bare]
    assert "Forgotten rule" in repr(counts)


def test_sync_command_names_rules_without_criteria(make_user, capsys):
    from django.core.management import CommandError

    a = make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    GroupCriterion.objects.create(rule=_rule("working"), group=group)
    _rule("Forgotten rule")
    with pytest.raises(CommandError, match="Forgotten rule"):
        call_command("notify_sync_rules")
    out, err = capsys.readouterr()
    assert "1 created" in out  # everything else was still synced
    assert "Forgotten rule" in err and "no criteria" in err


def test_sync_signals(make_user, sync):
    a = make_user()
    group = Group.objects.create(name="g")
    group.user_set.add(a)
    seen = []

    def created(sender, notification_type, subscriptions, **kw):
        seen.append(("created", notification_type, [s.user_id for s in subscriptions]))

    def removed(sender, notification_type, subscriptions, **kw):
        seen.append(("removed", notification_type, [s.user_id for s in subscriptions]))

    signals.subscriptions_created_by_rule.connect(created)
    signals.subscriptions_removed_by_rule.connect(removed)
    try:
        rule = _rule()
        sync(GroupCriterion.objects.create, rule=rule, group=group)
        sync(rule.delete)
    finally:
        signals.subscriptions_created_by_rule.disconnect(created)
        signals.subscriptions_removed_by_rule.disconnect(removed)
    assert seen == [("created", TYPE, [a.pk]), ("removed", TYPE, [a.pk])]


def test_sync_is_set_based(make_user, django_assert_max_num_queries):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    group = Group.objects.create(name="big")
    User.objects.bulk_create([User(username=f"m{i}") for i in range(500)])
    group.user_set.set(User.objects.all())
    rule = _rule()
    GroupCriterion.objects.create(rule=rule, group=group)
    # A fixed number of queries plus the INSERT batches (SQLite caps parameters per query).
    with django_assert_max_num_queries(8 + 500 // 50):
        assert sync_type(TYPE) == {"created": 500, "updated": 0, "deleted": 0}
    with django_assert_max_num_queries(10):
        assert sync_type(TYPE) == {"created": 0, "updated": 0, "deleted": 0}


# --- per-event criteria: channel switches and priority ------------------------------


def _recipients(Notification):
    return set(Notification.objects.values_list("recipient_id", flat=True))


def _emit_on(team, run):
    with run(execute=True):
        emit(TYPE, target=team, context={"team": team.name})


def _per_event_rule(name, priority=0, **kw):
    rule = _rule(name, priority=priority, **kw)
    DynamicCriterion.objects.create(rule=rule, name="target_members", evaluate_per_event=True)
    return rule


def test_per_event_rule_with_in_app_off_adds_nobody(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    org = make_org()
    a, b = make_user(org=org), make_user(org=org)
    team = make_team(org, members=[a, b])
    sync(_per_event_rule, "quiet", in_app_enabled=False)
    _emit_on(team, django_capture_on_commit_callbacks)
    assert _recipients(Notification) == set()


def test_manual_in_app_off_beats_a_per_event_rule(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from django.contrib.contenttypes.models import ContentType

    org = make_org()
    glob, scoped, elsewhere, email_only, plain = [make_user(org=org) for _ in range(5)]
    team = make_team(org, members=[glob, scoped, elsewhere, email_only, plain])
    other = make_team(org)
    ct = ContentType.objects.get_for_model(team)
    Subscription.objects.create(user=glob, notification_type=TYPE, in_app_enabled=False)
    Subscription.objects.create(user=scoped, notification_type=TYPE, in_app_enabled=False,
                                entity_type=ct, entity_id=str(team.pk))  # fmt: skip
    Subscription.objects.create(user=elsewhere, notification_type=TYPE, in_app_enabled=False,
                                entity_type=ct, entity_id=str(other.pk))  # fmt: skip
    Subscription.objects.create(user=email_only, notification_type=TYPE, email_enabled=False)
    sync(_per_event_rule, "members")
    _emit_on(team, django_capture_on_commit_callbacks)
    # Own in-app switches off (global, or on this team) win; a switch on another team
    # or on another channel says nothing about this event.
    assert _recipients(Notification) == {elsewhere.pk, email_only.pk, plain.pk}


def test_a_higher_per_event_rule_decides_over_a_rule_subscription(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    org = make_org()
    member, bystander = make_user(org=org), make_user(org=org)
    team = make_team(org, members=[member])
    group = Group.objects.create(name="g")
    group.user_set.add(member, bystander)
    low = _rule("standing", priority=1)
    sync(GroupCriterion.objects.create, rule=low, group=group)
    sync(_per_event_rule, "quiet on this team", priority=10, in_app_enabled=False)
    assert set(_subs()) == {member.pk, bystander.pk}  # both subscribed, in-app on
    _emit_on(team, django_capture_on_commit_callbacks)
    # The higher rule matches `member` for this event and switches in-app off; the
    # bystander is not matched by it, so their subscription decides.
    assert _recipients(Notification) == {bystander.pk}


def test_a_higher_rule_subscription_decides_over_a_per_event_rule(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    org = make_org()
    member, other_member = make_user(org=org), make_user(org=org)
    team = make_team(org, members=[member, other_member])
    group = Group.objects.create(name="g")
    group.user_set.add(member)
    high = _rule("standing, quiet", priority=10, in_app_enabled=False)
    sync(GroupCriterion.objects.create, rule=high, group=group)
    sync(_per_event_rule, "members", priority=1)
    _emit_on(team, django_capture_on_commit_callbacks)
    assert _recipients(Notification) == {other_member.pk}


@pytest.mark.parametrize(("quiet_priority", "notified"), [(10, False), (1, True)])
def test_overlapping_per_event_rules_follow_priority(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks, quiet_priority, notified,
):  # fmt: skip
    org = make_org()
    member = make_user(org=org)
    team = make_team(org, members=[member])
    sync(_per_event_rule, "loud", priority=5)
    sync(_per_event_rule, "quiet", priority=quiet_priority, in_app_enabled=False)
    _emit_on(team, django_capture_on_commit_callbacks)
    assert _recipients(Notification) == ({member.pk} if notified else set())


def test_inactive_per_event_rules_decide_nothing(
    criterion_functions, make_org, make_user, make_team, sync, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    org = make_org()
    member = make_user(org=org)
    team = make_team(org, members=[member])
    sync(_per_event_rule, "loud", priority=1)
    sync(_per_event_rule, "quiet but inactive", priority=10, in_app_enabled=False, active=False)
    _emit_on(team, django_capture_on_commit_callbacks)
    assert _recipients(Notification) == {member.pk}


def test_per_event_resolution_is_set_based(criterion_functions, make_org, make_team):
    """The query count of resolve() with per-event rules does not grow with the number
    of users they match."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_notify.pipeline.audience import resolve

    org = make_org()
    team = make_team(org)
    group = Group.objects.create(name="g")
    _per_event_rule("loud", priority=5)
    _per_event_rule("quiet", priority=9, in_app_enabled=False)
    GroupCriterion.objects.create(rule=_rule("standing", priority=1), group=group)
    sync_type(TYPE)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            resolve(TYPE, target=team, channel="in_app")
        return len(ctx.captured_queries)

    small = count()
    # The rules, their criteria (django-polymorphic: one query per criterion model) and
    # one query for the audience itself.
    assert small <= 5
    User = get_user_model()
    User.objects.bulk_create([User(username=f"pe{i}") for i in range(300)])
    new = User.objects.filter(username__startswith="pe")
    team.members.add(*new)
    group.user_set.add(*new)
    sync_type(TYPE)
    assert count() == small
