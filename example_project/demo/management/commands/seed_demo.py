"""``manage.py seed_demo``: the demo organizations, teams, users and notifications."""

from channels_demo.seed import seed_channels
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from demo.seed import ALERTS, JOBS, ORGANIZATIONS, PARTICIPANTS, PASSWORD, RULES, USERS, seed
from django_notify import SendRefused


class Command(BaseCommand):
    help = (
        "Create the demo organizations (Acme, Globex), teams, one user per role and sample "
        "notifications of every scope, plus jobs, phases, the subscription rules that "
        "follow them and platform alerts. Safe to run again: existing data is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help=f'Set every demo user\'s password back to "{PASSWORD}".',
        )

    def handle(self, *args, reset_passwords=False, **options):
        try:
            result = seed(reset_passwords=reset_passwords)
        except (SendRefused, ValidationError) as exc:
            raise CommandError(f"Seeding failed, nothing was written: {exc}") from exc
        teams = sum(len(names) for names in ORGANIZATIONS.values())
        summary = (
            f"Demo data ready: {len(ORGANIZATIONS)} organizations, {teams} teams, "
            f"{len(USERS)} users ({result.created_users} new), "
            f"{result.created_notifications} notifications created"
        )
        if result.skipped_samples:
            summary += f" ({result.skipped_samples} samples were already there)"
        self.stdout.write(self.style.SUCCESS(summary + "."))
        self.stdout.write(
            f"Jobs: {len(JOBS)} ({result.created_jobs} new); subscription rules: {len(RULES)} "
            f"({result.created_rules} new). Change a job's status on /jobs/ as its account "
            "manager or a staff user."
        )
        self.stdout.write(
            f"Platform alerts: {len(ALERTS)} ({result.created_alerts} new), on the Alerts tab "
            "of /notifications/ for staff."
        )
        self.stdout.write(
            f"Portal participants: {', '.join(PARTICIPANTS)}; staff post announcements on "
            "/portal/ and raise alerts on /alerts/. The tour is on / before logging in."
        )
        self.stdout.write(seed_channels())
        self.stdout.write(f'Demo logins (password "{PASSWORD}"):')
        for user in USERS:
            self.stdout.write(
                f"  {user.username:<9} {user.kind:<23} {user.organization:<7} {user.notes}"
            )
        if result.created_users < len(USERS) and not reset_passwords:
            self.stdout.write("  Existing users keep their password; --reset-passwords resets it.")
