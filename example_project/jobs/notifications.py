"""CHAOTICA's job, phase, leave and client notification types.

Declared as data: one row per type, in a stable order, turned into registered
``NotificationType`` subclasses below. Keys and ids are stored and stable: never change or
reuse one. Ids come in blocks in that order: jobs 1xx, phases 2xx, leave 3xx,
clients 4xx.
Each class is also a module attribute (``jobs.notifications.PhaseLateToTqa``).
"""

from __future__ import annotations

import django_notify
from django_notify import hooks

from .models import Job, LeaveRequest, Phase

JOBS = django_notify.Category("jobs", "Job events", "A job's lifecycle: creation, scoping, status.")
PHASES = django_notify.Category(
    "phases", "Phase events", "A phase's schedule, QA reviews, notes and delivery."
)
LEAVE = django_notify.Category("leave", "Leave events", "Leave requests and their decisions.")
CLIENTS = django_notify.Category("clients", "Client events", "Client onboarding records.")

#: Every context variable a type below needs: name → what it is.
VARIABLES = {
    "job": "The job",
    "phase": "The phase",
    "leave": "The leave request",
    "client": "The client",
    "old_status": "The status before the change",
    "new_status": "The status after the change",
}

#: (category, subject variable, rows of (id, key, label, description, title)).
TABLES = (
    (
        JOBS,
        "job",
        (
            (101, "job.created", "Job Created", "A new job has been created", "Job {job} created"),
            (
                102,
                "job.status_changed",
                "Job Status Change",
                "A job's status has changed",
                "Job {job} moved from {old_status} to {new_status}",
            ),
            (
                103,
                "job.pending_scoping",
                "Job Pending Scoping",
                "A job is waiting to be scoped",
                "Job {job} is waiting to be scoped",
            ),
            (
                104,
                "job.pending_scope_signoff",
                "Job Pending Scope Sign-off",
                "A job scope is awaiting sign-off",
                "The scope of job {job} is awaiting sign-off",
            ),
            (
                105,
                "job.scoping_complete",
                "Job Scoping Complete",
                "Scoping has been completed",
                "Scoping of job {job} is complete",
            ),
            (
                106,
                "job.complete",
                "Job Complete",
                "A job has been fully completed",
                "Job {job} complete",
            ),
        ),
    ),
    (
        PHASES,
        "phase",
        (
            (
                201,
                "phase.created",
                "Phase Created",
                "A new phase has been created",
                "Phase {phase} created",
            ),
            (
                202,
                "phase.status_changed",
                "Phase Status Change",
                "A phase's status has changed",
                "Phase {phase} moved from {old_status} to {new_status}",
            ),
            (
                203,
                "phase.late_to_tqa",
                "Phase Late to TQA",
                "A phase is overdue for technical QA",
                "Phase {phase} is late to technical QA",
            ),
            (
                204,
                "phase.late_to_pqa",
                "Phase Late to PQA",
                "A phase is overdue for presentation QA",
                "Phase {phase} is late to presentation QA",
            ),
            (
                205,
                "phase.late_to_delivery",
                "Phase Late to Delivery",
                "A phase is overdue for delivery",
                "Phase {phase} is late to delivery",
            ),
            (
                206,
                "phase.new_note",
                "Phase New Note",
                "A note has been added to a phase",
                "New note on phase {phase}",
            ),
            (
                207,
                "phase.tqa_updates",
                "Phase TQA Updates",
                "Updates to a phase's TQA review",
                "Technical QA of phase {phase} updated",
            ),
            (
                208,
                "phase.pqa_updates",
                "Phase PQA Updates",
                "Updates to a phase's PQA review",
                "Presentation QA of phase {phase} updated",
            ),
            (
                209,
                "phase.feedback",
                "Phase Feedback",
                "Feedback has been left on a phase",
                "Feedback left on phase {phase}",
            ),
            (
                210,
                "phase.pending_scheduling",
                "Phase Pending Scheduling",
                "A phase is waiting to be scheduled",
                "Phase {phase} is waiting to be scheduled",
            ),
            (
                211,
                "phase.schedule_confirmed",
                "Phase Schedule Confirmed",
                "A phase's schedule has been confirmed",
                "Schedule of phase {phase} confirmed",
            ),
            (
                212,
                "phase.ready_for_prechecks",
                "Phase Ready for Pre-checks",
                "A phase is ready for pre-delivery checks",
                "Phase {phase} is ready for pre-checks",
            ),
            (
                213,
                "phase.client_not_ready",
                "Phase Client Not Ready",
                "The client is not ready for the phase",
                "The client is not ready for phase {phase}",
            ),
            (
                214,
                "phase.ready",
                "Phase Ready",
                "A phase is ready to begin",
                "Phase {phase} is ready",
            ),
            (
                215,
                "phase.in_progress",
                "Phase In Progress",
                "A phase has started",
                "Phase {phase} is in progress",
            ),
            (
                216,
                "phase.pending_tqa",
                "Phase Pending TQA",
                "A phase is awaiting technical QA",
                "Phase {phase} is awaiting technical QA",
            ),
            (
                217,
                "phase.pending_pqa",
                "Phase Pending PQA",
                "A phase is awaiting presentation QA",
                "Phase {phase} is awaiting presentation QA",
            ),
            (
                218,
                "phase.pending_delivery",
                "Phase Pending Delivery",
                "A phase is awaiting delivery to the client",
                "Phase {phase} is awaiting delivery",
            ),
            (
                219,
                "phase.completed",
                "Phase Completed",
                "A phase has been completed",
                "Phase {phase} completed",
            ),
            (
                220,
                "phase.postponed",
                "Phase Postponed",
                "A phase has been postponed",
                "Phase {phase} postponed",
            ),
            (
                221,
                "phase.prechecks_overdue",
                "Phase Pre-checks Overdue",
                "Pre-delivery checks are overdue",
                "Pre-checks of phase {phase} are overdue",
            ),
        ),
    ),
    (
        LEAVE,
        "leave",
        (
            (
                301,
                "leave.submitted",
                "Leave Submitted",
                "A leave request has been submitted",
                "Leave request {leave} submitted",
            ),
            (
                302,
                "leave.approved",
                "Leave Approved",
                "A leave request has been approved",
                "Leave request {leave} approved",
            ),
            (
                303,
                "leave.rejected",
                "Leave Rejected",
                "A leave request has been rejected",
                "Leave request {leave} rejected",
            ),
            (
                304,
                "leave.cancelled",
                "Leave Cancelled",
                "A leave request has been cancelled",
                "Leave request {leave} cancelled",
            ),
        ),
    ),
    (
        CLIENTS,
        "client",
        (
            (
                401,
                "client.onboarding_renewal",
                "Client Onboarding Renewal",
                "A client onboarding record needs renewal",
                "Onboarding of client {client} needs renewal",
            ),
        ),
    ),
)

#: Late and overdue work: high priority, emailed by default.
URGENT = {
    "phase.late_to_tqa",
    "phase.late_to_pqa",
    "phase.late_to_delivery",
    "phase.prechecks_overdue",
}
#: Emailed by default as well: sign-offs, urgent types and leave decisions.
EMAILED = {"job.pending_scope_signoff", "leave.approved", "leave.rejected"} | URGENT


def class_name(key: str) -> str:
    """``"phase.late_to_tqa"`` → ``"PhaseLateToTqa"``."""
    return "".join(word.capitalize() for word in key.replace(".", "_").split("_"))


def declare(category, subject, type_id, key, label, description, title):
    """Build and register one ``NotificationType`` subclass from a table row."""
    needed = [subject] + (["old_status", "new_status"] if key.endswith(".status_changed") else [])
    attrs = {
        "__doc__": description + ".",
        "key": key,
        "id": type_id,
        "label": label,
        "description": description,
        "category": category,
        "default_priority": (
            django_notify.Priority.HIGH if key in URGENT else django_notify.Priority.NORMAL
        ),
        "channels": ("in_app", "email"),
        "default_channels": ("in_app", "email") if key in EMAILED else ("in_app",),
        "context": {name: VARIABLES[name] for name in needed},
        "title": title,
    }
    return django_notify.register(type(class_name(key), (django_notify.NotificationType,), attrs))


for _category, _subject, _rows in TABLES:
    for _row in _rows:
        _cls = declare(_category, _subject, *_row)
        globals()[_cls.__name__] = _cls
del _category, _subject, _rows, _row, _cls


# --- hooks: saving a job, a phase or a leave request emits its event --------------------------
# Below the types they emit (django-notify imports this module from its ready(), so the
# models are loaded and every hook is connected once). Who hears about each event is up
# to subscriptions and rules (JobRoleCriterion, PhaseRoleCriterion in models.py).


def status_change_context(subject: str):
    """The subject's text and both statuses as their labels ("In progress", not the code).

    ``on_change`` reports ``old_status``/``new_status`` as the stored codes and gives this
    callable the instance only, so the old label comes from ``StatusMemory``; when that is
    unknown the hook's own ``old_status`` (the code) stays.
    """

    def context(instance) -> dict:
        values = {subject: str(instance), "new_status": instance.get_status_display()}
        if instance.previous_status is not None:
            values["old_status"] = instance.status_label(instance.previous_status)
        return values

    return context


hooks.on_create(
    Job,
    "job.created",
    actor=lambda job: job.created_by,
    context=lambda job: {"job": str(job)},
)
hooks.on_change(Job, "status", "job.status_changed", context=status_change_context("job"))
# The job types named after a status: one more event when a job moves into that status.
for _status in ("pending_scoping", "pending_scope_signoff", "scoping_complete", "complete"):
    hooks.on_change(
        Job,
        "status",
        f"job.{_status}",
        when=lambda job, status=_status: job.status == status,
        context=lambda job: {"job": str(job)},
    )
del _status
hooks.on_create(
    Phase,
    "phase.created",
    actor=lambda phase: phase.job.created_by,
    context=lambda phase: {"phase": str(phase)},
)
hooks.on_change(Phase, "status", "phase.status_changed", context=status_change_context("phase"))

# Leave: submitting goes to whoever the rules name (the job's account managers);
# a decision goes to the person who asked, as the hook's explicit recipient.
hooks.on_create(
    LeaveRequest,
    "leave.submitted",
    actor=lambda leave: leave.user,
    context=lambda leave: {"leave": str(leave)},
)
for _status in ("approved", "rejected"):
    hooks.on_change(
        LeaveRequest,
        "status",
        f"leave.{_status}",
        when=lambda leave, status=_status: leave.status == status,
        recipients=lambda leave: [leave.user_id],
        actor=lambda leave: leave.decided_by,
        context=lambda leave: {"leave": str(leave)},
    )
hooks.on_change(
    LeaveRequest,
    "status",
    "leave.cancelled",
    when=lambda leave: leave.status == LeaveRequest.Status.CANCELLED,
    actor=lambda leave: leave.user,
    context=lambda leave: {"leave": str(leave)},
)
del _status


def client_onboarding_renewal(job: Job, actor) -> object:
    """A change to the job's client that needs its onboarding renewed: an event on the
    job (so the rules' job roles apply), the client named in the context."""
    return django_notify.emit(
        "client.onboarding_renewal",
        target=job,
        actor=actor,
        context={"client": str(job.organization)},
    )
