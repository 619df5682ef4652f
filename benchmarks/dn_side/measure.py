"""django-notifications-hq 1.8.3's worker: ``python -m dn_side.measure
{prepare|measure|explain|info}`` (run by benchmarks/run.py in .venv-dn, with BENCH_DB and
BENCH_SIZE set). Prints one JSON document on stdout."""

import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dn_side.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

import benchlib  # noqa: E402
from benchlib import figure, get_json  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from notifications.models import Notification  # noqa: E402
from notifications.signals import notify  # noqa: E402

from dn_side import build  # noqa: E402

related = benchlib.read_actor_and_target

PACKAGE = "django-notifications-hq"
SIZE = os.environ.get("BENCH_SIZE", "small")
VERB = "Scheduled maintenance tonight"


def main_figures() -> dict:
    user = get_user_model().objects.get(username=benchlib.HEAVY)
    client = Client()
    client.force_login(user)
    count_url = reverse("notifications:live_unread_notification_count")
    list_url = reverse("notifications:live_unread_notification_list") + "?max=10"
    figures = {
        "unread_count": figure(lambda: user.notifications.unread().count()),
        "feed_rows": figure(lambda: len(list(user.notifications.all()[:20]))),
        "feed_related": figure(lambda: related(user.notifications.all()[:20])),
        "unread_count_view": figure(lambda: get_json(client, count_url)["unread_count"]),
        "unread_list_view": figure(lambda: len(get_json(client, list_url)["unread_list"])),
    }
    ids = list(user.notifications.unread().values_list("pk", flat=True))

    def restore():
        for start in range(0, len(ids), 500):
            Notification.objects.filter(pk__in=ids[start : start + 500]).update(unread=True)

    figures["mark_all_read"] = figure(
        lambda: user.notifications.mark_all_as_read(),
        reps=benchlib.MARK_REPS,
        warmup=benchlib.MARK_WARMUP,
        after=restore,
    )
    if connection.vendor == "postgresql":
        benchlib.analyze([Notification._meta.db_table])
    return figures


def write_figures() -> dict:
    """Fan-out to the audience with DN's notify signal (one INSERT per recipient), alone
    and inside a transaction."""
    actor = get_user_model().objects.get(username=benchlib.HEAVY)

    def fanout():
        # A new queryset each call: an evaluated one would hand DN its cached users.
        responses = notify.send(actor, recipient=benchlib.fanout_users(), verb=VERB)
        return sum(len(created) for _, created in responses)

    def fanout_atomic():
        with transaction.atomic():
            return fanout()

    figures = {}
    for name, fn, reps, warmup in (
        ("fanout_notify", fanout, benchlib.COMMIT_PER_ROW_REPS, benchlib.COMMIT_PER_ROW_WARMUP),
        ("fanout_notify_atomic", fanout_atomic, benchlib.FANOUT_REPS, benchlib.FANOUT_WARMUP),
    ):
        cleanup = benchlib.NewRows(notifications=Notification)
        figures[name] = cleanup.record(figure(fn, reps=reps, warmup=warmup, after=cleanup))
    if connection.vendor == "postgresql":
        benchlib.analyze([Notification._meta.db_table])
    return figures


def prepare() -> dict:
    return benchlib.prepare("dn", SIZE, lambda: build.build_main(SIZE), [Path(build.__file__)])


def measure() -> dict:
    figures = {**main_figures(), **write_figures()}
    return {"side": "dn", "versions": benchlib.versions(PACKAGE), "figures": figures}


def explain(out_dir: str) -> dict:
    user = get_user_model().objects.get(username=benchlib.HEAVY)
    ops = {
        "dn_unread_count": lambda: user.notifications.unread().count(),
        "dn_feed_rows": lambda: list(user.notifications.all()[:20]),
    }
    return benchlib.explain_all(ops, Path(out_dir), prefix=f"{SIZE}_")


def info() -> dict:
    return benchlib.versions(PACKAGE)


if __name__ == "__main__":
    benchlib.main({"prepare": prepare, "measure": measure, "explain": explain, "info": info})
