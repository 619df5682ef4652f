from django.core.management.base import BaseCommand, CommandError

from django_notify.registry import NotRegistered
from django_notify.rules.sync import sync_all, sync_type
from django_notify.types import notification_types


class Command(BaseCommand):
    help = (
        "Re-evaluate subscription rules and create, update or remove the subscriptions they "
        "made (manual subscriptions are never touched). Run it after changing the data "
        "criteria read, e.g. group memberships or roles."
    )

    def add_arguments(self, parser):
        parser.add_argument("--type", dest="type_key", help="Only this notification type.")

    def handle(self, *args, type_key=None, **options):
        if type_key:
            try:
                notification_types.get(type_key)
            except NotRegistered as exc:
                raise CommandError(str(exc)) from None
            results = {type_key: sync_type(type_key)}
        else:
            results = sync_all()
        for key, counts in results.items():
            self.stdout.write(
                "{key}: {created} created, {updated} updated, {deleted} removed".format(
                    key=key, **counts
                )
            )
        if not results:
            self.stdout.write("no rules")
