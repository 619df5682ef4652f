from django.core.management.base import BaseCommand, CommandError

from django_notify.registry import NotRegistered
from django_notify.rules.sync import describe_rule_without_criteria, sync_all, sync_type
from django_notify.types import notification_types


class Command(BaseCommand):
    help = (
        "Re-evaluate subscription rules and create, update or remove the subscriptions they "
        "made (manual subscriptions are never touched). Run it after changing the data "
        "criteria read, e.g. group memberships or roles. Exits with status 1, after syncing "
        "everything else, when an active rule has no criteria."
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
        bare = []
        for key, counts in results.items():
            self.stdout.write(
                "{key}: {created} created, {updated} updated, {deleted} removed".format(
                    key=key, **counts
                )
            )
            bare += getattr(counts, "rules_without_criteria", [])
        if not results:
            self.stdout.write("no rules")
        for rule in bare:
            self.stderr.write(self.style.ERROR(describe_rule_without_criteria(rule)))
        if bare:
            names = ", ".join(repr(r.name) for r in bare)
            raise CommandError(f"{len(bare)} active rule(s) without criteria: {names}.")
