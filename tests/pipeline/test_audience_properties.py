"""Property tests: rule sync and ``audience.resolve()`` against a plain-Python model.

Every example builds a random world for ``team.joined``: 4-8 users (some inactive, some
staff or superusers), two auth groups with random members, two targets (teams or users,
a team sometimes sharing its pk with the user target), random manual subscriptions
(global or scoped to a target, channel switches on/off), stale rule-created
subscriptions left by an earlier sync, random rules (priority, active flag, channel
switches, 0-2 group/staff criteria, optionally a per-event dynamic criterion returning
the target's members, all or only the staff or non-staff ones) and random opt-outs
(global or scoped; until None, past or future), plus rows of another type that must
change nothing. It then syncs the type and compares what the package does with a
reference computed from the generated data alone, as ``rules/sync.py`` and
``audience.py`` state it:

    rule_subs   = {active user u: the first active rule with criteria, by (-priority, pk),
                   whose standing criteria match u}, minus users with a manual global
                   subscription (their own switches win); each takes its rule's switches
    manual      = users with a manual subscription that is global or on the target,
                  in-app on
    decider     = for each user, the first by (-priority, pk) among their rule
                  subscription's rule and the active rules whose per-event criterion
                  (evaluated on the target) returns them
    ruled       = users whose rule subscription has in-app on, unless their decider is a
                  per-event match with in-app off
                ∪ users whose decider is a per-event match with in-app on, minus users
                  with a manual subscription (global or on the target) with in-app off
    resolve     = (explicit ∪ manual ∪ ruled) − users with an opt-out (global or on the
                  target) whose ``until`` is None or in the future − inactive

The database is not reset between hypothesis examples (pytest-django's ``db`` fixture
wraps the whole test), so each example runs in its own savepoint that is always rolled
back (the on-commit syncs that saving rules schedules are discarded with it).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import django_notify
from django_notify import emit
from django_notify.models import Event, OptOut, Subscription
from django_notify.pipeline import audience
from django_notify.rules import DynamicCriterion, GroupCriterion, StaffCriterion, SubscriptionRule
from django_notify.rules.sync import sync_type

pytestmark = pytest.mark.django_db

TYPE = "team.joined"  # declared in tests/swapped/notifications.py
OTHER = "team.left"  # never registered: its rows must not leak into TYPE's audience
PER_EVENT_FN = "audience_props_target_members"
#: Figures printed at the end of the module (run with -s).
STATS: Counter = Counter()
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("AUDIENCE_PROPS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    yield
    if STATS:
        print("\n[audience properties] " + ", ".join(f"{k}={v}" for k, v in sorted(STATS.items())))


@pytest.fixture
def per_event_members():
    """A per-event criterion function: a team target's members, a user target itself;
    rules pass different ``staff`` filters so that they reach different users."""
    from tests.testapp.models import Team

    @django_notify.criteria.register(PER_EVENT_FN)
    def target_members(target=None, *, staff: str = "any"):
        """``staff``: "any", "yes" (staff members only) or "no" (the others)."""
        if target is None:
            return []
        members = target.members.all() if isinstance(target, Team) else [target]
        return [u for u in members if staff == "any" or u.is_staff == (staff == "yes")]

    yield
    django_notify.criteria.unregister(PER_EVENT_FN)


class _RolledBack:
    """A savepoint that is always rolled back, so every example starts clean."""

    def __enter__(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def __exit__(self, *exc):
        transaction.set_rollback(True)
        return self.atomic.__exit__(*exc)


# --- the world ---------------------------------------------------------------------


@dataclass
class RuleSpec:
    pk: Any
    priority: int
    active: bool
    email: bool
    in_app: bool
    standing: list  # ("group", index) | ("staff", include_staff, include_superusers)
    per_event: str | None  # the per-event criterion's ``staff`` filter, None: no criterion

    @property
    def has_criteria(self) -> bool:
        return bool(self.standing) or self.per_event is not None


@dataclass
class World:
    users: list = field(default_factory=list)
    active: dict = field(default_factory=dict)  # uid -> bool
    staff: dict = field(default_factory=dict)
    superuser: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)  # list[set[uid]]
    group_rows: list = field(default_factory=list)  # the Group instances
    targets: list = field(default_factory=list)  # model instances
    target_members: list = field(default_factory=list)  # list[set[uid]]
    # Manual subscriptions of TYPE: (uid, scope, in_app); scope None = global, else index.
    manual: list = field(default_factory=list)
    # Stale rule-created global subscriptions of TYPE: uid -> (rule pk | None, email, in_app).
    stale: dict = field(default_factory=dict)
    rules: list = field(default_factory=list)  # list[RuleSpec]
    # Opt-outs of TYPE: (uid, scope, active).
    optouts: list = field(default_factory=list)

    # The reference, in plain Python.
    def manual_global(self) -> set:
        return {uid for uid, scope, _ in self.manual if scope is None}

    def standing_match(self, rule: RuleSpec, uid) -> bool:
        for crit in rule.standing:
            if crit[0] == "group" and uid in self.groups[crit[1]]:
                return True
            if crit[0] == "staff" and (
                (crit[1] and self.staff[uid]) or (crit[2] and self.superuser[uid])
            ):
                return True
        return False

    def wanted(self) -> dict:
        """``{uid: RuleSpec}``: what the rule-created subscriptions should be after sync."""
        ordered = sorted(
            (r for r in self.rules if r.active and r.has_criteria),
            key=lambda r: (-r.priority, r.pk),
        )
        blocked = self.manual_global()
        out = {}
        for user in self.users:
            uid = user.pk
            if not self.active[uid] or uid in blocked:
                continue
            for rule in ordered:
                if self.standing_match(rule, uid):
                    out[uid] = rule
                    break
        return out

    def expected_counts(self) -> dict:
        wanted = self.wanted()
        created = sum(1 for uid in wanted if uid not in self.stale)
        updated = sum(
            1
            for uid, rule in wanted.items()
            if uid in self.stale and self.stale[uid] != (rule.pk, rule.email, rule.in_app)
        )
        deleted = sum(1 for uid in self.stale if uid not in wanted)
        return {"created": created, "updated": updated, "deleted": deleted}

    def ranked(self) -> list:
        """The active rules with criteria, by (-priority, pk): earlier decides."""
        return sorted(
            (r for r in self.rules if r.active and r.has_criteria),
            key=lambda r: (-r.priority, r.pk),
        )

    def per_event_match(self, rule: RuleSpec, t: int | None) -> set:
        """The users ``rule``'s per-event criterion returns for an event on target ``t``."""
        if t is None or rule.per_event is None:
            return set()
        return {
            uid
            for uid in self.target_members[t]
            if rule.per_event == "any" or self.staff[uid] == (rule.per_event == "yes")
        }

    def audience_parts(self, t: int | None, explicit: set) -> dict:
        """The reference audience's parts for an event on target ``t`` (None: no target)."""

        def on_target(scope) -> bool:
            return scope is None or scope == t

        manual = {uid for uid, scope, in_app in self.manual if on_target(scope) and in_app}
        manual_off = {uid for uid, scope, in_app in self.manual if on_target(scope) and not in_app}
        wanted = self.wanted()
        ranked = self.ranked()
        rank = {r.pk: i for i, r in enumerate(ranked)}
        matches = {r.pk: self.per_event_match(r, t) for r in ranked}
        ruled, per_event, switched_off, own_off = set(), set(), set(), set()
        for user in self.users:
            uid = user.pk
            candidates = [r for r in ranked if uid in matches[r.pk]]
            if uid in wanted:
                candidates.append(wanted[uid])
            if not candidates:
                continue
            decider = min(candidates, key=lambda r: rank[r.pk])
            subscribed_on = uid in wanted and wanted[uid].in_app
            if decider is wanted.get(uid):  # the rule subscription's own rule decides
                if subscribed_on:
                    ruled.add(uid)
            elif not decider.in_app:  # a higher per-event rule switches in-app off
                if subscribed_on:
                    switched_off.add(uid)
            elif uid in manual_off:  # the user's own switch beats the per-event rule
                own_off.add(uid)
                if subscribed_on:
                    ruled.add(uid)
            else:
                ruled.add(uid)
                per_event.add(uid)
        muted = {uid for uid, scope, active in self.optouts if on_target(scope) and active}
        inactive = {uid for uid, active in self.active.items() if not active}
        return {
            "explicit": explicit,
            "manual": manual,
            "ruled": ruled,
            "per_event": per_event,
            "switched_off": switched_off,
            "own_off": own_off,
            "muted": muted,
            "inactive": inactive,
        }

    def audience(self, t: int | None, explicit: set) -> set:
        p = self.audience_parts(t, explicit)
        return (p["explicit"] | p["manual"] | p["ruled"]) - p["muted"] - p["inactive"]


def _entity(target) -> dict:
    if target is None:
        return {}
    return {
        "entity_type": ContentType.objects.get_for_model(target),
        "entity_id": str(target.pk),
    }


def _members(data, users: list, label: str) -> list:
    """A random subset, each user in with even odds (``st.sets`` favours tiny sets)."""
    flags = data.draw(st.lists(st.booleans(), min_size=len(users), max_size=len(users)), label)
    return [u for u, flag in zip(users, flags, strict=True) if flag]


def build_world(data, make_org, make_user, make_team) -> World:
    from tests.testapp.models import Team

    w = World()
    org = make_org()
    n_users = data.draw(st.integers(4, 8), label="users")
    for i in range(n_users):
        active = data.draw(st.sampled_from([True, True, True, False]), label=f"u{i} active")
        staff = data.draw(st.booleans(), label=f"u{i} staff")
        superuser = data.draw(st.sampled_from([False, False, True]), label=f"u{i} superuser")
        user = make_user(org=org, staff=staff, superuser=superuser, active=active)
        w.users.append(user)
        w.active[user.pk], w.staff[user.pk], w.superuser[user.pk] = active, staff, superuser

    for g in range(2):
        members = _members(data, w.users, f"group{g} members")
        group = Group.objects.create(name=f"audience-props-{g}")
        group.user_set.set(members)
        w.groups.append({u.pk for u in members})
        w.group_rows.append(group)

    # Two distinct targets, each a team or a user (a user target is its own "member").
    # A team may get the pk of the user target: scoped rows must tell them apart by type.
    is_team = data.draw(st.lists(st.booleans(), min_size=2, max_size=2), label="team targets")
    user_targets = iter(data.draw(st.permutations(w.users), label="user targets"))
    w.targets = [None if team else next(user_targets) for team in is_team]
    for t, team in enumerate(is_team):
        if not team:
            w.target_members.append({w.targets[t].pk})
            continue
        members = _members(data, w.users, f"target{t} members")
        other = w.targets[1 - t]
        alias = isinstance(other, get_user_model()) and not Team.objects.filter(pk=other.pk)
        if alias and data.draw(st.sampled_from([True, False]), label=f"target{t} alias pk"):
            w.targets[t] = Team.objects.create(pk=other.pk, organization=org, name=f"t{t}")
            w.targets[t].members.set(members)
        else:
            w.targets[t] = make_team(org, members=members)
        w.target_members.append({u.pk for u in members})
    first, second = w.targets
    if type(first) is not type(second) and first.pk == second.pk:
        STATS["team and user targets with one pk"] += 1

    # Rules (created before the subscriptions so that stale rows can point at them).
    n_rules = data.draw(st.sampled_from([3, 2, 4, 1, 0]), label="rules")
    for r in range(n_rules):
        standing = data.draw(
            st.lists(
                st.one_of(
                    st.tuples(st.just("group"), st.integers(0, 1)),
                    st.tuples(st.just("staff"), st.booleans(), st.booleans()).filter(
                        lambda c: c[1] or c[2]
                    ),
                ),
                min_size=data.draw(st.sampled_from([1, 1, 1, 1, 0]), label=f"rule{r} bare"),
                max_size=2,
            ),
            label=f"rule{r} standing criteria",
        )
        spec = RuleSpec(
            pk=None,
            priority=data.draw(st.sampled_from([1, 0, 1, 2]), label=f"rule{r} priority"),
            active=data.draw(st.sampled_from([True, True, False, False]), label=f"rule{r} active"),
            email=data.draw(st.booleans(), label=f"rule{r} email"),
            in_app=data.draw(st.sampled_from([True, False, True]), label=f"rule{r} in_app"),
            standing=standing,
            per_event=data.draw(
                st.sampled_from(["any", None, "yes", "no"]), label=f"rule{r} per-event"
            ),
        )
        rule = SubscriptionRule.objects.create(
            name=f"rule{r}",
            notification_type=TYPE,
            priority=spec.priority,
            active=spec.active,
            email_enabled=spec.email,
            in_app_enabled=spec.in_app,
        )
        spec.pk = rule.pk
        for crit in standing:
            if crit[0] == "group":
                GroupCriterion.objects.create(rule=rule, group=w.group_rows[crit[1]])
            else:
                StaffCriterion.objects.create(
                    rule=rule, include_staff=crit[1], include_superusers=crit[2]
                )
        if spec.per_event is not None:
            DynamicCriterion.objects.create(
                rule=rule,
                name=PER_EVENT_FN,
                params={"staff": spec.per_event},
                evaluate_per_event=True,
            )
        w.rules.append(spec)
        STATS["rules"] += 1
        STATS["rules without criteria"] += not spec.has_criteria

    # Manual subscriptions; stale rule-created ones for users without a manual global one.
    rule_choices = [None] + [r.pk for r in w.rules]
    for i, user in enumerate(w.users):
        for scope in (None, 0, 1):
            kinds = ["none", "none", "on", "off"] + ["none"] * (scope is None)
            kind = data.draw(st.sampled_from(kinds), label=f"u{i} sub {scope}")
            if kind == "none":
                continue
            email = data.draw(st.booleans(), label=f"u{i} sub {scope} email")
            Subscription.objects.create(
                user=user,
                notification_type=TYPE,
                in_app_enabled=kind == "on",
                email_enabled=email,
                channels={"slack": email},
                **_entity(None if scope is None else w.targets[scope]),
            )
            w.manual.append((user.pk, scope, kind == "on"))
        if user.pk not in w.manual_global() and data.draw(st.booleans(), label=f"u{i} stale"):
            row = (
                data.draw(st.sampled_from(rule_choices), label=f"u{i} stale rule"),
                data.draw(st.booleans(), label=f"u{i} stale email"),
                data.draw(st.booleans(), label=f"u{i} stale in_app"),
            )
            Subscription.objects.create(
                user=user,
                notification_type=TYPE,
                created_by_rule=True,
                rule_id=row[0],
                email_enabled=row[1],
                in_app_enabled=row[2],
            )
            w.stale[user.pk] = row

    # Opt-outs.
    now = timezone.now()
    untils = {None: None, "past": now - timedelta(hours=1), "future": now + timedelta(hours=1)}
    for i, user in enumerate(w.users):
        outs = data.draw(
            st.lists(
                st.tuples(st.sampled_from([None, 0, 1]), st.sampled_from(list(untils))),
                max_size=2,
            ),
            label=f"u{i} opt-outs",
        )
        for scope, until in outs:
            OptOut.objects.create(
                user=user,
                notification_type=TYPE,
                until=untils[until],
                **_entity(None if scope is None else w.targets[scope]),
            )
            w.optouts.append((user.pk, scope, until != "past"))

    # Another type's rows: a manual subscription, an opt-out and a rule with both kinds
    # of criteria (its per-event one reaches every member). None may change TYPE's.
    noisy = data.draw(st.sampled_from(w.users), label="other type subscriber")
    Subscription.objects.create(user=noisy, notification_type=OTHER)
    muted = data.draw(st.sampled_from(w.users), label="other type opt-out")
    OptOut.objects.create(user=muted, notification_type=OTHER)
    rule = SubscriptionRule.objects.create(name="other", notification_type=OTHER, priority=9)
    GroupCriterion.objects.create(rule=rule, group=w.group_rows[0])
    DynamicCriterion.objects.create(rule=rule, name=PER_EVENT_FN, evaluate_per_event=True)
    return w


# --- snapshots ---------------------------------------------------------------------


def _rows(**filters) -> list[tuple]:
    """Every column of the matching subscriptions, in pk order."""
    names = [f.attname for f in Subscription._meta.concrete_fields]
    return list(Subscription.objects.filter(**filters).order_by("pk").values_list(*names))


def _rule_subs() -> dict:
    rows = Subscription.objects.filter(
        notification_type=TYPE, created_by_rule=True, entity_type__isnull=True
    )
    return {s.user_id: (s.rule_id, s.email_enabled, s.in_app_enabled) for s in rows}


def _sync_and_check(w: World) -> None:
    """Sync TYPE; check the counts, the rule subscriptions, idempotence, manual rows."""
    manual_before = _rows(created_by_rule=False)
    others_before = _rows(created_by_rule=True, notification_type=OTHER)
    expected = w.expected_counts()
    assert sync_type(TYPE) == expected, "first sync"
    for key, n in expected.items():
        STATS[f"sync {key}"] += n
    STATS["rule subscriptions"] += len(w.wanted())
    STATS["examples with a winning rule's in-app off"] += any(
        not r.in_app for r in w.wanted().values()
    )
    want = {uid: (r.pk, r.email, r.in_app) for uid, r in w.wanted().items()}
    got = _rule_subs()
    assert got == want, (
        f"rule subscriptions: extra {sorted(set(got) - set(want))}, "
        f"missing {sorted(set(want) - set(got))}, "
        f"wrong {sorted(u for u in set(got) & set(want) if got[u] != want[u])}"
    )
    assert _rows(created_by_rule=False) == manual_before, "syncing changed a manual subscription"
    after_first = _rows(created_by_rule=True)
    # Idempotent: nothing to do a second time, and not one column changes.
    assert sync_type(TYPE) == {"created": 0, "updated": 0, "deleted": 0}, "second sync"
    assert _rows(created_by_rule=True) == after_first
    assert _rows(created_by_rule=False) == manual_before
    assert _rows(created_by_rule=True, notification_type=OTHER) == others_before


def _draw_recipients(data, w: World, label: str) -> list:
    """Explicit recipients, as users or pks (callers pass either)."""
    users = data.draw(
        st.lists(st.sampled_from(w.users), unique_by=lambda u: u.pk, max_size=3), label=label
    )
    as_pks = data.draw(st.lists(st.booleans(), min_size=len(users), max_size=len(users)))
    return [u.pk if pk else u for u, pk in zip(users, as_pks, strict=True)]


def _explain(w: World, t, explicit: set, got: set, expected: set) -> str:
    lines = [f"target {t}, explicit {sorted(explicit)}"]
    for uid in sorted(got ^ expected):
        lines.append(
            f"  user {uid}: {'extra' if uid in got else 'missing'}; active={w.active[uid]} "
            f"manual={[m for m in w.manual if m[0] == uid]} "
            f"rule={getattr(w.wanted().get(uid), 'pk', None)} "
            f"opt-outs={[o for o in w.optouts if o[0] == uid]}"
        )
    return "\n".join(lines)


def _count(w: World, t, explicit: set, expected: set) -> None:
    """Figures showing which parts of the reference the examples exercised."""
    parts = w.audience_parts(t, explicit)
    reached = parts["explicit"] | parts["manual"] | parts["ruled"]
    STATS["resolves"] += 1
    STATS["resolves with per-event-only users"] += bool(
        expected & parts["per_event"] - parts["explicit"] - parts["manual"]
    )
    STATS["resolves where a per-event rule silences a rule subscription"] += bool(
        parts["switched_off"] - parts["explicit"] - parts["manual"] - parts["inactive"]
    )
    STATS["resolves where a manual in-app-off beats a per-event rule"] += bool(
        parts["own_off"] - parts["explicit"] - parts["manual"] - parts["inactive"]
    )
    STATS["resolves with a muted user"] += bool(reached & parts["muted"] - parts["inactive"])
    STATS["resolves with an inactive user reached"] += bool(reached & parts["inactive"])
    STATS["audience size"] += len(expected)
    STATS["empty audiences"] += not expected


# --- the tests ---------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sync_and_resolve_match_reference(
    data, per_event_members, make_org, make_user, make_team, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """sync_type() makes exactly the reference's rule subscriptions (counts included), is
    idempotent and leaves manual rows alone; resolve() and the notifications an emitted
    event creates equal the reference audience."""
    with _RolledBack():
        w = build_world(data, make_org, make_user, make_team)
        _sync_and_check(w)

        # resolve() for an event on either target and for one without a target.
        for t in (0, 1, None):
            target = None if t is None else w.targets[t]
            given_ = _draw_recipients(data, w, f"explicit recipients, target {t}")
            explicit = {getattr(r, "pk", r) for r in given_}
            expected = w.audience(t, explicit)
            got = audience.resolve(TYPE, target=target, recipients=given_, channel="in_app")
            assert got == sorted(got), "resolve() is sorted"
            assert set(got) == expected, _explain(w, t, explicit, set(got), expected)
            assert len(got) == len(set(got))
            _count(w, t, explicit, expected)
        STATS["examples"] += 1

        # End to end: an emitted event notifies exactly the reference audience, once each.
        t = data.draw(st.sampled_from([0, 1, None]), label="emitted event's target")
        target = None if t is None else w.targets[t]
        given_ = _draw_recipients(data, w, "emitted event's recipients")
        expected = w.audience(t, {getattr(r, "pk", r) for r in given_})
        with django_capture_on_commit_callbacks(execute=True):
            event = emit(TYPE, target=target, recipients=given_, context={"team": "t"})
        event.refresh_from_db()
        assert event.status == Event.Status.DONE, event.last_error
        # Users reached only on email get a row born hidden (their in-app is off).
        assert event.notification_count >= len(expected)
        rows = list(
            Notification.objects.filter(
                meta_data__event=event.pk, dismissed_at__isnull=True
            ).values_list("recipient_id", flat=True)
        )
        assert sorted(rows) == sorted(expected)


def test_end_to_end_example(
    per_event_members, make_org, make_user, make_team, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """One hand-written world through emit() and processing: each way into and out of
    the audience once."""
    org = make_org()
    (explicit, manual_on, manual_off, ruled, ruled_off, team_member, muted, expired_mute,
     inactive, scoped_other) = [make_user(org=org) for _ in range(10)]  # fmt: skip
    inactive.is_active = False
    inactive.save()
    group = Group.objects.create(name="g")
    group.user_set.set([manual_off, ruled, muted, inactive])
    quiet_group = Group.objects.create(name="q")
    quiet_group.user_set.set([ruled_off])
    team = make_team(org, members=[team_member, inactive])
    other_team = make_team(org)

    high = SubscriptionRule.objects.create(name="high", notification_type=TYPE, priority=5)
    GroupCriterion.objects.create(rule=high, group=group)
    DynamicCriterion.objects.create(rule=high, name=PER_EVENT_FN, evaluate_per_event=True)
    quiet = SubscriptionRule.objects.create(
        name="quiet", notification_type=TYPE, priority=1, in_app_enabled=False
    )
    GroupCriterion.objects.create(rule=quiet, group=quiet_group)
    Subscription.objects.create(user=manual_on, notification_type=TYPE)
    # A manual global subscription with in-app off beats the rule that matches the user.
    Subscription.objects.create(user=manual_off, notification_type=TYPE, in_app_enabled=False)
    Subscription.objects.create(user=scoped_other, notification_type=TYPE, **_entity(other_team))
    OptOut.objects.create(user=muted, notification_type=TYPE, **_entity(team))
    OptOut.objects.create(
        user=expired_mute, notification_type=TYPE, until=timezone.now() - timedelta(minutes=1)
    )
    Subscription.objects.create(user=expired_mute, notification_type=TYPE, **_entity(team))

    assert sync_type(TYPE) == {"created": 3, "updated": 0, "deleted": 0}  # ruled, muted, ruled_off
    assert sync_type(TYPE) == {"created": 0, "updated": 0, "deleted": 0}
    expected = {explicit.pk, manual_on.pk, ruled.pk, team_member.pk, expired_mute.pk}
    found = audience.resolve(TYPE, target=team, recipients=[explicit, inactive], channel="in_app")
    assert set(found) == expected
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(TYPE, target=team, recipients=[explicit, inactive.pk], context={"team": "x"})
    event.refresh_from_db()
    assert (event.status, event.notification_count) == (Event.Status.DONE, len(expected))
    rows = Notification.objects.filter(meta_data__event=event.pk)
    assert sorted(rows.values_list("recipient_id", flat=True)) == sorted(expected)
    assert all(r.target == team for r in rows)
