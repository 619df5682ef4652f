"""django_notify.hooks: model signals turned into events (docs/hooks.md)."""

import pickle

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError, ValidationError
from django.db import transaction
from django.db.models import signals

from django_notify import AlreadyRegistered, NotificationType, NotRegistered, hooks
from django_notify.models import Event
from django_notify.types import notification_types
from tests.hooks_app.models import Announcement, Job, TrackedJob


class AnnouncementPublished(NotificationType):
    """A new announcement notifies every active user except its author."""

    key = "test.announcement.published"
    context = {"announcement": "The announcement's title"}
    title = "{actor} announced {announcement}"

    @classmethod
    def default_audience(cls, event):
        users = get_user_model()._default_manager.filter(is_active=True)
        return users.exclude(pk=event.actor_object_id) if event.actor_object_id else users


class AnnouncementToRecipients(NotificationType):
    """The same, with the audience given by the hook's ``recipients``."""

    key = "test.announcement.to_recipients"
    context = {"announcement": "The announcement's title"}
    title = "{actor} announced {announcement}"


class JobEvent(NotificationType):
    key = "test.job"
    title = "{target}"


class JobChanged(NotificationType):
    key = "test.job.changed"
    title = "{target}: {old_value} -> {new_value}"


class JobDeleted(NotificationType):
    key = "test.job.deleted"
    title = "{object} deleted"


def connected():
    """The hooks these tests connected: installed apps (the example's jobs) keep their own."""
    return [h for h in hooks.connected() if h.model._meta.app_label == "hooks_app"]


TYPES = (AnnouncementPublished, AnnouncementToRecipients, JobEvent, JobChanged, JobDeleted)


@pytest.fixture
def hook(db):
    """Connect hooks (and the types above) for one test; everything is undone after."""
    saved = dict(notification_types._items)
    for ntype in TYPES:
        notification_types.register(ntype)
    made = []

    def connect(factory, *args, **kwargs):
        made.append(factory(*args, **kwargs))
        return made[-1]

    yield connect
    for h in made:
        h.disconnect()
    notification_types._items.clear()
    notification_types._items.update(saved)
    assert connected() == []


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit():`` runs the block and then its on-commit callbacks (the events)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def owner(make_user):
    return make_user()


def _job(owner, **kw):
    return Job.objects.create(title=kw.pop("title", "Pentest"), owner=owner, **kw)


def _contexts(type_key):
    return [e.context for e in Event.objects.filter(notification_type=type_key).order_by("pk")]


def _to_owner(job):
    return [job.owner_id]


# --- on_create ------------------------------------------------------------------------


def test_create_fires_once_on_create_and_not_on_update(hook, commit, owner, Notification):
    created = hook(hooks.on_create, Job, "test.job", recipients=_to_owner)
    with commit():
        job = _job(owner)
    event = Event.objects.get()
    assert (event.notification_type, event.target, event.status) == ("test.job", job, "done")
    assert event.idempotency_key == f"test.job:hooks_app.job:{job.pk}:created"
    assert created.dispatch_uid == "django_notify.hooks:create:hooks_app.Job:test.job"
    row = Notification.objects.get()
    assert (row.recipient_id, row.title, row.target) == (owner.pk, "Pentest", job)

    with commit():
        job.title = "Pentest 2"
        job.save()
        Job.objects.get(pk=job.pk).save()
    assert Event.objects.count() == 1
    assert Notification.objects.count() == 1


def test_create_is_one_event_per_row_and_skips_fixture_loading(hook, commit, owner):
    hook(hooks.on_create, "hooks_app.Job", "test.job")  # an app label works too
    with commit():
        job = _job(owner)
        signals.post_save.send(sender=Job, instance=job, created=True)  # a second send
        loaded = Job(title="from a fixture", owner=owner)
        loaded.save_base(raw=True)
    assert [e.target for e in Event.objects.all()] == [job]


def test_create_callables_and_constants(hook, commit, owner, make_user, Notification):
    other = make_user()
    hook(
        hooks.on_create,
        Job,
        "test.job",
        recipients=[owner, other.pk],
        actor=owner,
        target=lambda job: job.owner,
        context={"note": "constant"},
        idempotency_key=None,
    )
    with commit():
        _job(owner)
    event = Event.objects.get()
    assert (event.actor, event.target, event.context) == (owner, owner, {"note": "constant"})
    assert event.idempotency_key is None
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted(
        [owner.pk, other.pk]
    )


# --- on_change ------------------------------------------------------------------------


def test_change_reports_old_and_new_values_only_when_the_field_changed(
    hook, commit, owner, Notification
):
    # The test app's type: title "Task {task} moved from {old_status} to {new_status}".
    hook(
        hooks.on_change,
        Job,
        "status",
        "task.status_changed",
        context=lambda job: {"task": job.title},
        recipients=_to_owner,
    )
    with commit():
        job = _job(owner)  # a create is not a change
        job.save()  # nothing changed
        job.title = "Renamed"
        job.save()  # another field changed
    assert Event.objects.count() == 0

    with commit():
        job.status = Job.Status.IN_PROGRESS
        job.save()
        job.save()  # the saved value is the new baseline
        fresh = Job.objects.get(pk=job.pk)  # the loaded value is the baseline
        fresh.status = Job.Status.DONE
        fresh.save()
    assert _contexts("task.status_changed") == [
        {
            "task": "Renamed",
            "old_status": "new",
            "new_status": "in_progress",
            "old_status_display": "New",
            "new_status_display": "In progress",
            "old_value": "new",
            "new_value": "in_progress",
        },
        {
            "task": "Renamed",
            "old_status": "in_progress",
            "new_status": "done",
            "old_status_display": "In progress",
            "new_status_display": "Done",
            "old_value": "in_progress",
            "new_value": "done",
        },
    ]
    assert list(Notification.objects.order_by("pk").values_list("title", flat=True)) == [
        "Task Renamed moved from new to in_progress",
        "Task Renamed moved from in_progress to done",
    ]
    assert all(e.target == job and e.idempotency_key is None for e in Event.objects.all())


def test_change_costs_no_query_per_save(hook, owner, django_assert_num_queries):
    hook(hooks.on_change, Job, "status", "test.job.changed")
    job = Job.objects.get(pk=_job(owner).pk)
    with django_assert_num_queries(1):  # the UPDATE alone
        job.title = "Renamed"
        job.save()


def test_change_not_saved_by_update_fields_is_not_a_change(hook, commit, owner):
    hook(hooks.on_change, Job, "status", "test.job.changed")
    job = _job(owner)
    with commit():
        job.status = Job.Status.DONE
        job.save(update_fields=["title"])  # status is not written
    assert Event.objects.count() == 0
    with commit():
        job.save(update_fields=["status"])
    assert [(c["old_value"], c["new_value"]) for c in _contexts("test.job.changed")] == [
        ("new", "done")
    ]


def test_change_of_a_deferred_field_reads_the_old_value_once(
    hook, commit, owner, django_assert_num_queries
):
    hook(hooks.on_change, Job, "status", "test.job.changed")
    job_pk = _job(owner).pk
    job = Job.objects.only("title").get(pk=job_pk)
    with django_assert_num_queries(1):
        job.title = "Renamed"
        job.save()  # Django saves only the loaded fields: status is not written
    with commit():
        job = Job.objects.only("title").get(pk=job_pk)
        job.status = Job.Status.DONE
        job.save()
    assert [(c["old_value"], c["new_value"]) for c in _contexts("test.job.changed")] == [
        ("new", "done")
    ]


def test_change_survives_pickling_the_instance(hook, commit, owner):
    hook(hooks.on_change, Job, "status", "test.job.changed")
    job_pk = _job(owner).pk
    loaded, deferred = Job.objects.get(pk=job_pk), Job.objects.only("title").get(pk=job_pk)
    with commit():
        for job, status in ((loaded, Job.Status.DONE), (deferred, Job.Status.IN_PROGRESS)):
            job = pickle.loads(pickle.dumps(job))  # e.g. kept in a cache
            job.status = status
            job.save()
    assert [(c["old_value"], c["new_value"]) for c in _contexts("test.job.changed")] == [
        ("new", "done"),
        ("done", "in_progress"),  # the deferred one's old value is read at save
    ]


def test_change_of_an_instance_loaded_before_the_hook_was_connected(hook, commit, owner):
    job = _job(owner)
    hook(hooks.on_change, Job, "status", "test.job.changed")
    with commit():
        job.status = Job.Status.DONE
        job.save()
    assert [(c["old_value"], c["new_value"]) for c in _contexts("test.job.changed")] == [
        ("new", "done")
    ]


def test_change_of_a_foreign_key_and_of_a_json_field_in_place(hook, commit, owner, make_user):
    other = make_user()
    hook(hooks.on_change, Job, "owner", "test.job.changed")
    hook(hooks.on_change, Job, "tags", "test.job.changed")
    with commit():
        job = _job(owner)
        job.owner = other
        job.tags.append("urgent")  # mutated in place, not reassigned
        job.save()
    contexts = sorted(_contexts("test.job.changed"), key=len)
    assert contexts == [
        {
            "old_owner": owner.pk,
            "new_owner": other.pk,
            "old_value": owner.pk,
            "new_value": other.pk,
        },
        {"old_tags": [], "new_tags": ["urgent"], "old_value": [], "new_value": ["urgent"]},
    ]


def test_two_hooks_on_one_field_each_see_the_change_and_context_wins(hook, commit, owner):
    hook(hooks.on_change, Job, "status", "test.job.changed")
    hook(hooks.on_change, Job, "status", "task.status_changed",
         context={"task": "j", "new_status": "finished"})  # fmt: skip
    with commit():
        job = _job(owner)
        job.status = Job.Status.DONE
        job.save()
    assert _contexts("test.job.changed")[0]["new_status"] == "done"
    assert _contexts("task.status_changed")[0]["new_status"] == "finished"  # context wins


def test_change_read_from_a_field_tracker(hook, commit):
    pytest.importorskip("model_utils")
    assert hasattr(TrackedJob, "tracker")
    hook(hooks.on_change, TrackedJob, "status", "test.job.changed")
    assert not signals.post_init.has_listeners(TrackedJob)  # the tracker remembers
    with commit():
        job = TrackedJob.objects.create(title="Tracked")
        job.save()
        job.status = "done"
        job.save()
        job.save()
        fresh = TrackedJob.objects.get(pk=job.pk)
        fresh.status = "archived"
        fresh.save()
    assert [(c["old_status"], c["new_status"]) for c in _contexts("test.job.changed")] == [
        ("new", "done"),
        ("done", "archived"),
    ]


# --- when, transactions, failures ------------------------------------------------------


def test_when_vetoes(hook, commit, owner):
    hook(hooks.on_create, Job, "test.job", when=lambda job: not job.title.startswith("draft"))
    hook(
        hooks.on_change,
        Job,
        "status",
        "test.job.changed",
        when=lambda job: job.status == Job.Status.DONE,
    )
    with commit():
        _job(owner, title="draft: scope")  # vetoed
        job = _job(owner)
        job.status = Job.Status.IN_PROGRESS
        job.save()  # vetoed, but still the new baseline
        job.status = Job.Status.DONE
        job.save()
    assert [e.target for e in Event.objects.filter(notification_type="test.job")] == [job]
    assert [(c["old_value"], c["new_value"]) for c in _contexts("test.job.changed")] == [
        ("in_progress", "done")
    ]


def test_rolled_back_save_emits_nothing(
    hook, owner, make_user, Notification, django_capture_on_commit_callbacks
):
    make_user()
    hook(
        hooks.on_create,
        Announcement,
        AnnouncementPublished.key,
        actor=lambda a: a.author,
        context=lambda a: {"announcement": a.title},
    )
    hook(hooks.on_change, Job, "status", "test.job.changed", recipients=_to_owner)
    job = _job(owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            Announcement.objects.create(author=owner, title="Hello")
            job.status = Job.Status.DONE
            job.save()
            assert Event.objects.count() == 2  # written in the save's transaction...
            raise RuntimeError("the view failed after saving")
    assert callbacks == []  # ...and rolled back with it
    assert Event.objects.count() == 0
    assert Notification.objects.count() == 0
    assert Announcement.objects.count() == 0


def test_a_failing_hook_fails_the_save(hook, owner):
    hook(hooks.on_create, Announcement, AnnouncementPublished.key, actor=lambda a: a.author)
    with pytest.raises(ValidationError, match="announcement"), transaction.atomic():
        Announcement.objects.create(author=owner, title="Hello")  # context lacks it
    assert Announcement.objects.count() == 0
    hook(hooks.on_create, Job, "test.job", context=lambda job: ["not", "a", "mapping"])
    with pytest.raises(ValidationError, match="must be a mapping"), transaction.atomic():
        _job(owner)


# --- connecting, disconnecting, bad arguments -------------------------------------------


def test_disconnect_stops_the_hook(hook, commit, owner):
    created = hook(hooks.on_create, Job, "test.job")
    changed = hook(hooks.on_change, Job, "status", "test.job.changed")
    assert connected() == [created, changed]
    assert created.connected
    assert created.disconnect() is True
    assert changed.disconnect() is True
    assert created.disconnect() is False
    assert not created.connected
    assert not signals.post_init.has_listeners(Job)
    with commit():
        job = _job(owner)
        job.status = Job.Status.DONE
        job.save()
    assert Event.objects.count() == 0
    assert "_notify_initial" not in vars(job)

    hook(hooks.on_create, Job, "test.job")  # the same hook may be connected again
    with commit():
        _job(owner)
    assert Event.objects.count() == 1


def test_connecting_the_same_hook_twice_is_refused(hook):
    first = hook(hooks.on_create, Job, "test.job")
    with pytest.raises(AlreadyRegistered, match=first.dispatch_uid):
        hook(hooks.on_create, Job, "test.job", when=lambda job: True)
    second = hook(hooks.on_create, Job, "test.job", dispatch_uid="jobs: second")
    assert connected() == [first, second]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((hooks.on_create, Job, "no.such.type"), NotRegistered, "no.such.type"),
        ((hooks.on_change, Job, "status", "no.such.type"), NotRegistered, "no.such.type"),
        (
            (hooks.on_change, Job, "nope", "test.job"),
            FieldError,
            r"hooks_app\.Job has no field 'nope'.*title, status, owner, tags",
        ),
        (
            (hooks.on_change, "testapp.Team", "members", "test.job"),
            FieldError,
            r"testapp\.Team\.members is a many-to-many field",
        ),
        (
            (hooks.on_change, "testapp.Organization", "teams", "test.job"),
            FieldError,
            r"testapp\.Organization\.teams is not a concrete field",
        ),
        ((hooks.on_create, "hooks_app.Nope", "test.job"), LookupError, "Nope"),
        ((hooks.on_create, object, "test.job"), TypeError, "model class"),
        ((hooks.on_delete, NotificationType, "test.job"), TypeError, "model class"),
    ],
)
def test_bad_arguments_are_refused_when_connecting(hook, args, error, message):
    factory, *rest = args
    with pytest.raises(error, match=message):
        hook(factory, *rest)
    assert connected() == []


def test_abstract_model_and_bad_when_are_refused(hook):
    from django_notify.models import AbstractNotification

    with pytest.raises(TypeError, match="abstract"):
        hook(hooks.on_create, AbstractNotification, "test.job")
    with pytest.raises(TypeError, match="when="):
        hook(hooks.on_create, Job, "test.job", when=True)
    assert connected() == []


def test_recipients_queryset_of_another_model_is_refused(hook, owner):
    hook(hooks.on_create, Job, "test.job", recipients=lambda job: Job.objects.all())
    with pytest.raises(TypeError, match="queryset of hooks_app.Job"), transaction.atomic():
        _job(owner)


# --- on_delete -------------------------------------------------------------------------


def test_delete_puts_the_object_into_the_context(hook, commit, owner, Notification):
    hook(hooks.on_delete, Job, "test.job.deleted", recipients=_to_owner, actor=owner)
    job = _job(owner, title="Old job")
    job_pk = job.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        Job.objects.get(pk=job_pk).delete()
        raise RuntimeError("rolled back")
    assert Event.objects.count() == 0
    with commit():
        job.delete()
    event = Event.objects.get()
    assert (event.context, event.target, event.actor) == (
        {"object": "Old job", "object_pk": job_pk},
        None,
        owner,
    )
    assert list(Notification.objects.values_list("recipient_id", "title")) == [
        (owner.pk, "Old job deleted")
    ]


# --- post_save(Announcement) → notify all users except the sender -----------------------


@pytest.mark.parametrize("style", ["default_audience", "recipients queryset"])
def test_announcement_notifies_every_active_user_except_the_sender(
    hook, commit, make_user, make_org, Notification, style
):
    User = get_user_model()
    sender = make_user(username="alice")
    others = [make_user() for _ in range(3)] + [make_user(org=make_org())]  # any org
    make_user(active=False)
    if style == "default_audience":
        hook(
            hooks.on_create,
            Announcement,
            AnnouncementPublished.key,
            actor=lambda a: a.author,
            context=lambda a: {"announcement": a.title},
        )
    else:
        hook(
            hooks.on_create,
            Announcement,
            AnnouncementToRecipients.key,
            actor=lambda a: a.author,
            context=lambda a: {"announcement": a.title},
            recipients=lambda a: User.objects.exclude(pk=a.author_id),
        )
    with commit():
        announcement = Announcement.objects.create(author=sender, title="Office closed Friday")
    rows = Notification.objects.order_by("recipient_id")
    assert [r.recipient_id for r in rows] == [u.pk for u in others]
    assert {(r.title, r.actor, r.target) for r in rows} == {
        ("alice announced Office closed Friday", sender, announcement)
    }
    event = Event.objects.get()
    assert (event.status, event.notification_count) == ("done", len(others))
    if style == "recipients queryset":  # the ids are stored on the event
        assert sorted(event.recipients) == sorted(
            str(pk) for pk in User.objects.exclude(pk=sender.pk).values_list("pk", flat=True)
        )
    else:  # the audience is a subquery: nothing stored, however many users there are
        assert event.recipients == []
