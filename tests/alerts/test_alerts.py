"""Platform alerts: dedupe, occurrences, escalation, resolution, recurrence,
statistics, the signals, bad input, the management command, and real concurrency on
PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from datetime import datetime, timedelta
from datetime import time as dtime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

import django_notify
from django_notify import alerts
from django_notify.alerts import (
    active_alerts,
    alert_raised,
    alert_resolved,
    raise_alert,
    resolve,
    resolve_many,
    statistics,
)
from django_notify.conf import DEFAULTS
from django_notify.models import PlatformAlert, Severity
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    return make_user(Role.ORG_ADMIN, staff=True)


@pytest.fixture
def received():
    """Every alert signal sent, as (name, kwargs) in order."""
    seen: list[tuple[str, dict]] = []

    def on_raised(sender, **kwargs):
        seen.append(("raised", kwargs))

    def on_resolved(sender, **kwargs):
        seen.append(("resolved", kwargs))

    alert_raised.connect(on_raised, sender=PlatformAlert, dispatch_uid="test-raised")
    alert_resolved.connect(on_resolved, sender=PlatformAlert, dispatch_uid="test-resolved")
    yield seen
    alert_raised.disconnect(dispatch_uid="test-raised", sender=PlatformAlert)
    alert_resolved.disconnect(dispatch_uid="test-resolved", sender=PlatformAlert)


# --- raising and counting ---------------------------------------------------------------


def test_first_raise_opens_an_alert():
    alert, created = raise_alert(
        "integration", "error", "Letzshop sync failed", "timeout after 30 s",
        affected_systems=["letzshop"], affected_organizations=[5, "acme"],
        meta_data={"job": 12},
    )  # fmt: skip
    assert created is True
    stored = PlatformAlert.objects.get()
    assert stored.pk == alert.pk
    assert (stored.alert_type, stored.severity, stored.title, stored.message) == (
        "integration", "error", "Letzshop sync failed", "timeout after 30 s",
    )  # fmt: skip
    assert stored.occurrence_count == 1
    assert stored.first_occurred_at == stored.last_occurred_at
    assert stored.affected_systems == ["letzshop"]
    assert stored.affected_organizations == ["5", "acme"]  # keys are strings
    assert stored.meta_data == {"job": 12}
    assert stored.is_resolved is False
    expected = hashlib.sha256(b"integration\nletzshop sync failed").hexdigest()
    assert (
        stored.fingerprint
        == expected
        == alerts.default_fingerprint("integration", "  Letzshop   SYNC failed ")
    )


def test_the_same_problem_again_counts_an_occurrence():
    first, _ = raise_alert("capacity", "warning", "Disk full", "91 %")
    time.sleep(0.01)
    again, created = raise_alert("capacity", "warning", "  disk   FULL ", "")
    assert created is False
    assert again.pk == first.pk
    assert PlatformAlert.objects.count() == 1
    stored = PlatformAlert.objects.get()
    assert stored.occurrence_count == again.occurrence_count == 2
    assert stored.first_occurred_at == first.first_occurred_at
    assert stored.last_occurred_at > first.last_occurred_at
    assert stored.message == "91 %"  # an occurrence without a message keeps the last one
    assert stored.title == "disk   FULL"  # the latest wording
    third, _ = raise_alert("capacity", "warning", "Disk full", "97 %")
    stored.refresh_from_db()
    assert (stored.occurrence_count, stored.message, third.occurrence_count) == (3, "97 %", 3)


def test_type_and_fingerprint_decide_what_is_one_problem():
    a, _ = raise_alert("capacity", "warning", "Disk full")
    b, created = raise_alert("performance", "warning", "Disk full")
    assert created is True and a.pk != b.pk  # same title, another type: another problem
    c, _ = raise_alert("data", "info", "Import of feed 1 failed", fingerprint="import-feeds")
    d, created = raise_alert("data", "info", "Import of feed 2 failed", fingerprint="import-feeds")
    assert created is False and c.pk == d.pk
    assert PlatformAlert.objects.get(pk=c.pk).title == "Import of feed 2 failed"


def test_severity_escalates_and_never_drops():
    raise_alert("security", "warning", "Failed logins")
    alert, _ = raise_alert("security", "critical", "Failed logins")
    assert alert.severity == "critical"
    alert, _ = raise_alert("security", "info", "Failed logins")
    assert alert.severity == PlatformAlert.objects.get().severity == "critical"
    alert, _ = raise_alert("security", Severity.ERROR, "Failed logins")  # members work too
    assert alert.severity == "critical"
    assert alert.occurrence_count == 4


def test_affected_lists_merge_without_duplicates_and_meta_data_merges():
    raise_alert(
        "integration", "error", "Gateway down", affected_systems=["payments", "api"],
        affected_organizations=["acme"], meta_data={"first": 1, "status": 502},
    )  # fmt: skip
    alert, _ = raise_alert(
        "integration", "error", "Gateway down", affected_systems=("api", "checkout", "api"),
        affected_organizations={"globex", "acme"}, meta_data={"status": 503, "region": "eu"},
    )  # fmt: skip
    stored = PlatformAlert.objects.get()
    assert stored.affected_systems == alert.affected_systems == ["payments", "api", "checkout"]
    assert stored.affected_organizations == ["acme", "globex"]
    assert stored.meta_data == {"first": 1, "status": 503, "region": "eu"}


def test_affected_lists_stop_growing_at_the_cap():
    many = [f"org{i}" for i in range(alerts.MAX_AFFECTED)]
    raise_alert("data", "info", "Stale cache", affected_organizations=many[:150])
    raise_alert("data", "info", "Stale cache", affected_organizations=many[100:])
    raise_alert("data", "info", "Stale cache", affected_organizations=["late"])
    stored = PlatformAlert.objects.get()
    assert stored.affected_organizations == many  # the first MAX_AFFECTED, in order
    assert stored.occurrence_count == 3


def test_raising_costs_a_constant_handful_of_queries(django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # savepoint/begin, select, insert, release
        raise_alert("system", "info", "Cron late")
    with django_assert_max_num_queries(5):  # … select for update, update, re-read the count
        raise_alert("system", "info", "Cron late", affected_systems=[f"s{i}" for i in range(50)])


def test_recurrence_after_resolution_opens_a_new_alert(staff):
    old, _ = raise_alert("system", "error", "Worker crashed")
    raise_alert("system", "error", "Worker crashed")
    resolve(old, staff, "restarted")
    new, created = raise_alert("system", "error", "Worker crashed")
    assert created is True and new.pk != old.pk
    assert new.occurrence_count == 1
    old.refresh_from_db()
    assert (old.is_resolved, old.occurrence_count) == (True, 2)
    assert new.fingerprint == old.fingerprint
    again, created = raise_alert("system", "error", "Worker crashed")
    assert (created, again.pk, again.occurrence_count) == (False, new.pk, 2)


# --- resolving --------------------------------------------------------------------------


def test_staff_resolve_with_notes(staff):
    alert, _ = raise_alert("security", "critical", "Brute force")
    returned = resolve(alert, staff, "  IP range blocked ")
    stored = PlatformAlert.objects.get()
    assert stored.is_resolved is True
    assert stored.resolved_by == staff
    assert stored.resolution_notes == "IP range blocked"
    assert timezone.now() - stored.resolved_at < timedelta(seconds=5)
    # The caller's instance follows, and the returned one is the stored row.
    assert (alert.is_resolved, alert.resolved_by_id, alert.resolved_at) == (
        True, staff.pk, stored.resolved_at,
    )  # fmt: skip
    assert returned.pk == alert.pk and returned.resolution_notes == "IP range blocked"


def test_resolving_twice_changes_nothing(
    staff, make_user, received, django_capture_on_commit_callbacks
):
    alert, _ = raise_alert("security", "critical", "Brute force")
    with django_capture_on_commit_callbacks(execute=True):
        resolve(alert.pk, staff, "first")  # by pk, as the API has it
    other = make_user(Role.ORG_ADMIN, superuser=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = resolve(alert.pk, other, "second")
    stored = PlatformAlert.objects.get()
    assert (again.resolution_notes, again.resolved_by_id) == ("first", staff.pk)
    assert (stored.resolution_notes, stored.resolved_by_id) == ("first", staff.pk)
    assert [name for name, _ in received] == ["resolved"]
    assert received[0][1]["user"] == staff


@pytest.mark.parametrize(
    "who",
    ["anonymous", "plain", "org_admin", "inactive_staff"],
)
def test_only_staff_resolve(who, make_user):
    user = {
        "anonymous": lambda: AnonymousUser(),
        "plain": lambda: make_user(),
        "org_admin": lambda: make_user(Role.ORG_ADMIN),
        "inactive_staff": lambda: make_user(staff=True, active=False),
    }[who]()
    alert, _ = raise_alert("security", "critical", "Brute force")
    with pytest.raises(PermissionDenied, match="Only staff"):
        resolve(alert, user, "mine now")
    with pytest.raises(PermissionDenied):
        resolve_many(PlatformAlert.objects.all(), user)
    with pytest.raises(PermissionDenied):
        resolve(alert, None)
    assert PlatformAlert.objects.get().is_resolved is False


def test_a_superuser_without_staff_may_resolve(make_user):
    alert, _ = raise_alert("security", "critical", "Brute force")
    assert resolve(alert, make_user(superuser=True)).is_resolved is True


def test_resolve_many_resolves_only_open_ones(staff, received, django_capture_on_commit_callbacks):
    a, _ = raise_alert("data", "info", "A")
    b, _ = raise_alert("data", "info", "B")
    c, _ = raise_alert("data", "info", "C")
    resolve(c, staff, "earlier")
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = resolve_many(PlatformAlert.objects.all(), staff, "bulk")
    assert sorted(r.pk for r in done) == [a.pk, b.pk]
    notes = dict(PlatformAlert.objects.values_list("pk", "resolution_notes"))
    assert notes == {a.pk: "bulk", b.pk: "bulk", c.pk: "earlier"}
    assert sorted(kw["alert"].pk for _, kw in received) == [a.pk, b.pk]


def test_resolve_notes_are_validated(staff):
    alert, _ = raise_alert("data", "info", "A")
    with pytest.raises(ValidationError) as info:
        resolve(alert, staff, ["not", "text"])
    assert "notes" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        resolve(alert, staff, "x" * (alerts.MAX_TEXT + 1))
    assert "at most" in info.value.message_dict["notes"][0]
    assert PlatformAlert.objects.get().is_resolved is False


def test_resolving_an_unknown_alert_raises_does_not_exist(staff):
    with pytest.raises(PlatformAlert.DoesNotExist):
        resolve(123456, staff)


# --- signals ----------------------------------------------------------------------------


def test_alert_raised_is_sent_after_commit_with_created_and_escalated(
    received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_alert("security", "warning", "Failed logins")
    assert received == []  # nothing before the commit
    for callback in callbacks:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert("security", "warning", "Failed logins")
        raise_alert("security", "critical", "Failed logins")
        raise_alert("security", "critical", "Failed logins")
    flags = [(kw["created"], kw["escalated"], kw["alert"].severity) for _, kw in received]
    assert flags == [
        (True, False, "warning"),
        (False, False, "warning"),
        (False, True, "critical"),
        (False, False, "critical"),
    ]
    assert received[-1][1]["alert"].occurrence_count == 4


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_alert_signals_nothing(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        raise_alert("system", "error", "Half done")
        raise RuntimeError("the caller's transaction fails")
    assert PlatformAlert.objects.count() == 0
    assert received == []
    raise_alert("system", "error", "Half done")  # autocommit: sent at once
    assert [kw["created"] for _, kw in received] == [True]


def test_a_failing_receiver_is_logged_and_never_reaches_the_caller(
    caplog, received, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise ValueError("receiver bug")

    alert_raised.connect(broken, sender=PlatformAlert, dispatch_uid="test-broken")
    try:
        with caplog.at_level(logging.ERROR, logger="django_notify.alerts"):
            with django_capture_on_commit_callbacks(execute=True):
                alert, created = raise_alert("system", "error", "Worker crashed")
    finally:
        alert_raised.disconnect(sender=PlatformAlert, dispatch_uid="test-broken")
    assert created is True and PlatformAlert.objects.filter(pk=alert.pk).exists()
    assert "receiver bug" in caplog.text
    assert len(received) == 1  # the other receiver still ran


@pytest.fixture
def staff_alert_recipe():
    """docs/alerts.md's recipe, as written there: a type and a receiver."""
    from django.urls import reverse

    @django_notify.register
    class PlatformAlertRaised(django_notify.NotificationType):
        key = "ops.platform_alert"
        label = "Platform alert"
        channels = ("in_app", "email")
        default_channels = ("in_app", "email")
        default_priority = django_notify.Priority.CRITICAL

    def tell_staff(sender, alert, created, escalated, **kwargs):
        if alert.severity == "critical" and (created or escalated):
            staff = get_user_model().objects.filter(is_staff=True, is_active=True)
            link = reverse("admin:django_notify_platformalert_change", args=[alert.pk])
            django_notify.notify(
                staff, "ops.platform_alert", title=f"Critical: {alert.title}",
                body=alert.message, action_url=link,
            )  # fmt: skip

    alert_raised.connect(tell_staff, dispatch_uid="ops.tell_staff")
    yield
    alert_raised.disconnect(dispatch_uid="ops.tell_staff")
    django_notify.notification_types.unregister("ops.platform_alert")


def test_the_documented_staff_email_recipe(
    staff_alert_recipe, make_user, django_capture_on_commit_callbacks
):
    """Staff hear about new and escalated critical alerts through the normal pipeline."""
    admin_a = make_user(staff=True, email="a@ops.example")
    admin_b = make_user(superuser=True, staff=True, email="b@ops.example")
    make_user(email="customer@example.com")
    make_user(staff=True, active=False, email="gone@ops.example")
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert("system", "warning", "Queue backing up")  # not critical: nothing
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        alert, _ = raise_alert("system", "critical", "Queue backing up", "12k jobs")  # escalated
    assert sorted(m.to[0] for m in mail.outbox) == ["a@ops.example", "b@ops.example"]
    assert all("Critical: Queue backing up" in m.subject for m in mail.outbox)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert("system", "critical", "Queue backing up")  # still critical: quiet
        raise_alert("security", "critical", "Leaked key")  # a new critical one: heard
    assert len(mail.outbox) == 2
    assert all("Critical: Leaked key" in m.subject for m in mail.outbox)
    Notification = django_notify.get_notification_model()
    rows = Notification.objects.filter(notification_type="ops.platform_alert")
    assert sorted(set(rows.values_list("recipient_id", flat=True))) == sorted(
        [admin_a.pk, admin_b.pk]
    )
    first = rows.filter(title="Critical: Queue backing up")
    assert {r.action_url for r in first} == {
        f"/admin/django_notify/platformalert/{alert.pk}/change/"
    }
    assert {r.priority for r in rows} == {django_notify.Priority.CRITICAL}


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({"severity": "fatal"}, "severity", "Unknown severity 'fatal'"),
        ({"severity": 3}, "severity", "Unknown severity 3"),
        ({"severity": None}, "severity", "use one of info, warning, error, critical"),
        ({"title": ""}, "title", "must not be empty"),
        ({"title": "   "}, "title", "must not be empty"),
        ({"title": None}, "title", "must not be empty"),
        ({"title": "x" * 256}, "title", "at most 255 characters (it has 256)"),
        ({"title": 42}, "title", "must be a string, not int"),
        ({"alert_type": ""}, "alert_type", "must not be empty"),
        ({"alert_type": "t" * 51}, "alert_type", "at most 50 characters"),
        ({"message": "m" * (alerts.MAX_TEXT + 1)}, "message", "at most 20000"),
        ({"message": b"bytes"}, "message", "must be a string"),
        ({"fingerprint": "f" * 201}, "fingerprint", "at most 200"),
        ({"fingerprint": 7}, "fingerprint", "must be a string"),
        ({"affected_systems": "api"}, "affected_systems", "must be a list of strings, not str"),
        ({"affected_systems": {"api": 1}}, "affected_systems", "not dict"),
        ({"affected_systems": 3}, "affected_systems", "not int"),
        ({"affected_systems": ["api", 1.5]}, "affected_systems", "got 1.5"),
        ({"affected_systems": ["api", ""]}, "affected_systems", "non-empty strings"),
        ({"affected_systems": [True]}, "affected_systems", "got True"),
        ({"affected_systems": ["s" * 201]}, "affected_systems", "at most 200 characters"),
        (
            {"affected_organizations": [str(i) for i in range(alerts.MAX_AFFECTED + 1)]},
            "affected_organizations",
            "at most 200 entries",
        ),
        ({"meta_data": ["a"]}, "meta_data", "must be a JSON object (a dict), not list"),
        ({"meta_data": "{}"}, "meta_data", "not str"),
        ({"meta_data": {"x": object()}}, "meta_data", "JSON-serialisable"),
        ({"meta_data": {"x": "y" * DEFAULTS["MAX_META_DATA_BYTES"]}}, "meta_data", "bytes as JSON"),
        ({"meta_data": {"x": [1.0, float("inf")]}}, "meta_data", "meta_data.x[1] is not a finite"),
        ({"meta_data": {"x": float("nan")}}, "meta_data", "not a finite number"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(kwargs, field, words):
    args = {"alert_type": "system", "severity": "error", "title": "Boom", **kwargs}
    with pytest.raises(ValidationError) as info:
        raise_alert(
            args.pop("alert_type"), args.pop("severity"), args.pop("title"),
            args.pop("message", ""), **args,
        )  # fmt: skip
    errors = info.value.message_dict
    assert list(errors) == [field]
    assert words in errors[field][0]
    assert PlatformAlert.objects.count() == 0


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(ValidationError) as info:
        raise_alert("", "fatal", "", meta_data=[], affected_systems="api")
    assert set(info.value.message_dict) == {
        "alert_type", "severity", "title", "meta_data", "affected_systems",
    }  # fmt: skip


def test_severity_names_are_not_case_sensitive():
    alert, _ = raise_alert("system", " CRITICAL ", "Boom")
    assert alert.severity == "critical"


# --- reading ----------------------------------------------------------------------------


def test_active_alerts_most_severe_first_then_latest(staff):
    old_critical, _ = raise_alert("system", "critical", "Old critical")
    warning, _ = raise_alert("system", "warning", "Warning")
    new_critical, _ = raise_alert("system", "critical", "New critical")
    info, _ = raise_alert("system", "info", "Info")
    resolved, _ = raise_alert("system", "critical", "Resolved critical")
    resolve(resolved, staff)
    raise_alert("system", "critical", "Old critical")  # seen again: now the latest critical
    assert [a.pk for a in active_alerts()] == [
        old_critical.pk,
        new_critical.pk,
        warning.pk,
        info.pk,
    ]


def test_statistics_shape_and_figures_in_one_query(staff, django_assert_num_queries):
    assert statistics() == {
        "active": 0, "critical": 0, "resolved_today": 0,
        "by_severity": {"info": 0, "warning": 0, "error": 0, "critical": 0}, "by_type": {},
    }  # fmt: skip
    raise_alert("security", "critical", "Brute force")
    raise_alert("security", "critical", "Brute force")  # an occurrence is not another alert
    raise_alert("security", "warning", "Odd login")
    raise_alert("integration", "error", "Sync failed")
    raise_alert("capacity", "critical", "Disk full")
    raise_alert("capacity", "info", "Cache cold")
    done, _ = raise_alert("integration", "critical", "Gateway down")
    resolve(done, staff, "fixed")
    old, _ = raise_alert("integration", "error", "Old problem")
    resolve(old, staff)
    PlatformAlert.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=2))
    raise_alert("billing", "warning", "Invoice run slow")  # a host's own type
    with django_assert_num_queries(1):
        stats = statistics()
    assert stats == {
        "active": 6,
        "critical": 2,
        "resolved_today": 1,
        "by_severity": {"info": 1, "warning": 2, "error": 1, "critical": 2},
        "by_type": {"capacity": 2, "security": 2, "billing": 1, "integration": 1},
    }
    assert json.loads(json.dumps(stats)) == stats
    many = [raise_alert("data", "info", f"Problem {i}")[0] for i in range(30)]
    resolve_many(PlatformAlert.objects.filter(pk__in=[a.pk for a in many[:10]]), staff)
    with django_assert_num_queries(1):
        stats = statistics()
    assert (stats["active"], stats["resolved_today"], stats["by_type"]["data"]) == (26, 11, 20)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles", "UTC"])
def test_resolved_today_is_counted_in_the_current_time_zone(zone, staff):
    before, _ = raise_alert("data", "info", "Before midnight")
    after, _ = raise_alert("data", "info", "After midnight")
    resolve_many(PlatformAlert.objects.all(), staff)
    with timezone.override(zone):
        midnight = timezone.make_aware(datetime.combine(timezone.localdate(), dtime.min))
        PlatformAlert.objects.filter(pk=before.pk).update(
            resolved_at=midnight - timedelta(seconds=1)
        )
        PlatformAlert.objects.filter(pk=after.pk).update(resolved_at=midnight)
        assert statistics()["resolved_today"] == 1


def test_to_dict_is_the_contract_shape(staff):
    raise_alert("integration", "error", "Sync", "m", affected_systems=["a"], meta_data={"k": 1})
    alert, _ = raise_alert("integration", "error", "Sync")
    assert alerts.to_dict(alert)["resolved_by"] is None
    resolve(alert, staff, "ok")
    data = alerts.to_dict(PlatformAlert.objects.select_related("resolved_by").get())
    assert list(data) == [
        "id", "alert_type", "severity", "title", "message", "fingerprint", "affected_systems",
        "affected_organizations", "meta_data", "occurrence_count", "first_occurred_at",
        "last_occurred_at", "is_resolved", "resolved_at", "resolved_by", "resolution_notes",
    ]  # fmt: skip
    assert data["resolved_by"] == {"id": staff.pk, "name": staff.get_username()}
    assert data["occurrence_count"] == 2 and data["is_resolved"] is True
    assert datetime.fromisoformat(data["resolved_at"]) == alert.resolved_at
    assert json.loads(json.dumps(data)) == data


# --- the management command -------------------------------------------------------------


def test_command_raises_and_counts():
    out = io.StringIO()
    call_command(
        "notify_raise_alert", "capacity", "Disk full", "--severity", "error", "--message",
        "91 %", "--system", "db1", "--system", "db2", "--organization", "acme",
        "--meta", '{"host": "db1"}', stdout=out,
    )  # fmt: skip
    alert = PlatformAlert.objects.get()
    assert out.getvalue().strip() == f"opened alert #{alert.pk}: [error] Disk full"
    assert (alert.severity, alert.message, alert.affected_systems) == (
        "error",
        "91 %",
        ["db1", "db2"],
    )
    assert (alert.affected_organizations, alert.meta_data) == (["acme"], {"host": "db1"})
    out = io.StringIO()
    call_command("notify_raise_alert", "capacity", "Disk full", stdout=out)
    assert out.getvalue().strip() == f"alert #{alert.pk} occurred again: 2 occurrences"
    assert PlatformAlert.objects.get().severity == "error"  # the default, warning, is lower


def test_command_reads_the_message_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Traceback (most recent call last):\n  boom\n"))
    call_command("notify_raise_alert", "system", "Nightly job failed", "--message", "-",
                 stdout=io.StringIO())  # fmt: skip
    assert PlatformAlert.objects.get().message == "Traceback (most recent call last):\n  boom"


@pytest.mark.parametrize(
    "args, words",
    [
        (["system", "Boom", "--severity", "fatal"], "severity: Unknown severity 'fatal'"),
        (["system", " "], "title: title must not be empty"),
        (["system", "Boom", "--meta", "[1]"], "meta_data: meta_data must be a JSON object"),
        (["system", "Boom", "--meta", "{nope"], "--meta is not valid JSON"),
    ],
)
def test_command_errors_name_the_field(args, words):
    with pytest.raises(CommandError, match=words.replace("[", r"\[").replace("(", r"\(")):
        call_command("notify_raise_alert", *args, stdout=io.StringIO())
    assert PlatformAlert.objects.count() == 0


# --- concurrency on PostgreSQL ----------------------------------------------------------


def _wait_until_blocked(timeout: float = 10.0) -> None:
    """Return once another session of this database waits on a row or unique-index lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second session never blocked")


def _in_thread(work, results: list, errors: list) -> threading.Thread:
    def run():
        try:
            results.append(work())
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _holding(work, hold: threading.Event, done: threading.Event):
    """Run ``work()`` in a transaction kept open until ``done`` is set."""

    def run():
        with transaction.atomic():
            result = work()
            hold.set()
            assert done.wait(20), "never released"
        return result

    return run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_raises_at_the_same_moment_make_one_row(require_postgres):
    """The second insert meets the first one's uncommitted row in the unique index,
    waits, fails with IntegrityError once it commits, and counts on it instead."""
    inserted, release = threading.Event(), threading.Event()
    results, errors = [], []
    first = _in_thread(
        _holding(lambda: raise_alert("system", "error", "Race"), inserted, release),
        results, errors,
    )  # fmt: skip
    assert inserted.wait(10)
    second = _in_thread(lambda: raise_alert("system", "error", "Race"), results, errors)
    _wait_until_blocked()
    release.set()
    first.join(20)
    second.join(20)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    alert = PlatformAlert.objects.get()
    assert alert.occurrence_count == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_raises_count_every_occurrence(require_postgres):
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads, timeout=20)
    results, errors = [], []

    def work():
        barrier.wait()
        return [
            raise_alert("system", "warning", "Storm", affected_systems=[f"web{i % 3}"])[1]
            for i in range(per_thread)
        ]

    running = [_in_thread(work, results, errors) for _ in range(threads)]
    for thread in running:
        thread.join(60)
    assert errors == []
    assert sum(flag for batch in results for flag in batch) == 1  # one call opened it
    alert = PlatformAlert.objects.get()
    assert alert.occurrence_count == threads * per_thread
    assert sorted(alert.affected_systems) == ["web0", "web1", "web2"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_occurrence_during_a_resolve_is_never_lost(require_postgres, staff):
    alert, _ = raise_alert("system", "error", "Flaky")
    # An occurrence holds the row; the resolve waits and then closes it with the count.
    counted, release = threading.Event(), threading.Event()
    results, errors = [], []
    raising = _in_thread(
        _holding(lambda: raise_alert("system", "error", "Flaky"), counted, release),
        results, errors,
    )  # fmt: skip
    assert counted.wait(10)
    resolving = _in_thread(lambda: resolve(alert.pk, staff, "done"), results, errors)
    _wait_until_blocked()
    release.set()
    raising.join(20)
    resolving.join(20)
    assert errors == []
    alert.refresh_from_db()
    assert (alert.is_resolved, alert.occurrence_count) == (True, 2)
    # A resolve holds the row; the occurrence waits, sees it resolved, opens a new one.
    reopened, _ = raise_alert("system", "error", "Flaky")
    resolved, release = threading.Event(), threading.Event()
    results, errors = [], []
    resolving = _in_thread(
        _holding(lambda: resolve(reopened.pk, staff, "again"), resolved, release),
        results, errors,
    )  # fmt: skip
    assert resolved.wait(10)
    raising = _in_thread(lambda: raise_alert("system", "error", "Flaky"), results, errors)
    _wait_until_blocked()
    release.set()
    resolving.join(20)
    raising.join(20)
    assert errors == []
    rows = list(PlatformAlert.objects.order_by("pk").values_list("is_resolved", "occurrence_count"))
    assert rows == [(True, 2), (True, 1), (False, 1)]
