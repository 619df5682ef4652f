"""Demo data: two organizations, their teams, one user per role, sample notifications, and
CHAOTICA's jobs and phases with the subscription rules that follow them (job and phase
status, leave, client onboarding), platform alerts for the staff-only Alerts tab of the
notification centre, the portal's participants, and the staff user's admin permissions.

Every sample goes through the package's public API (``send``, ``send_to_self``,
``send_system``, ``notify``) with a real sender, so seeding exercises the same sender
rules as the site. Each sample carries ``meta_data["seed"]``; a second run skips the
samples that exist, so :func:`seed` is idempotent. Rules are found by name and jobs and
phases by title, and only the missing ones are created, through the ORM so that the hooks
in ``jobs/notifications.py`` emit their events (the rules are created first, in the same
transaction, so their subscriptions exist when those events are processed on commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone
from jobs.models import Job, JobRoleCriterion, Phase, PhaseRoleCriterion
from organizations.models import Membership, Organization, Team
from portal.models import PARTICIPANTS_GROUP

from django_notify import Priority, get_notification_model, notify
from django_notify.models import PlatformAlert
from django_notify.rules import OrganizationRoleCriterion, StaffCriterion, SubscriptionRule
from django_notify.tenancy import Role

PASSWORD = "demo"

ORGANIZATIONS = {"Acme": ["Research", "Ops"], "Globex": ["Sales"]}


@dataclass(frozen=True)
class DemoUser:
    username: str
    organization: str
    role: Role
    teams: tuple[str, ...] = ()
    shared_teams: tuple[str, ...] = ()
    is_staff: bool = False
    is_superuser: bool = False
    notes: str = ""

    @property
    def kind(self) -> str:
        if self.is_superuser:
            return f"{self.role.value} + superuser"
        if self.is_staff:
            return f"{self.role.value} + staff"
        return self.role.value


USERS = [
    DemoUser("light", "Acme", Role.LIGHT_USER, notes="can only notify themselves"),
    DemoUser(
        "dev",
        "Acme",
        Role.DEV_USER,
        teams=("Research",),
        shared_teams=("Ops",),
        notes="member of Research; Ops is shared with them",
    ),
    DemoUser("orgadmin", "Acme", Role.ORG_ADMIN, teams=("Ops",), notes="can notify all of Acme"),
    DemoUser(
        "staff",
        "Acme",
        Role.DEV_USER,
        teams=("Ops",),
        is_staff=True,
        notes="may send system notifications, post announcements, raise alerts",
    ),
    DemoUser(
        "admin",
        "Acme",
        Role.ORG_ADMIN,
        teams=("Research",),
        is_staff=True,
        is_superuser=True,
        notes="superuser; can use /admin/",
    ),
    DemoUser("globex", "Globex", Role.DEV_USER, teams=("Sales",), notes="the other organization"),
]


@dataclass
class Sample:
    """One call to the package API, by a named sender, to named users and teams."""

    key: str
    method: str  # "send", "send_to_self", "send_system" or "notify" (no sender)
    sender: str | None
    age: timedelta
    kwargs: dict
    read_by: tuple[str, ...] = ()

    def run(self, users: dict, teams: dict, **extra) -> list:
        Notification = get_notification_model()
        kwargs = {**self.kwargs, **extra}
        for name in ("target_user", "recipients"):
            if name in kwargs:
                kwargs[name] = users[kwargs[name]]
        if "target_team" in kwargs:
            kwargs["target_team"] = teams[kwargs["target_team"]]
        if "user_ids" in kwargs:
            kwargs["user_ids"] = [users[name].pk for name in kwargs["user_ids"]]
        if "team_ids" in kwargs:
            kwargs["team_ids"] = [teams[name].pk for name in kwargs["team_ids"]]
        if self.method == "notify":
            return notify([kwargs.pop("recipients")], **kwargs)
        return getattr(Notification, self.method)(users[self.sender], **kwargs)


def sample(key, method, sender, age, *, read_by=(), **kwargs) -> Sample:
    return Sample(key, method, sender, age, kwargs, read_by)


H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)

SAMPLES = [
    # system-global: one row that every user sees
    sample(
        "maintenance", "send_system", "staff", 2 * H, is_global=True, type="IM",
        priority=Priority.HIGH, title="Planned maintenance tonight",
        description="<p>The platform is read-only from <b>22:00 UTC</b> for about 30 minutes.</p>",
    ),
    # organization-global: one row for everyone in Acme
    sample(
        "welcome-acme", "send", "orgadmin", 3 * D, is_global=True, type="SU",
        title="Welcome to Acme", description="Everyone at Acme sees this one row.",
        read_by=("orgadmin",),
    ),
    # team rows: one row per team, seen by its members
    sample(
        "research-review", "send", "dev", 5 * H, target_team="Research",
        priority=Priority.HIGH, title="Model review required",
        description="A new model version is ready for review.",
    ),
    sample(
        "ops-freeze", "send", "orgadmin", 1 * D, target_team="Ops", type="WA",
        title="Deploy freeze from Friday", description="No deploys from Friday 18:00 to Monday.",
    ),
    sample(
        "sales-reports", "send_system", "staff", 6 * H, is_global=False, team_ids=["Sales"],
        type="WA", title="Quarter-end: Sales reports due",
        description="A system notification addressed to one Globex team.",
    ),
    # direct rows: one row per user
    sample(
        "dataset-ready", "send", "orgadmin", 30 * M, target_user="dev", type="SU",
        title="Dataset ready", description="The dataset finished loading.",
    ),
    sample(
        "quarterly-review", "send", "admin", 1 * H, user_ids=["light", "dev", "orgadmin"],
        type="IM", priority=Priority.CRITICAL, action_required=True,
        title="Quarterly review window is open",
        description="One row per user: each of you confirms by Friday.",
    ),
    sample(
        "runbook-question", "send", "dev", 4 * H, target_user="orgadmin",
        title="Question about the Ops runbook",
        description="dev may write to Ops members because Ops is shared with them.",
    ),
    sample(
        "backup-failed", "send_system", "staff", 15 * M, is_global=False, target_user="admin",
        type="ER", priority=Priority.CRITICAL, title="Backup job failed",
        description="The nightly backup exited with status 2.",
    ),
    sample(
        "light-reminder", "send_to_self", "light", 10 * M, priority=Priority.LOW,
        title="Reminder: finish onboarding",
    ),
    # a link: clicking it in the bell's dropdown marks it read and opens the page
    sample(
        "preferences-tour", "send_system", "staff", 45 * M, is_global=True, type="IN",
        title="New: choose how you are notified",
        description="<p>Pick channels, digests and quiet hours per notification type.</p>",
        url="/notifications/preferences/",
    ),
    sample(
        "globex-export", "send_to_self", "globex", 20 * M, type="SU",
        title="Pipeline export finished",
    ),
    # trusted, system-originated fan-out (no sender): enough rows for a second feed page
    *(
        sample(
            f"nightly-{n}", "notify", None, n * D, recipients="dev", type_key="build.nightly",
            level="SU", priority=Priority.LOW, title=f"Nightly build #{100 - n} passed",
            read_by=("dev",) if n > 8 else (),
        )
        for n in range(1, 25)
    ),
]  # fmt: skip


# --- platform alerts, for staff -------------------------------------------------------------
# Created directly: a demo has no failing systems to raise them. A real site calls
# django_notify.alerts.raise_alert(), which deduplicates by fingerprint.
ALERTS = [
    {
        "key": "login-burst", "alert_type": "security", "severity": "critical", "age": 20 * M,
        "title": "Burst of failed logins from one address",
        "message": "312 failed logins for 41 accounts from 203.0.113.7 in ten minutes.",
        "affected_systems": ["auth"], "affected_organizations": ["Acme"], "occurrences": 6,
    },
    {
        "key": "slow-search", "alert_type": "performance", "severity": "warning", "age": 3 * H,
        "title": "Search p95 latency above 800 ms",
        "message": "The search API's 95th percentile has been over its budget for 25 minutes.",
        "affected_systems": ["search", "api"], "occurrences": 14,
    },
    {
        "key": "crm-sync", "alert_type": "integration", "severity": "error", "age": 5 * H,
        "title": "CRM sync failing with 401",
        "message": "The CRM rejects the integration's token; contacts are not syncing.",
        "affected_systems": ["crm-sync"], "affected_organizations": ["Globex"], "occurrences": 3,
    },
    {
        "key": "disk-80", "alert_type": "capacity", "severity": "warning", "age": 1 * D,
        "title": "Database volume 80% full", "message": "db-primary: 412 GB of 512 GB used.",
        "affected_systems": ["db-primary"], "resolved_by": "staff",
        "notes": "Grew the volume to 1 TB; alert threshold unchanged.",
    },
    {
        "key": "import-rows", "alert_type": "data", "severity": "info", "age": 2 * D,
        "title": "Nightly import skipped 12 malformed rows",
        "message": "Rows 1043-1054 of contacts.csv had no e-mail address.",
        "affected_systems": ["importer"],
    },
]  # fmt: skip


def seed_alerts(users: dict) -> int:
    """The demo's platform alerts, found by fingerprint; returns how many were created."""
    now = timezone.now()
    created = 0
    existing = set(
        PlatformAlert.objects.filter(fingerprint__startswith="demo:").values_list(
            "fingerprint", flat=True
        )
    )
    for spec in ALERTS:
        fingerprint = f"demo:{spec['key']}"
        if fingerprint in existing:
            continue
        resolver = users.get(spec.get("resolved_by", ""))
        occurrences = spec.get("occurrences", 1)
        first = now - spec["age"]
        # A recurring alert was last seen halfway between its first occurrence and now.
        last = first + spec["age"] / 2 if occurrences > 1 else first
        PlatformAlert.objects.create(
            alert_type=spec["alert_type"],
            severity=spec["severity"],
            title=spec["title"],
            message=spec["message"],
            fingerprint=fingerprint,
            affected_systems=spec.get("affected_systems", []),
            affected_organizations=spec.get("affected_organizations", []),
            occurrence_count=occurrences,
            first_occurred_at=first,
            last_occurred_at=last,
            is_resolved=resolver is not None,
            resolved_at=now if resolver is not None else None,
            resolved_by=resolver,
            resolution_notes=spec.get("notes", ""),
            meta_data={"seed": spec["key"]},
        )
        created += 1
    return created


# --- jobs, phases and the rules that follow them -------------------------------------------
@dataclass(frozen=True)
class DemoRule:
    name: str
    notification_type: str
    criteria: tuple  # (criterion class, fields); "team" names a team
    priority: int = 0
    email_enabled: bool = True
    description: str = ""


RULES = [
    DemoRule(
        "Account managers hear about status changes",
        "job.status_changed",
        (
            (JobRoleCriterion, {"role": "account_manager"}),
            (JobRoleCriterion, {"role": "deputy_account_manager"}),
        ),
        description="Per event: the changed job's account manager and deputy.",
    ),
    DemoRule(
        "Everyone in Research hears about new jobs",
        "job.created",
        ((OrganizationRoleCriterion, {"team": "Research"}),),
        description="Standing: a subscription for each member of the Research team.",
    ),
    DemoRule(
        "Research org admins hear about new jobs in the app only",
        "job.created",
        ((OrganizationRoleCriterion, {"role": Role.ORG_ADMIN, "team": "Research"}),),
        priority=10,
        email_enabled=False,
        description="Wins over the Research rule for its users: their subscription has email off.",
    ),
    DemoRule(
        "Project leads follow their phases",
        "phase.status_changed",
        ((PhaseRoleCriterion, {"role": "project_lead"}),),
        description="Per event: the changed phase's project lead.",
    ),
    DemoRule(
        "Account managers hear about leave on their jobs",
        "leave.submitted",
        (
            (JobRoleCriterion, {"role": "account_manager"}),
            (JobRoleCriterion, {"role": "deputy_account_manager"}),
        ),
        description="Per event: the account manager and deputy of the job the leave affects.",
    ),
    DemoRule(
        "Account managers hear about cancelled leave",
        "leave.cancelled",
        (
            (JobRoleCriterion, {"role": "account_manager"}),
            (JobRoleCriterion, {"role": "deputy_account_manager"}),
        ),
        description="Per event: the account manager and deputy of the job the leave affected.",
    ),
    DemoRule(
        "Account managers and primary contacts hear about client onboarding",
        "client.onboarding_renewal",
        (
            (JobRoleCriterion, {"role": "account_manager"}),
            (JobRoleCriterion, {"role": "primary_poc"}),
        ),
        description="Per event: the job's account manager and its client's primary contact.",
    ),
    DemoRule(
        "Staff see completed jobs",
        "job.complete",
        ((StaffCriterion, {}),),
        description="Standing: staff and superusers, when a job moves to complete.",
    ),
]

JOBS = [
    {
        "title": "Acme external pentest",
        "organization": "Acme",
        "status": Job.Status.PENDING_SCOPING,
        "roles": {
            "account_manager": "orgadmin",
            "deputy_account_manager": "staff",
            "created_by": "admin",
            "primary_poc": "dev",
            "scoped_by": "dev",
        },
        "phases": [
            (
                "External infrastructure",
                {"project_lead": "dev", "report_author": "dev", "tqa_reviewer": "orgadmin"},
            ),
            ("Web application", {"project_lead": "staff", "pqa_reviewer": "admin"}),
        ],
    },
    {
        "title": "Acme cloud configuration review",
        "organization": "Acme",
        "status": Job.Status.SCOPING_COMPLETE,
        "roles": {
            "account_manager": "admin",
            "deputy_account_manager": "orgadmin",
            "created_by": "orgadmin",
            "scoped_by": "staff",
            "scope_signed_off_by": "admin",
        },
        "phases": [("AWS accounts", {"project_lead": "orgadmin", "report_author": "staff"})],
    },
]


def seed_rules(teams: dict) -> int:
    created_count = 0
    for spec in RULES:
        rule, created = SubscriptionRule.objects.get_or_create(
            name=spec.name,
            defaults={
                "notification_type": spec.notification_type,
                "priority": spec.priority,
                "channels": {} if spec.email_enabled else {"email": False},
                "description": spec.description,
            },
        )
        created_count += created
        if rule.criteria.exists():
            continue
        for model, fields in spec.criteria:
            fields = dict(fields)
            if "team" in fields:
                fields["team_key"] = str(teams[fields.pop("team")].pk)
            model.objects.create(rule=rule, **fields)
    return created_count


def seed_jobs(users: dict, orgs: dict) -> int:
    created_count = 0
    for spec in JOBS:
        roles = {field: users[name] for field, name in spec["roles"].items()}
        job, created = Job.objects.get_or_create(
            title=spec["title"],
            defaults={
                "organization": orgs[spec["organization"]],
                "status": spec["status"],
                **roles,
            },
        )
        created_count += created
        for title, phase_roles in spec["phases"]:
            Phase.objects.get_or_create(
                job=job,
                title=title,
                defaults={field: users[name] for field, name in phase_roles.items()},
            )
    return created_count


# --- the portal's participants and the staff user's admin permissions ------------------------
#: Who reads the portal's announcements (portal.models.PARTICIPANTS_GROUP). staff and admin
#: post them, so they are not participants.
PARTICIPANTS = ("light", "dev", "orgadmin", "globex")

#: The group that gives the staff user what the demo links it to in the admin: jobs,
#: phases and leave, the portal's announcements, platform alerts (resolving them is a
#: change) and the subscription rules (read only).
STAFF_GROUP = "Demo staff"
STAFF_PERMISSIONS = (
    "jobs.view_job",
    "jobs.change_job",
    "jobs.view_phase",
    "jobs.change_phase",
    "jobs.view_leaverequest",
    "jobs.change_leaverequest",
    "portal.add_announcement",
    "portal.change_announcement",
    "portal.view_announcement",
    "django_notify.view_platformalert",
    "django_notify.change_platformalert",
    "django_notify.add_platformalert",
    "django_notify.view_subscriptionrule",
)


def seed_groups(users: dict) -> None:
    """The participants group and the staff group, with their members; idempotent."""
    participants = Group.objects.get_or_create(name=PARTICIPANTS_GROUP)[0]
    participants.user_set.add(*(users[name] for name in PARTICIPANTS))
    staff = Group.objects.get_or_create(name=STAFF_GROUP)[0]
    wanted = {tuple(name.split(".")) for name in STAFF_PERMISSIONS}
    perms = [
        perm
        for perm in Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        ).select_related("content_type")
        if (perm.content_type.app_label, perm.codename) in wanted
    ]
    staff.permissions.add(*perms)
    staff.user_set.add(*(users[spec.username] for spec in USERS if spec.is_staff))


@dataclass
class SeedResult:
    created_users: int = 0
    created_notifications: int = 0
    skipped_samples: int = 0
    created_rules: int = 0
    created_jobs: int = 0
    created_alerts: int = 0


def seed(*, reset_passwords: bool = False) -> SeedResult:
    """Create (or complete) the demo data; safe to run any number of times."""
    result = SeedResult()
    User = get_user_model()
    Notification = get_notification_model()
    with transaction.atomic():
        orgs = {name: Organization.objects.get_or_create(name=name)[0] for name in ORGANIZATIONS}
        teams = {
            name: Team.objects.get_or_create(organization=orgs[org], name=name)[0]
            for org, names in ORGANIZATIONS.items()
            for name in names
        }
        users = {}
        for spec in USERS:
            user, created = User.objects.get_or_create(username=spec.username)
            wanted = {
                "is_staff": spec.is_staff,
                "is_superuser": spec.is_superuser,
                "is_active": True,
            }
            changed = [name for name, value in wanted.items() if getattr(user, name) != value]
            for name in changed:
                setattr(user, name, wanted[name])
            if created or reset_passwords:
                user.set_password(PASSWORD)
                user.email = f"{spec.username}@example.com"
                changed += ["password", "email"]
            if changed:
                user.save(update_fields=changed)
            result.created_users += created
            Membership.objects.update_or_create(
                user=user, defaults={"organization": orgs[spec.organization], "role": spec.role}
            )
            for name in spec.teams:
                teams[name].members.add(user)
            for name in spec.shared_teams:
                teams[name].shared_with.add(user)
            users[spec.username] = user

        existing = {
            meta.get("seed")
            for meta in Notification.objects.filter(meta_data__has_key="seed").values_list(
                "meta_data", flat=True
            )
        }
        now = timezone.now()
        for item in SAMPLES:
            if item.key in existing:
                result.skipped_samples += 1
                continue
            rows = item.run(users, teams, meta_data={"seed": item.key})
            # Spread the samples over time; senders cannot backdate, so the seed does it.
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
                created_at=now - item.age
            )
            result.created_notifications += len(rows)
            for username in item.read_by:
                for row in rows:
                    row.mark_read(users[username])

        # Rules before jobs: their syncs run first on commit, then the jobs' events.
        result.created_rules = seed_rules(teams)
        result.created_jobs = seed_jobs(users, orgs)
        result.created_alerts = seed_alerts(users)
        seed_groups(users)
    return result
