"""Raise a platform alert from cron jobs and shell scripts::

    backup.sh || python manage.py notify_raise_alert system "Nightly backup failed" \\
        --severity error --system backup --message - < /var/log/backup.err
"""

from __future__ import annotations

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from django_notify.alerts.service import raise_alert
from django_notify.alerts.validation import SEVERITY_RANK


class Command(BaseCommand):
    help = (
        "Raise a platform alert, or count another occurrence of the open alert with the "
        "same fingerprint (by default: the type and the title)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "alert_type", help="security, performance, capacity, integration, data, system…"
        )
        parser.add_argument("title")
        parser.add_argument(
            "--severity", default="warning", help=f"{', '.join(SEVERITY_RANK)} (default warning)"
        )
        parser.add_argument("--message", default="", help='the details; "-" reads them from stdin')
        parser.add_argument("--fingerprint", help="group alerts by this key instead")
        parser.add_argument(
            "--system", action="append", default=[], dest="systems", help="repeatable"
        )
        parser.add_argument(
            "--organization", action="append", default=[], dest="organizations",
            help="an affected organization's key; repeatable",
        )  # fmt: skip
        parser.add_argument("--meta", help="meta_data as a JSON object")

    def handle(self, *args, **options):
        message = options["message"]
        if message == "-":
            message = sys.stdin.read()
        meta = None
        if options["meta"]:
            try:
                meta = json.loads(options["meta"])
            except ValueError as exc:
                raise CommandError(f"--meta is not valid JSON: {exc}") from None
        try:
            alert, created = raise_alert(
                options["alert_type"], options["severity"], options["title"], message,
                fingerprint=options["fingerprint"], affected_systems=options["systems"],
                affected_organizations=options["organizations"], meta_data=meta,
            )  # fmt: skip
        except ValidationError as exc:
            raise CommandError(
                "; ".join(
                    f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
                )
            ) from None
        if created:
            self.stdout.write(f"opened alert #{alert.pk}: [{alert.severity}] {alert.title}")
        else:
            self.stdout.write(
                f"alert #{alert.pk} occurred again: {alert.occurrence_count} occurrences"
            )
