from django.core.management.base import BaseCommand

from django_notify.delivery.sweep import send_due


class Command(BaseCommand):
    help = (
        "Send every delivery that is due: never dispatched (process killed after commit), "
        "retry time reached, quiet hours over; recover rows a killed worker left 'sending'. "
        "Run it every minute from cron when DISPATCHER is 'inline'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="At most this many rows.")

    def handle(self, *args, limit: int, **options):
        counts = send_due(limit=limit)
        self.stdout.write(
            "deliveries: {dispatched} dispatched, {recovered} recovered".format(**counts)
        )
