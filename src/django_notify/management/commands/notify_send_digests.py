from django.core.management.base import BaseCommand

from django_notify.delivery.sweep import send_digests


class Command(BaseCommand):
    help = (
        "Batch the hourly/daily/weekly deliveries whose window has ended into one message "
        "per user and channel, and send the digests that are due. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="At most this many digests.")

    def handle(self, *args, limit: int, **options):
        counts = send_digests(limit=limit)
        self.stdout.write("digests: {created} created, {dispatched} dispatched".format(**counts))
