"""Property tests: the feed and the per-user read state against a plain-Python model.

Every example builds a random world (2-3 organizations, users with random roles,
teams with random members and random team access), sends a random list of
notifications through the public entry points, and compares what the package
answers with a naive reference computed from what was sent:

    visible(u) = direct to u ∪ rows of u's member teams ∪ u's organization's global
                 ∪ system-global, minus expired, minus what u dismissed

Some sends come from a random user of the world (any role, staff or not, any
organization) to random targets (any organization): whether the package allows or
refuses them is compared with :func:`reference_refusals`, a plain-Python reading of
the sender rules written without looking at ``django_notify.policy``.

The database is not reset between hypothesis examples (pytest-django's ``db``
fixture wraps the whole test), so each example runs in its own savepoint that is
always rolled back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_notify import (
    NotVisible,
    SendRefused,
    get_notification_model,
    notify,
    send,
    send_system,
    send_to_self,
    signals,
)
from django_notify.feed_checks import visible_per_user
from django_notify.models import NotificationReceipt
from django_notify.tenancy import Role
from django_notify.types import Origin, Scope
from tests.support.visibility_reference import feed_rows, reference_feed

pytestmark = pytest.mark.django_db

ROLES = [Role.LIGHT_USER, Role.DEV_USER, Role.ORG_ADMIN]
#: Figures printed at the end of the module (run with -s).
STATS: Counter = Counter()
PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    yield
    if STATS:
        print("\n[properties] " + ", ".join(f"{k}={v}" for k, v in sorted(STATS.items())))


# --- the world ---------------------------------------------------------------------


@dataclass
class Row:
    """What the test meant to send, independent of how the package stored it."""

    pk: Any
    kind: str  # "user" | "team" | "org" | "system"
    uid: Any = None
    team: int | None = None
    org: int | None = None  # the organization the row belongs to (None for system)
    expired: bool = False
    system_origin: bool = False


@dataclass
class World:
    orgs: list = field(default_factory=list)
    users: list = field(default_factory=list)
    user_org: dict = field(default_factory=dict)  # uid -> org index | None
    admins: dict = field(default_factory=dict)  # org index -> admin user
    system_senders: list = field(default_factory=list)
    teams: list = field(default_factory=list)
    team_org: list = field(default_factory=list)
    team_members: list = field(default_factory=list)  # list[set[uid]]
    team_access: list = field(default_factory=list)  # list[set[uid]]: shared_with only
    role: dict = field(default_factory=dict)  # uid -> Role | None (no organization)
    staff: set = field(default_factory=set)  # uids that are staff or superuser
    rows: list = field(default_factory=list)
    # Reference per-user state: {(uid, pk)}.
    read: set = field(default_factory=set)
    dismissed: set = field(default_factory=set)

    def users_of(self, org: int) -> list:
        return [u for u in self.users if self.user_org[u.pk] == org]

    def org_key(self, user) -> str:
        org = self.user_org[user.pk]
        return "" if org is None else str(self.orgs[org].pk)

    # The reference, in plain Python.
    def addressed(self, user, row: Row) -> bool:
        if row.kind == "user":
            return row.uid == user.pk
        if row.kind == "team":
            return user.pk in self.team_members[row.team]
        if row.kind == "org":
            return self.user_org[user.pk] == row.org
        return row.kind == "system"

    def addressed_rows(self, user) -> set:
        """Unexpired rows addressed to the user, dismissed or not: the rows the user may
        dismiss (a second dismiss is a quiet no-op). Read state needs :meth:`visible`."""
        return {r.pk for r in self.rows if self.addressed(user, r) and not r.expired}

    def visible(self, user) -> set:
        return {pk for pk in self.addressed_rows(user) if (user.pk, pk) not in self.dismissed}

    def unread(self, user) -> set:
        return {pk for pk in self.visible(user) if (user.pk, pk) not in self.read}


def _rolled_back():
    """A savepoint that is always rolled back, so every example starts clean."""

    class _Ctx:
        def __enter__(self):
            self.atomic = transaction.atomic()
            self.atomic.__enter__()

        def __exit__(self, *exc):
            transaction.set_rollback(True)
            return self.atomic.__exit__(*exc)

    return _Ctx()


def build_world(data, make_org, make_user, make_team) -> World:
    w = World()
    n_orgs = data.draw(st.integers(2, 3), label="organizations")
    for o in range(n_orgs):
        org = make_org()
        w.orgs.append(org)
        admin = make_user(Role.ORG_ADMIN, org)
        w.users.append(admin)
        w.user_org[admin.pk] = o
        w.role[admin.pk] = Role.ORG_ADMIN
        w.admins[o] = admin
        for role in data.draw(st.lists(st.sampled_from(ROLES), max_size=3), label=f"org{o} users"):
            user = make_user(role, org)
            w.users.append(user)
            w.user_org[user.pk] = o
            w.role[user.pk] = role
    # A user with no organization sees direct, team and system rows only.
    if data.draw(st.booleans(), label="orphan user"):
        orphan = make_user(org=False)
        w.users.append(orphan)
        w.user_org[orphan.pk] = None
        w.role[orphan.pk] = None
    # The system sender: staff or superuser, member of some organization, any role.
    o = data.draw(st.integers(0, n_orgs - 1), label="system sender org")
    kind = data.draw(st.sampled_from(["staff", "superuser"]), label="system sender kind")
    role = data.draw(st.sampled_from(ROLES), label="system sender role")
    sysuser = make_user(role, w.orgs[o], staff=kind == "staff", superuser=kind == "superuser")
    w.users.append(sysuser)
    w.user_org[sysuser.pk] = o
    w.role[sysuser.pk] = role
    w.staff.add(sysuser.pk)
    w.system_senders.append(sysuser)

    for t in range(data.draw(st.integers(0, 4), label="teams")):
        o = data.draw(st.integers(0, n_orgs - 1), label=f"team{t} org")
        local = w.users_of(o)
        members = data.draw(st.sets(st.sampled_from(local)), label=f"team{t} members")
        # Team access is any user (even another organization's): it allows sending,
        # it never makes the team's rows visible.
        shared = data.draw(st.sets(st.sampled_from(w.users)), label=f"team{t} shared_with")
        team = make_team(w.orgs[o], members=members, shared_with=shared - members)
        w.teams.append(team)
        w.team_org.append(o)
        w.team_members.append({u.pk for u in members})
        w.team_access.append({u.pk for u in shared})
    return w


# --- the sender rules, in plain Python -----------------------------------------------


def reference_refusals(w: World, sender, path: str, users=(), teams=(), org_wide=False) -> set:
    """Every sender rule a send breaks (empty: allowed). Written from the rules as stated:

    - system notifications: only staff or superusers; they may address anyone;
    - organization notifications: the sender belongs to an organization, targeted
      users and teams belong to that same organization;
    - staff, superusers and ORG_ADMINs may then send anything in their organization,
      including to the whole organization; nobody else may notify the whole organization;
    - LIGHT_USER: only themselves, never a team;
    - DEV_USER: themselves, members of teams they belong to or can access, and the
      teams they belong to or can access.

    ``users`` are uids, ``teams`` team indexes.
    """
    me = sender.pk
    staff = me in w.staff
    if path == "system":
        return set() if staff else {"system.staff_only"}
    org = w.user_org[me]
    if org is None:
        return {"organization.sender_member"}
    broken = set()
    if any(w.user_org[u] != org for u in users):
        broken.add("organization.same_organization_user")
    if any(w.team_org[t] != org for t in teams):
        broken.add("organization.same_organization_team")
    role = w.role[me]
    if staff or role == Role.ORG_ADMIN:
        return broken
    if org_wide:
        broken.add("organization.global_admin_only")
    others = [u for u in users if u != me]
    if role == Role.DEV_USER:
        mine = {t for t in range(len(w.teams)) if me in w.team_members[t] or me in w.team_access[t]}
        reachable = set().union(*(w.team_members[t] for t in mine))
        if any(t not in mine for t in teams):
            broken.add("dev_user.accessible_teams_only")
        if any(u not in reachable for u in others):
            broken.add("dev_user.team_members_only")
    else:  # LIGHT_USER, and anything that is not a known role
        if teams:
            broken.add("light_user.no_teams")
        if others:
            broken.add("light_user.self_only")
    return broken


RANDOM_SENDER_KINDS = [
    "any_user",
    "any_user_ids",
    "any_team",
    "any_team_ids",
    "any_org",
    "any_self",
    "any_system",
    "any_system_user",
]


def random_sender_send(data, w: World, i: int, kind: str, title: str, expires_at, expired):
    """A send by a random user to random targets; returns the rows made (none if the
    reference says the send must be refused, which is then checked)."""
    sender = data.draw(st.sampled_from(w.users), label=f"send{i} sender")
    users: list = []
    teams: list = []
    kw: dict = {"title": title, "expires_at": expires_at}
    path = "system" if kind.startswith("any_system") else "send"
    if kind == "any_user" or kind == "any_system_user":
        users = [data.draw(st.sampled_from(w.users), label=f"send{i} target").pk]
        kw["target_user"] = users[0]
    elif kind == "any_user_ids":
        targets = data.draw(
            st.lists(st.sampled_from(w.users), min_size=1, max_size=3, unique=True),
            label=f"send{i} targets",
        )
        users = [u.pk for u in targets]
        kw["user_ids"] = users
    elif kind == "any_self":
        users = [sender.pk]
    elif kind in ("any_team", "any_team_ids"):
        n = len(w.teams)
        teams = data.draw(
            st.lists(st.integers(0, n - 1), min_size=1, max_size=1 if kind == "any_team" else 3,
                     unique=True),
            label=f"send{i} teams",
        )  # fmt: skip
        if kind == "any_team":
            kw["target_team"] = w.teams[teams[0]]
        else:
            kw["team_ids"] = [w.teams[t].pk for t in teams]
    elif kind == "any_org":
        kw["is_global"] = True
    if path == "system":
        kw.setdefault("is_global", kind == "any_system")
    broken = reference_refusals(w, sender, path, users, teams, org_wide=kind == "any_org")
    call = {"send": send, "system": send_system}[path]
    if kind == "any_self":
        call = send_to_self
    before = get_notification_model().objects.count()
    if broken:
        with pytest.raises(SendRefused) as info:
            call(sender, **kw)
        assert info.value.code in broken, (kind, info.value.code, broken)
        assert get_notification_model().objects.count() == before, "a refused send wrote rows"
        STATS["random sender refused"] += 1
        return []
    try:
        created = call(sender, **kw)
    except SendRefused as exc:  # pragma: no cover - the assertion explains
        raise AssertionError(
            f"{kind} by {sender} refused with {exc.code}; the reference allows it"
        ) from exc
    STATS["random sender allowed"] += 1
    system = path == "system"
    if kind == "any_system":
        return [Row(created[0].pk, "system", expired=expired, system_origin=True)]
    if kind == "any_org":
        return [Row(created[0].pk, "org", org=w.user_org[sender.pk], expired=expired)]
    if teams:
        assert [c.team_key for c in created] == [str(w.teams[t].pk) for t in teams]
        return [
            Row(c.pk, "team", team=t, org=w.team_org[t], expired=expired, system_origin=system)
            for c, t in zip(created, teams, strict=True)
        ]
    assert [c.recipient_id for c in created] == users
    return [
        Row(c.pk, "user", uid=u, org=w.user_org[u], expired=expired, system_origin=system)
        for c, u in zip(created, users, strict=True)
    ]


EXPIRY = st.sampled_from([None, None, None, "past", "future"])
SEND_KINDS = [
    "notify",
    "send_user",
    "send_user_ids",
    "send_team",
    "send_team_ids",
    "send_org",
    "send_self",
    "system_global",
    "system_user",
    "system_team",
    *RANDOM_SENDER_KINDS,
]


def do_sends(data, w: World, max_sends: int = 10) -> None:
    now = timezone.now()
    n_sends = data.draw(st.integers(1, max_sends), label="sends")
    for i in range(n_sends):
        kind = data.draw(st.sampled_from(SEND_KINDS), label=f"send{i}")
        if kind in ("send_team", "send_team_ids", "system_team") and not w.teams:
            kind = "send_org"
        if kind in ("any_team", "any_team_ids") and not w.teams:
            kind = "any_org"
        expiry = data.draw(EXPIRY, label=f"send{i} expiry")
        expires_at = {
            None: None,
            "past": now - timedelta(hours=1),
            "future": now + timedelta(hours=1),
        }[expiry]
        expired = expiry == "past"
        title = f"n{i}-{kind}"
        made: list[Row] = []
        if kind in RANDOM_SENDER_KINDS:
            made = random_sender_send(data, w, i, kind, title, expires_at, expired)
            w.rows.extend(made)
            continue
        if kind == "notify":
            users = data.draw(
                st.lists(st.sampled_from(w.users), min_size=1, max_size=4, unique=True)
            )
            created = notify(users, title=title, expires_at=expires_at)
            assert [c.recipient_id for c in created] == [u.pk for u in users]
            made = [
                Row(c.pk, "user", uid=u.pk, org=w.user_org[u.pk], expired=expired)
                for c, u in zip(created, users, strict=True)
            ]
        elif kind in ("send_user", "send_user_ids", "send_team", "send_team_ids", "send_org"):
            o = data.draw(st.integers(0, len(w.orgs) - 1), label=f"send{i} org")
            admin = w.admins[o]
            if kind == "send_org":
                created = send(admin, title=title, is_global=True, expires_at=expires_at)
                made = [Row(created[0].pk, "org", org=o, expired=expired)]
            elif kind in ("send_user", "send_user_ids"):
                local = w.users_of(o)
                if kind == "send_user":
                    targets = [data.draw(st.sampled_from(local))]
                    created = send(
                        admin, title=title, target_user=targets[0], expires_at=expires_at
                    )
                else:
                    targets = data.draw(st.lists(st.sampled_from(local), min_size=1, unique=True))
                    created = send(
                        admin, title=title, user_ids=[u.pk for u in targets], expires_at=expires_at
                    )
                made = [
                    Row(c.pk, "user", uid=u.pk, org=o, expired=expired)
                    for c, u in zip(created, targets, strict=True)
                ]
            else:
                local = [t for t, to in enumerate(w.team_org) if to == o]
                if not local:
                    created = send(admin, title=title, is_global=True, expires_at=expires_at)
                    made = [Row(created[0].pk, "org", org=o, expired=expired)]
                elif kind == "send_team":
                    t = data.draw(st.sampled_from(local))
                    created = send(
                        admin, title=title, target_team=w.teams[t], expires_at=expires_at
                    )
                    made = [Row(created[0].pk, "team", team=t, org=o, expired=expired)]
                else:
                    ts = data.draw(st.lists(st.sampled_from(local), min_size=1, unique=True))
                    created = send(
                        admin,
                        title=title,
                        team_ids=[w.teams[t].pk for t in ts],
                        expires_at=expires_at,
                    )
                    made = [
                        Row(c.pk, "team", team=t, org=o, expired=expired)
                        for c, t in zip(created, ts, strict=True)
                    ]
        elif kind == "send_self":
            members = [u for u in w.users if w.user_org[u.pk] is not None]
            user = data.draw(st.sampled_from(members))
            created = send_to_self(user, title=title, expires_at=expires_at)
            made = [
                Row(created[0].pk, "user", uid=user.pk, org=w.user_org[user.pk], expired=expired)
            ]
        else:
            sender = w.system_senders[0]
            if kind == "system_global":
                created = send_system(sender, title=title, expires_at=expires_at)
                made = [Row(created[0].pk, "system", expired=expired, system_origin=True)]
            elif kind == "system_user":
                # System rules: any organization.
                user = data.draw(st.sampled_from(w.users))
                created = send_system(
                    sender, title=title, is_global=False, target_user=user, expires_at=expires_at
                )
                made = [
                    Row(
                        created[0].pk,
                        "user",
                        uid=user.pk,
                        org=w.user_org[user.pk],
                        expired=expired,
                        system_origin=True,
                    )
                ]
            else:
                t = data.draw(st.integers(0, len(w.teams) - 1))
                created = send_system(
                    sender,
                    title=title,
                    is_global=False,
                    target_team=w.teams[t],
                    expires_at=expires_at,
                )
                made = [
                    Row(
                        created[0].pk,
                        "team",
                        team=t,
                        org=w.team_org[t],
                        expired=expired,
                        system_origin=True,
                    )
                ]
        assert len(created) == len(made), kind
        w.rows.extend(made)


# --- checks ------------------------------------------------------------------------


def check_feeds(w: World, Notification) -> None:
    """(a) the feed equals the reference, (b) no cross-organization leak."""
    rows = {r.pk: r for r in w.rows}
    STATS["feeds checked"] += len(w.users)
    STATS["rows sent"] += len(w.rows)
    for user in w.users:
        feed = list(Notification.objects.visible_to(user))
        got = [n.pk for n in feed]
        assert len(got) == len(set(got)), f"duplicate rows in the feed of {user}"
        expected = w.visible(user)
        assert set(got) == expected, (
            f"{user} (org {w.user_org[user.pk]}): extra {sorted(set(got) - expected)}, "
            f"missing {sorted(expected - set(got))}"
        )
        # Newest first, ties broken by id.
        keys = [(n.created_at, n.pk) for n in feed]
        assert keys == sorted(keys, reverse=True)
        # Read state as annotated on the feed.
        for n in feed:
            assert (n.user_read_at is not None) == ((user.pk, n.pk) in w.read), (user, n.pk)
        check_against_reference(Notification, user)
        # (b) Whatever the reference says: a non-system row is never another org's.
        for n in feed:
            meant = rows[n.pk]
            if meant.system_origin or n.scope == Scope.SYSTEM:
                continue
            assert n.origin == Origin.ORGANIZATION
            assert meant.org == w.user_org[user.pk], (user, meant)
            assert n.organization_key == w.org_key(user), (user, n.pk, n.organization_key)
    check_many_users(w, Notification)


def check_many_users(w: World, Notification) -> None:
    """(c) ``visible_per_user``, every user in one call (what a broadcast's wake-up of a
    process's streams asks), against the reference: each user's visible rows among the
    ids, and the unread count for users who see one of them or were asked for it
    (every other user here)."""
    ids = [r.pk for r in w.rows]
    asked = {u.pk for u in w.users[::2]}
    answers = visible_per_user(Notification, w.users, ids, counts_for=asked)
    assert set(answers) == {u.pk for u in w.users}
    for user in w.users:
        answer = answers[user.pk]
        rows = {pk: created_at for pk, created_at in answer.rows}
        assert len(rows) == len(answer.rows), f"duplicate rows for {user}"
        assert set(rows) == w.visible(user) & set(ids), user
        created = dict(Notification.objects.filter(pk__in=rows).values_list("pk", "created_at"))
        assert rows == created
        if rows or user.pk in asked:
            assert answer.count == len(w.unread(user)), user
        else:
            assert answer.count is None, user
    STATS["many-user checks"] += 1


def check_against_reference(Notification, user) -> None:
    """The per-branch queries return exactly what the single-``OR`` definition returns:
    the feed in order with its read state, the unread part, the count, the rows
    addressed to the user, and keyset pages (three cursors along the feed)."""
    manager = Notification.objects
    reference = reference_feed(Notification, user)
    expected = feed_rows(reference)
    assert feed_rows(manager.visible_to(user)) == expected
    unread = [row for row in expected if not row[2]]
    assert feed_rows(manager.unread(user)) == unread
    assert feed_rows(manager.visible_to(user).unread()) == unread
    assert feed_rows(manager.read(user)) == [row for row in expected if row[2]]
    assert manager.unread_count(user) == len(unread)
    assert manager.visible_to(user).count() == len(expected)
    assert manager.visible_to(user).unread().count() == len(unread)
    addressed = feed_rows(reference_feed(Notification, user, with_dismissed=True))
    assert sorted(feed_rows(manager.addressed_to(user))) == sorted(addressed)
    for pk, created_at, _read in expected[:: max(1, len(expected) // 3)]:
        page = manager.visible_to(user).after(created_at, pk)
        older = Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        assert feed_rows(page) == feed_rows(reference.filter(older))
        assert feed_rows(page.unread()[:2]) == [r for r in feed_rows(page) if not r[2]][:2]
    STATS["reference comparisons"] += 1


def snapshot(Notification) -> tuple[set, set]:
    receipts = set(
        NotificationReceipt.objects.values_list(
            "notification_id", "user_id", "read_at", "dismissed_at"
        )
    )
    direct = set(
        Notification.objects.filter(scope=Scope.USER).values_list(
            "pk", "recipient_id", "read_at", "dismissed_at"
        )
    )
    return receipts, direct


def others_state(snap: tuple[set, set], uid) -> tuple[set, set]:
    receipts, direct = snap
    return {r for r in receipts if r[1] != uid}, {d for d in direct if d[1] != uid}


# --- the tests ---------------------------------------------------------------------


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_feed_matches_reference(data, make_org, make_user, make_team, Notification):
    """(a) visible_to(u) == reference for every user; (b) no cross-organization rows."""
    with _rolled_back():
        w = build_world(data, make_org, make_user, make_team)
        do_sends(data, w, max_sends=12)
        check_feeds(w, Notification)
        for user in w.users:
            assert Notification.objects.unread_count(user) == len(w.unread(user))


OPS = ["mark_read", "mark_read", "dismiss", "mark_unread", "mark_all_read", "dismiss_all",
       "mark_read_many", "dismiss_many"]  # fmt: skip


@settings(PROPERTY_SETTINGS, max_examples=25)
@given(data=st.data())
def test_read_state_sequence(data, make_org, make_user, make_team, Notification):
    """(c) random read/dismiss actions: counts match, rows not addressed to the user (or
    expired) are refused with NotVisible and untouched, a no-op changes nothing, signals
    fire once per real change, and one user's actions never change another user's
    state. A dismissed row can no longer be marked read or unread (NotVisible), but a
    second dismiss is a quiet no-op."""
    fired: list[tuple[str, Any, Any]] = []

    def on_read(sender, notification, user, **kw):
        fired.append(("read_at", notification.pk, user.pk))

    def on_dismiss(sender, notification, user, **kw):
        fired.append(("dismissed_at", notification.pk, user.pk))

    def on_bulk(field_name):
        def receiver(sender, notification_ids, user, **kw):
            fired.extend((field_name, pk, user.pk) for pk in notification_ids)

        return receiver

    on_bulk_read, on_bulk_dismiss = on_bulk("read_at"), on_bulk("dismissed_at")
    signals.notification_read.connect(on_read, weak=False)
    signals.notification_dismissed.connect(on_dismiss, weak=False)
    signals.notifications_read.connect(on_bulk_read, weak=False)
    signals.notifications_dismissed.connect(on_bulk_dismiss, weak=False)
    try:
        with _rolled_back():
            w = build_world(data, make_org, make_user, make_team)
            do_sends(data, w, max_sends=8)
            n_ops = data.draw(st.integers(1, 15), label="ops")
            for i in range(n_ops):
                op = data.draw(st.sampled_from(OPS), label=f"op{i}")
                user = data.draw(st.sampled_from(w.users), label=f"op{i} user")
                before = snapshot(Notification)
                fired.clear()
                STATS[f"op {op}"] += 1
                visible = w.visible(user)
                if op in ("mark_all_read", "dismiss_all"):
                    if op == "mark_all_read":
                        expected = w.unread(user)
                        changed = Notification.objects.mark_all_read(user)
                        w.read |= {(user.pk, pk) for pk in expected}
                        field_name = "read_at"
                    else:
                        expected = visible
                        changed = Notification.objects.dismiss_all(user)
                        w.dismissed |= {(user.pk, pk) for pk in expected}
                        field_name = "dismissed_at"
                    assert changed == len(expected), (op, changed, expected)
                    assert sorted(fired) == sorted((field_name, pk, user.pk) for pk in expected)
                elif op in ("mark_read_many", "dismiss_many"):
                    # Any ids, the user's or not: only the user's rows still in the old
                    # state change; the rest are left alone.
                    everyone = [r.pk for r in w.rows]
                    ids = (
                        data.draw(st.lists(st.sampled_from(everyone), max_size=6), label="ids")
                        if everyone
                        else []
                    )
                    if op == "mark_read_many":
                        expected = w.unread(user) & set(ids)
                        changed = Notification.objects.mark_read_many(user, ids)
                        w.read |= {(user.pk, pk) for pk in expected}
                        field_name = "read_at"
                    else:
                        expected = visible & set(ids)
                        changed = Notification.objects.dismiss_many(user, ids)
                        w.dismissed |= {(user.pk, pk) for pk in expected}
                        field_name = "dismissed_at"
                    assert changed == len(expected), (op, changed, expected)
                    assert sorted(fired) == sorted((field_name, pk, user.pk) for pk in expected)
                else:
                    addressed = w.addressed_rows(user)
                    actionable = addressed if op == "dismiss" else visible
                    pools = [sorted(visible), sorted(addressed - visible), [r.pk for r in w.rows]]
                    pools = [p for p in pools if p]
                    if not pools:  # every send was refused: nothing to act on
                        continue
                    pool = data.draw(st.sampled_from(pools), label=f"op{i} pool")
                    pk = data.draw(st.sampled_from(pool), label=f"op{i} row")
                    row = Notification.objects.get(pk=pk)
                    method = getattr(row, op)
                    if pk not in actionable:
                        # Not addressed to the user, expired, or (read state) dismissed.
                        with pytest.raises(NotVisible):
                            method(user)
                        STATS["refused (NotVisible)"] += 1
                        if pk in addressed:
                            STATS["refused (NotVisible, dismissed)"] += 1
                        assert snapshot(Notification) == before, (
                            f"{op} on invisible row changed state"
                        )
                        assert fired == []
                        continue
                    was_read = (user.pk, pk) in w.read
                    was_dismissed = (user.pk, pk) in w.dismissed
                    result = method(user)
                    if op == "mark_read":
                        assert result is (not was_read)
                        w.read.add((user.pk, pk))
                        assert fired == ([] if was_read else [("read_at", pk, user.pk)])
                    elif op == "mark_unread":
                        assert result is was_read
                        w.read.discard((user.pk, pk))
                        assert fired == []
                    else:
                        assert result is (not was_dismissed)
                        w.dismissed.add((user.pk, pk))
                        assert fired == ([] if was_dismissed else [("dismissed_at", pk, user.pk)])
                    if result is False:
                        assert snapshot(Notification) == before, f"{op} said no change but changed"
                after = snapshot(Notification)
                assert others_state(after, user.pk) == others_state(before, user.pk), (
                    f"{op} by {user} changed another user's state"
                )
                feed = set(Notification.objects.visible_to(user).values_list("pk", flat=True))
                assert feed == w.visible(user), (op, user)
                for u in w.users:
                    assert Notification.objects.unread_count(u) == len(w.unread(u)), (op, u)
            check_feeds(w, Notification)
    finally:
        signals.notification_read.disconnect(on_read)
        signals.notification_dismissed.disconnect(on_dismiss)
        signals.notifications_read.disconnect(on_bulk_read)
        signals.notifications_dismissed.disconnect(on_bulk_dismiss)
