"""The example project's CHAOTICA types (jobs/notifications.py) against the expected tables."""

import string

import pytest
from django.core.exceptions import ValidationError

from django_notify import NotificationType, Priority, notification_types

# The expected notification types: (label, description) per table, in a stable order.
EXPECTED = {
    "jobs": [
        ("Job Created", "A new job has been created"),
        ("Job Status Change", "A job's status has changed"),
        ("Job Pending Scoping", "A job is waiting to be scoped"),
        ("Job Pending Scope Sign-off", "A job scope is awaiting sign-off"),
        ("Job Scoping Complete", "Scoping has been completed"),
        ("Job Complete", "A job has been fully completed"),
    ],
    "phases": [
        ("Phase Created", "A new phase has been created"),
        ("Phase Status Change", "A phase's status has changed"),
        ("Phase Late to TQA", "A phase is overdue for technical QA"),
        ("Phase Late to PQA", "A phase is overdue for presentation QA"),
        ("Phase Late to Delivery", "A phase is overdue for delivery"),
        ("Phase New Note", "A note has been added to a phase"),
        ("Phase TQA Updates", "Updates to a phase's TQA review"),
        ("Phase PQA Updates", "Updates to a phase's PQA review"),
        ("Phase Feedback", "Feedback has been left on a phase"),
        ("Phase Pending Scheduling", "A phase is waiting to be scheduled"),
        ("Phase Schedule Confirmed", "A phase's schedule has been confirmed"),
        ("Phase Ready for Pre-checks", "A phase is ready for pre-delivery checks"),
        ("Phase Client Not Ready", "The client is not ready for the phase"),
        ("Phase Ready", "A phase is ready to begin"),
        ("Phase In Progress", "A phase has started"),
        ("Phase Pending TQA", "A phase is awaiting technical QA"),
        ("Phase Pending PQA", "A phase is awaiting presentation QA"),
        ("Phase Pending Delivery", "A phase is awaiting delivery to the client"),
        ("Phase Completed", "A phase has been completed"),
        ("Phase Postponed", "A phase has been postponed"),
        ("Phase Pre-checks Overdue", "Pre-delivery checks are overdue"),
    ],
    "leave": [
        ("Leave Submitted", "A leave request has been submitted"),
        ("Leave Approved", "A leave request has been approved"),
        ("Leave Rejected", "A leave request has been rejected"),
        ("Leave Cancelled", "A leave request has been cancelled"),
    ],
    "clients": [
        ("Client Onboarding Renewal", "A client onboarding record needs renewal"),
    ],
}
FIRST_ID = {"jobs": 101, "phases": 201, "leave": 301, "clients": 401}
SUBJECT = {"jobs": "job", "phases": "phase", "leave": "leave", "clients": "client"}
URGENT = {"Phase Late to TQA", "Phase Late to PQA", "Phase Late to Delivery"}
URGENT |= {"Phase Pre-checks Overdue"}
EMAILED = URGENT | {"Job Pending Scope Sign-off", "Leave Approved", "Leave Rejected"}


def example_types():
    return [t for t in notification_types if t.__module__ == "jobs.notifications"]


ALL = [
    (category, FIRST_ID[category] + n, label, description)
    for category, rows in EXPECTED.items()
    for n, (label, description) in enumerate(rows)
]


def test_seed_counts():
    assert {c: len(rows) for c, rows in EXPECTED.items()} == {
        "jobs": 6,
        "phases": 21,
        "leave": 4,
        "clients": 1,
    }


def test_every_seed_type_is_registered_once_with_a_unique_id():
    types = example_types()
    assert len(types) == len(ALL) == 32
    assert len({t.key for t in types}) == len({t.id for t in types}) == 32
    ids = [t.id for t in notification_types if t.id is not None]
    assert len(ids) == len(set(ids))
    assert {t.label for t in types} == {label for _, _, label, _ in ALL}
    for t in types:
        assert issubclass(t, NotificationType)
        assert notification_types.get(t.key) is t


@pytest.mark.parametrize(("category", "type_id", "label", "description"), ALL)
def test_type_matches_the_seed(category, type_id, label, description):
    t = notification_types.by_id(type_id)
    assert t.__module__ == "jobs.notifications"
    assert (t.label, t.description) == (label, description)
    assert t.category.key == category
    assert t.category.name and t.category.description
    assert t.key.startswith(SUBJECT[category] + ".")
    assert t.channels == ("in_app", "email")
    expected_channels = ("in_app", "email") if label in EMAILED else ("in_app",)
    assert t.default_channels == expected_channels
    assert t.default_priority == (Priority.HIGH if label in URGENT else Priority.NORMAL)


@pytest.mark.parametrize(
    ("key", "type_id"),
    [
        ("job.created", 101),
        ("job.status_changed", 102),
        ("phase.late_to_tqa", 203),
        ("leave.submitted", 301),
        ("client.onboarding_renewal", 401),
    ],
)
def test_stable_keys(key, type_id):
    assert notification_types.get(key).id == type_id


@pytest.mark.parametrize(("category", "type_id", "label", "description"), ALL)
def test_context_is_required_and_the_title_renders(category, type_id, label, description):
    t = notification_types.by_id(type_id)
    required = set(t.context)
    assert SUBJECT[category] in required
    if "Status Change" in label:
        assert required == {SUBJECT[category], "old_status", "new_status"}
    for missing in required:
        context = {name: name.upper() for name in required - {missing}}
        with pytest.raises(ValidationError, match=missing):
            t.validate_context(context)
    context = t.validate_context({name: f"<{name}>" for name in required})
    title = t.render(t.title, context)
    assert title and "{" not in title
    used = {name for _, name, _, _ in string.Formatter().parse(t.title) if name}
    assert used == required  # the title names every required variable, and only those
    for name in required:
        assert f"<{name}>" in title


def test_status_change_titles():
    job = notification_types.get("job.status_changed")
    ctx = {"job": "J-1", "old_status": "Scoping", "new_status": "Scheduled"}
    assert job.render(job.title, ctx) == "Job J-1 moved from Scoping to Scheduled"
    phase = notification_types.get("phase.status_changed")
    with pytest.raises(ValidationError, match="new_status, old_status"):
        phase.validate_context({"phase": "P-1"})


def test_categories():
    categories = {c.key: c for c in notification_types.categories()}
    assert set(EXPECTED) <= set(categories)
    assert {c: len([t for t in example_types() if t.category.key == c]) for c in EXPECTED} == {
        c: len(rows) for c, rows in EXPECTED.items()
    }
