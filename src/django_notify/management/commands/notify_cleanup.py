from django.core.management.base import BaseCommand

from django_notify.delivery.sweep import cleanup


class Command(BaseCommand):
    help = (
        'Delete notifications and delivery rows older than DJANGO_NOTIFY["RETENTION_DAYS"]; '
        "deliveries still to send are kept."
    )

    def handle(self, *args, **options):
        counts = cleanup()
        self.stdout.write(
            "deleted: {notifications} notifications, {deliveries} deliveries, "
            "{digests} digests, {events} events".format(**counts)
        )
