"""django-notify's worker: ``python -m notify_side.measure {prepare|measure|explain|info}``
(run by benchmarks/run.py in .venv-notify, with BENCH_DB, BENCH_SIZE, BENCH_DATASET set).
Prints one JSON document on stdout."""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notify_side.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

import benchlib  # noqa: E402
from benchlib import figure, get_json  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test import Client  # noqa: E402

from django_notify import get_notification_model  # noqa: E402
from notify_side import build, notifications  # noqa: E402

related = benchlib.read_actor_and_target

PACKAGE = "django-notify-kit"
SIZE = os.environ.get("BENCH_SIZE", "small")
DATASET = os.environ.get("BENCH_DATASET", "main")
TITLE = "Scheduled maintenance tonight"
COUNT_URL = "/notifications/api/notifications/unread-count/"
LIST_URL = "/notifications/api/notifications/?unread=true&limit=10"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _restorer(user, ids: list[int]):
    """Put back the unread state mark_all_read changed (outside the timed region)."""
    from django_notify.models import NotificationReceipt

    Notification = get_notification_model()

    def restore():
        for start in range(0, len(ids), 500):
            Notification.objects.filter(pk__in=ids[start : start + 500]).update(read_at=None)
        NotificationReceipt.objects.filter(user=user).delete()

    return restore


def _unread_direct(user) -> list[int]:
    Notification = get_notification_model()
    rows = Notification.objects.filter(recipient=user, scope="user", read_at__isnull=True)
    return list(rows.values_list("pk", flat=True))


def _vacuum(*more) -> None:
    if connection.vendor == "postgresql":
        Notification = get_notification_model()
        from django_notify.models import NotificationReceipt

        models = (Notification, NotificationReceipt, *more)
        benchlib.analyze([model._meta.db_table for model in models])


def _after(qs, created_at, pk):
    if hasattr(qs, "after"):
        return qs.after(created_at, pk)
    return qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))


def main_figures() -> dict:
    Notification = get_notification_model()
    user = get_user_model().objects.get(username=benchlib.HEAVY)
    client = _client(user)
    feed = Notification.objects
    figures = {
        "unread_count": figure(lambda: feed.unread_count(user)),
        "feed_rows": figure(lambda: len(list(feed.visible_to(user).prefetch_related(None)[:20]))),
        "feed_related": figure(lambda: related(feed.visible_to(user)[:20])),
        "unread_count_view": figure(lambda: get_json(client, COUNT_URL)["unread_count"]),
        "unread_list_view": figure(lambda: len(get_json(client, LIST_URL)["results"])),
    }
    ids = _unread_direct(user)
    figures["mark_all_read"] = figure(
        lambda: feed.mark_all_read(user),
        reps=benchlib.MARK_REPS,
        warmup=benchlib.MARK_WARMUP,
        after=_restorer(user, ids),
    )
    _vacuum()
    return figures


def _floor(actor):
    """One INSERT … SELECT of the audience's rows from the users table (organization key
    from their membership), with the content notify() writes: what the database alone
    takes for the rows, without Delivery rows or anything decided."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone
    from organizations.models import Membership

    Notification = get_notification_model()
    User = get_user_model()
    fixed = {
        "title": TITLE,
        "notification_type": notifications.FANOUT,
        "scope": "user",
        "origin": "organization",
        "is_global": False,
        "actor_content_type_id": ContentType.objects.get_for_model(User).pk,
        "actor_object_id": str(actor.pk),
    }
    qn = connection.ops.quote_name
    source = (
        f"{qn(User._meta.db_table)} u LEFT JOIN {qn(Membership._meta.db_table)} ms "
        "ON ms.user_id = u.id WHERE u.username LIKE %s"
    )
    exprs = {
        "recipient_id": "u.id",
        "organization_key": "COALESCE(CAST(ms.organization_id AS TEXT), '')",
    }

    def insert():
        return benchlib.insert_select(
            Notification,
            exprs,
            source,
            [benchlib.FANOUT_PREFIX + "%"],
            fixed={**fixed, "created_at": timezone.now()},
        )

    return insert


def write_figures() -> dict:
    """Fan-out to the audience (notify(), alone and inside a transaction), its floor, and
    one emit() processed for as many subscribers. Dispatch is a no-op (settings)."""
    from django_notify import emit, notify, signals
    from django_notify.models import Delivery, Event

    Notification = get_notification_model()
    actor = get_user_model().objects.get(username=benchlib.HEAVY)
    reps = {"reps": benchlib.FANOUT_REPS, "warmup": benchlib.FANOUT_WARMUP}

    def fanout():
        users = benchlib.fanout_users()  # a new queryset each call, as on DN's side
        return len(notify(users, notifications.FANOUT, title=TITLE, actor=actor))

    def fanout_atomic():
        with transaction.atomic():
            return fanout()

    processed = []

    def on_processed(sender, **kwargs):
        processed.append(len(kwargs["notifications"]))

    signals.event_processed.connect(on_processed, dispatch_uid="bench")

    def emitted():
        # Outside a transaction, emit() commits the event and processes it on commit
        # (process_event), before it returns: the figure is the whole write.
        processed.clear()
        event = emit(notifications.EVENT, context={"version": "1.0"}, actor=actor)
        if not processed:
            event.refresh_from_db()
            raise RuntimeError(f"event not processed: {event.status} {event.last_error[:500]}")
        return processed[0]

    figures = {}
    for name, fn, tables in (
        ("fanout_notify", fanout, {"deliveries": Delivery, "notifications": Notification}),
        (
            "fanout_notify_atomic",
            fanout_atomic,
            {"deliveries": Delivery, "notifications": Notification},
        ),
        ("fanout_floor", _floor(actor), {"notifications": Notification}),
        (
            "fanout_emit",
            emitted,
            {"deliveries": Delivery, "notifications": Notification, "events": Event},
        ),
    ):
        cleanup = benchlib.NewRows(**tables)
        figures[name] = cleanup.record(figure(fn, after=cleanup, **reps))
    signals.event_processed.disconnect(dispatch_uid="bench")
    _vacuum(Delivery, Event)
    return figures


def million_setup():
    User = get_user_model()
    return User.objects.get(username=build.TARGET), User.objects.get(username=build.MARKER)


def million_figures() -> dict:
    Notification = get_notification_model()
    feed = Notification.objects
    target, marker = million_setup()
    client = _client(target)
    figures = {
        "million_unread_count": figure(lambda: feed.unread_count(target)),
        "million_feed_first_page": figure(lambda: related(feed.visible_to(target)[:20])),
    }
    try:
        created_at, pk = (
            feed.visible_to(target).prefetch_related(None).values_list("created_at", "pk")[1999]
        )
        deep = figure(lambda: related(_after(feed.visible_to(target), created_at, pk)[:20]))
    except Exception as exc:  # noqa: BLE001
        deep = {"error": f"{type(exc).__name__}: {exc}"}
    figures["million_feed_deep_page"] = deep
    figures["million_unread_page"] = figure(lambda: len(list(feed.unread(target)[:20])))
    figures["million_unread_list_view"] = figure(lambda: len(get_json(client, LIST_URL)["results"]))
    figures["million_mark_all_read"] = figure(
        lambda: feed.mark_all_read(marker),
        reps=benchlib.MILLION_MARK_REPS,
        warmup=benchlib.MARK_WARMUP,
        after=_restorer(marker, _unread_direct(marker)),
    )
    _vacuum()
    return figures


def event_figures() -> dict:
    """One ``emit()`` for the large-event audience, processed on commit before it returns:
    its time, statements and the worker's peak RSS. One call per worker process (a
    round), first thing after start-up, so the peak is this event's; its rows are
    deleted afterwards (untimed)."""
    import resource

    from django_notify import emit, signals
    from django_notify.models import Delivery, Event

    Notification = get_notification_model()
    actor = get_user_model().objects.get(username=benchlib.HEAVY)
    cleanup = benchlib.NewRows(deliveries=Delivery, notifications=Notification, events=Event)
    processed = []
    signals.event_processed.connect(
        lambda sender, **kw: processed.append(len(kw["notifications"])), weak=False
    )
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    before = peak_mb()
    try:
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            event = emit(notifications.EVENT, context={"version": "1.0"}, actor=actor)
            elapsed = (time.perf_counter() - started) * 1000
        peak = peak_mb()
        if not processed:
            event.refresh_from_db()
            raise RuntimeError(f"event not processed: {event.status} {event.last_error[:500]}")
    except Exception as exc:  # noqa: BLE001 - recorded like any figure's error
        return {"event_audience": {"error": f"{type(exc).__name__}: {exc}"[:2000]}}
    finally:
        cleanup()
        _vacuum(Delivery, Event)
    record = {
        "median_ms": round(elapsed, 4),
        "samples_ms": [round(elapsed, 4)],
        "queries": statements[0],
        "repetitions": 1,
        "result": processed[0],
        "peak_rss_mb": round(peak, 1),
        "start_rss_mb": round(before, 1),
    }
    return {"event_audience": cleanup.record(record), "event_floor": _event_floor()}


def _event_floor() -> dict:
    """The same event's rows written by the database alone: one statement inserts a
    notification per subscriber (organization key from the membership) and, from those
    rows, an email delivery each (address from the user; no key, as the first claim draws
    it), committed. No decision is taken: it is what writing the rows costs, whatever
    decides them."""
    from django.utils import timezone

    from django_notify.models import Delivery
    from notify_side.build import EVENT_TYPE

    Notification = get_notification_model()
    now = timezone.now()
    notification_sql, notification_params = benchlib.insert_sql(
        Notification,
        {
            "recipient_id": '"s"."user_id"',
            "organization_key": 'COALESCE(CAST("m"."organization_id" AS text), \'\')',
        },
        fixed={
            "title": "Event",
            "notification_type": EVENT_TYPE,
            "scope": "user",
            "origin": "system",
            "is_global": False,
            "created_at": now,
        },
    )
    delivery_sql, delivery_params = benchlib.insert_sql(
        Delivery,
        {
            "notification_id": '"n"."id"',
            "user_id": '"n"."recipient_id"',
            "address": '"u"."email"',
        },
        fixed={
            "status": "pending",
            "channel": "email",
            "notification_type": EVENT_TYPE,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "frequency": "immediate",
        },
    )
    sql = (
        f'WITH "n" AS ({notification_sql} FROM "django_notify_subscription" "s" '
        'LEFT JOIN "organizations_membership" "m" ON "m"."user_id" = "s"."user_id" '
        'WHERE "s"."notification_type" = %s RETURNING "id", "recipient_id") '
        f'{delivery_sql} FROM "n" JOIN "auth_user" "u" ON "u"."id" = "n"."recipient_id"'
    )
    params = [*notification_params, EVENT_TYPE, *delivery_params]
    cleanup = benchlib.NewRows(deliveries=Delivery, notifications=Notification)
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            written = cursor.rowcount
        elapsed = (time.perf_counter() - started) * 1000
    except Exception as exc:  # noqa: BLE001 - recorded like any figure's error
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    finally:
        cleanup()
    record = {
        "median_ms": round(elapsed, 4),
        "samples_ms": [round(elapsed, 4)],
        "queries": 1,
        "repetitions": 1,
        "result": written,
    }
    return cleanup.record(record)


def prepare() -> dict:
    if DATASET in ("million", "event"):
        if connection.vendor != "postgresql":
            raise SystemExit(f"the {DATASET} dataset is PostgreSQL only")
        if DATASET == "million":
            return benchlib.prepare(
                "notify", "million", build.build_million, [Path(build.__file__)]
            )
        return benchlib.prepare(
            "notify", f"event_{SIZE}", lambda: build.build_event(SIZE), [Path(build.__file__)]
        )
    return benchlib.prepare("notify", SIZE, lambda: build.build_main(SIZE), [Path(build.__file__)])


def measure() -> dict:
    if DATASET == "million":
        figures = million_figures()
    elif DATASET == "event":
        figures = event_figures()
    else:
        figures = {**main_figures(), **write_figures()}
    return {"side": "notify", "versions": benchlib.versions(PACKAGE), "figures": figures}


def explain(out_dir: str) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the main query of a few figures (PostgreSQL)."""
    Notification = get_notification_model()
    feed = Notification.objects
    if DATASET == "million":
        target, _ = million_setup()
        created_at, pk = (
            feed.visible_to(target).prefetch_related(None).values_list("created_at", "pk")[1999]
        )
        ops = {
            "million_unread_count": lambda: feed.unread_count(target),
            "million_feed_first_page": lambda: list(feed.visible_to(target)[:20]),
            "million_feed_deep_page": lambda: list(
                _after(feed.visible_to(target), created_at, pk)[:20]
            ),
            "million_unread_page": lambda: list(feed.unread(target)[:20]),
        }
    else:
        user = get_user_model().objects.get(username=benchlib.HEAVY)
        ops = {
            "notify_unread_count": lambda: feed.unread_count(user),
            "notify_feed_rows": lambda: list(feed.visible_to(user).prefetch_related(None)[:20]),
        }
    prefix = "" if DATASET == "million" else f"{SIZE}_"
    return benchlib.explain_all(ops, Path(out_dir), prefix=prefix)


def info() -> dict:
    return benchlib.versions(PACKAGE)


if __name__ == "__main__":
    benchlib.main({"prepare": prepare, "measure": measure, "explain": explain, "info": info})
