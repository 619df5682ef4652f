from datetime import timedelta

from django.core.management.base import BaseCommand

from django_notify.events import sweep


class Command(BaseCommand):
    help = (
        "Process events that were never processed (worker down, process killed) or "
        "failed, exactly once each. Safe to run from cron while other processes emit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=float, default=30.0,
            help="Only events at least this many seconds old (default 30), so events "
            "whose on-commit processing is still running are left alone.",
        )  # fmt: skip
        parser.add_argument("--limit", type=int, default=500, help="At most this many events.")

    def handle(self, *args, older_than: float, limit: int, **options):
        counts = sweep(older_than=timedelta(seconds=older_than), limit=limit)
        self.stdout.write(
            "events: {processed} processed, {skipped} already done, {failed} failed".format(
                **counts
            )
        )
