"""Notification rows track their targeting with django-model-utils' FieldTracker: every
concrete notification model has one (the swapped test model too), and what counts as a
change is a difference from what the database holds."""

from __future__ import annotations

import pytest
from django.apps import apps
from model_utils.tracker import FieldInstanceTracker

from django_notify import SendRefused
from django_notify.models import AbstractNotification
from django_notify.policy import TARGETING_FIELDS
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


def test_every_concrete_notification_model_has_a_targeting_tracker():
    concrete = [
        m for m in apps.get_models() if issubclass(m, AbstractNotification)
    ]  # the package's, and the swapped test app's
    assert concrete
    for model in concrete:
        tracker = model().targeting_tracker
        assert isinstance(tracker, FieldInstanceTracker), model
        assert set(tracker.fields) == set(TARGETING_FIELDS)


def test_a_deferred_field_set_to_its_stored_value_is_no_change(make_org, make_user, Notification):
    light = make_user(Role.LIGHT_USER, make_org())
    [row] = Notification.send_to_self(light, title="note")
    row = Notification.objects.only("title").get(pk=row.pk)
    row.recipient_id = light.pk  # the value it already has: compared, not assumed
    assert row.changed_targeting() == []
    row.save()


def test_a_row_forced_out_of_adding_counts_everything_as_changed(make_org, make_user, Notification):
    light = make_user(Role.LIGHT_USER, make_org())
    stranger = make_user(Role.DEV_USER, make_org())
    [row] = Notification.send_to_self(light, title="note")
    forged = Notification(pk=row.pk, title="x", scope="user", recipient=stranger, sender=light)
    forged._state.adding = False
    assert forged.changed_targeting() == list(TARGETING_FIELDS)
    with pytest.raises(SendRefused):
        forged.save()


def test_a_deferred_field_changed_before_it_was_read_is_a_change(make_org, make_user, Notification):
    org = make_org()
    light = make_user(Role.LIGHT_USER, org)
    other = make_user(Role.LIGHT_USER, org)
    [row] = Notification.send_to_self(light, title="note")
    row = Notification.objects.only("title").get(pk=row.pk)
    row.recipient_id = other.pk  # never read: the stored value is fetched to compare
    assert row.changed_targeting() == ["recipient_id"]
    assert row.targeting_tracker.previous("recipient_id") == light.pk


def test_loading_rows_does_not_walk_the_deferred_fields_per_tracked_field(
    make_org, make_user, Notification, monkeypatch
):
    """The stock wrapper asks get_deferred_fields() (a walk over every field) on each
    get and set of a tracked field, about 15 walks per row loaded; loaded fields skip
    it, so a page of rows costs at most one walk per row."""
    light = make_user(Role.LIGHT_USER, make_org())
    for n in range(20):
        Notification.send_to_self(light, title=f"note {n}")
    calls = []
    original = Notification.get_deferred_fields

    def counted(self):
        calls.append(self.pk)
        return original(self)

    monkeypatch.setattr(Notification, "get_deferred_fields", counted)
    rows = list(Notification.objects.visible_to(light).prefetch_related(None)[:20])
    assert len(rows) == 20
    assert len(calls) <= len(rows)
    assert all(row.changed_targeting() == [] for row in rows)
    rows[0].scope = "team"
    assert rows[0].changed_targeting() == ["scope"]


def _state_of(row) -> dict:
    """What a loaded row holds: its values, its state, what its tracker remembers."""
    values = {k: v for k, v in row.__dict__.items() if not k.startswith("_")}
    tracker = row.targeting_tracker
    return {
        "values": values,
        "adding": row._state.adding,
        "db": row._state.db,
        "saved": dict(tracker.saved_data),
        "stored": row._notify_stored,
    }


def test_rows_loaded_by_filling_their_fields_match_rows_django_builds(
    make_org, make_user, Notification, monkeypatch
):
    from django_notify.models import tracking

    light = make_user(Role.LIGHT_USER, make_org())
    Notification.send_to_self(light, title="one", meta_data={"k": [1, 2]})
    fast = Notification.objects.filter(recipient=light).get()
    assert tracking.load_row(Notification, "default", [None] * 2) is None  # a partial row
    with monkeypatch.context() as patched:
        patched.setattr(tracking, "plain_attnames", lambda cls, init: None)  # Django's path
        slow = Notification.objects.filter(recipient=light).get()
    assert _state_of(fast) == _state_of(slow)
    assert fast.changed_targeting() == [] == slow.changed_targeting()
    fast.scope = "team"
    assert fast.changed_targeting() == ["scope"]


def test_deferred_fields_and_init_listeners_take_djangos_path(make_org, make_user, Notification):
    from django.db.models.signals import post_init

    light = make_user(Role.LIGHT_USER, make_org())
    Notification.send_to_self(light, title="one")
    partial = Notification.objects.filter(recipient=light).only("pk", "title").get()
    assert partial.get_deferred_fields() and partial.title == "one"
    assert partial.changed_targeting() == []
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listener, sender=Notification)
    try:
        row = Notification.objects.filter(recipient=light).get()
    finally:
        post_init.disconnect(listener, sender=Notification)
    assert seen == [row.pk]


def test_a_loaded_rows_tracker_context_works_when_first_used(make_org, make_user, Notification):
    """The fields context is built on first use, not per row loaded; it still resets the
    saved values of its fields on exit, as django-model-utils documents."""
    light = make_user(Role.LIGHT_USER, make_org())
    Notification.send_to_self(light, title="one")
    row = Notification.objects.filter(recipient=light).get()
    tracker = row.targeting_tracker
    assert "context" not in tracker.__dict__
    with tracker:
        row.team_key = "t1"
        assert tracker.has_changed("team_key")
    assert not tracker.has_changed("team_key")  # saved again on exit
    with tracker("scope"):
        row.scope = "team"
    assert not tracker.has_changed("scope") and tracker.saved_data["scope"] == "team"
