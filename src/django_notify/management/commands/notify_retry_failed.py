from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from django_notify.delivery.sweep import retry_dead, send_due


class Command(BaseCommand):
    help = (
        "Give dead deliveries a fresh set of attempts (after fixing what killed them, e.g. "
        "SMTP credentials), then send what is due."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", help="Only deliveries on this channel.")
        parser.add_argument(
            "--days", type=float, default=7.0, help="Only deliveries created this recently."
        )

    def handle(self, *args, channel=None, days: float, **options):
        revived = retry_dead(since=timezone.now() - timedelta(days=days), channel=channel)
        counts = send_due()
        self.stdout.write(f"deliveries: {revived} revived, {counts['dispatched']} dispatched")
