from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from django_notify.conf import app_settings
from django_notify.pipeline.events import sweep


class Command(BaseCommand):
    help = (
        "Process events that were never processed (worker down, process killed) or "
        "failed, exactly once each. Safe to run from cron while other processes emit. "
        "Prints the processed / already done / failed counts; exits with status 1 when "
        "an event failed (its error and traceback are logged and stored on the event)."
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
        if counts["failed"]:
            # A non-zero exit status, so cron and monitoring notice; every failure was
            # already logged at ERROR with its traceback by process_event.
            raise CommandError(
                f"{counts['failed']} event(s) failed. The error and traceback are in the log "
                "(logger django_notify.events) and on each event (admin: Events, filter "
                f'"failure"). Failed events are retried up to EVENT_MAX_ATTEMPTS '
                f"({app_settings.EVENT_MAX_ATTEMPTS}) times.",
                returncode=1,
            )
