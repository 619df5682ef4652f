from django.core.management.base import BaseCommand, CommandError

from django_notify.conf import app_settings
from django_notify.delivery.sweep import cleanup
from django_notify.exceptions import NotifyConfigurationError

#: Each table's RETENTION_DAYS key and what its line says it deleted.
RULES = {
    "notifications": ("notifications", "older than {days} days, none with a delivery to send"),
    "receipts": ("notifications", "with their notifications"),
    "deliveries": ("deliveries", "finished and older than {days} days, or with their notification"),
    "digests": ("deliveries", "older than {days} days with no delivery left"),
    "events": ("events", "done or cancelled and older than {days} days"),
}


class Command(BaseCommand):
    help = (
        "Delete notifications, deliveries, digests and events older than DJANGO_NOTIFY["
        '"RETENTION_DAYS"], one batch per transaction; rows still to send or to process are '
        "kept. Prints one line per table with the rows it lost."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None,
            help="Rows deleted per transaction (default: "
            'DJANGO_NOTIFY["RETENTION_BATCH_SIZE"], 1000).',
        )  # fmt: skip

    def handle(self, *args, batch_size: int | None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError(f"--batch-size must be a positive number, got {batch_size}.")
        try:
            counts = cleanup(batch_size=batch_size)
        except NotifyConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        retention = app_settings.RETENTION_DAYS
        for table, deleted in counts.items():
            key, what = RULES.get(table, (None, "with the rows they belonged to"))
            days = retention.get(key) if key else None
            if key and days is None:
                what = f"RETENTION_DAYS[{key!r}] is None"
                if deleted:
                    what += "; these went with their notifications"
            self.stdout.write(f"{table}: {deleted} deleted ({what.format(days=days)})")
        self.stdout.write(f"total: {sum(counts.values())} rows deleted")
