"""CHAOTICA's jobs and phases, with the people who hold a role on each, and the
two per-event criteria that subscribe those people: ``JobRoleCriterion`` (job roles)
and ``PhaseRoleCriterion`` (phase roles).

The status fields follow the notification types in ``notifications.py``: a job moves
through scoping to completion, a phase through scheduling, QA and delivery, a leave
request from submitted to a decision.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from django_notify.rules import RuleCriterion


def _role(label: str) -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=label,
    )


class StatusMemory(models.Model):
    """Remembers the status a row was loaded or last saved with, so a hook's context can
    show the old status's label (``on_change`` hands its context callable the instance
    only, and reports the old value as the stored code)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)  # post_save (and the hooks) run in here
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "status" in update_fields:
            self._saved_status = self.status

    @classmethod
    def from_db(cls, db, field_names, values, *args, **kwargs):
        # Pass through what newer Django adds (6.1's fetch_mode) without naming it.
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        instance._saved_status = instance.__dict__.get("status")
        return instance

    @property
    def previous_status(self) -> str | None:
        """The status as stored before this save (``None`` when unknown)."""
        return getattr(self, "_saved_status", None)

    def status_label(self, value: str | None) -> str:
        return str(dict(self._meta.get_field("status").flatchoices).get(value, value or ""))


class Job(StatusMemory):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_SCOPING = "pending_scoping", "Pending scoping"
        PENDING_SCOPE_SIGNOFF = "pending_scope_signoff", "Pending scope sign-off"
        SCOPING_COMPLETE = "scoping_complete", "Scoping complete"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETE = "complete", "Complete"

    #: The job roles: field name → label (JobRoleCriteria).
    ROLES = {
        "account_manager": "Account Manager",
        "deputy_account_manager": "Deputy Account Manager",
        "created_by": "Created By",
        "primary_poc": "Primary Point of Contact",
        "scoped_by": "Scoped By",
        "scope_signed_off_by": "Scope Signed-off By",
    }

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.DRAFT)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="jobs"
    )
    account_manager = _role(ROLES["account_manager"])
    deputy_account_manager = _role(ROLES["deputy_account_manager"])
    created_by = _role(ROLES["created_by"])
    primary_poc = _role(ROLES["primary_poc"])
    scoped_by = _role(ROLES["scoped_by"])
    scope_signed_off_by = _role(ROLES["scope_signed_off_by"])

    class Meta:
        ordering = ("pk",)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("job-detail", args=[self.pk])


class Phase(StatusMemory):
    class Status(models.TextChoices):
        PENDING_SCHEDULING = "pending_scheduling", "Pending scheduling"
        SCHEDULE_CONFIRMED = "schedule_confirmed", "Schedule confirmed"
        READY_FOR_PRECHECKS = "ready_for_prechecks", "Ready for pre-checks"
        CLIENT_NOT_READY = "client_not_ready", "Client not ready"
        READY = "ready", "Ready"
        IN_PROGRESS = "in_progress", "In progress"
        PENDING_TQA = "pending_tqa", "Pending technical QA"
        PENDING_PQA = "pending_pqa", "Pending presentation QA"
        PENDING_DELIVERY = "pending_delivery", "Pending delivery"
        COMPLETED = "completed", "Completed"
        POSTPONED = "postponed", "Postponed"

    #: The phase roles: field name → label (PhaseRoleCriteria).
    ROLES = {
        "project_lead": "Project Lead",
        "report_author": "Report Author",
        "tqa_reviewer": "TQA Reviewer",
        "pqa_reviewer": "PQA Reviewer",
    }

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="phases")
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=30, choices=Status.choices, default=Status.PENDING_SCHEDULING
    )
    project_lead = _role(ROLES["project_lead"])
    report_author = _role(ROLES["report_author"])
    tqa_reviewer = _role(ROLES["tqa_reviewer"])
    pqa_reviewer = _role(ROLES["pqa_reviewer"])

    class Meta:
        ordering = ("job", "pk")

    def __str__(self) -> str:
        return f"{self.job} / {self.title}"

    def get_absolute_url(self) -> str:
        return f"{self.job.get_absolute_url()}#phase-{self.pk}"


class LeaveRequest(StatusMemory):
    """Someone's leave that affects a job: submitting it tells the job's account managers
    (a rule), deciding it tells the person who asked (the hook's recipients)."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leave_requests"
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="leave_requests")
    first_day = models.DateField()
    last_day = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    decided_by = _role("Decided By")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("job", "first_day", "pk")

    def __str__(self) -> str:
        days = f"{self.first_day:%d %b %Y}"
        if self.last_day != self.first_day:
            days = f"{self.first_day:%d %b} to {self.last_day:%d %b %Y}"
        return f"{self.user}, {days} ({self.job})"

    def get_absolute_url(self) -> str:
        return f"{self.job.get_absolute_url()}#leave-{self.pk}"

    def clean(self):
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValidationError({"last_day": "The last day cannot be before the first day."})


def _users():
    return get_user_model()._default_manager


def _job_of(target) -> Job | None:
    if isinstance(target, Job):
        return target
    if isinstance(target, Phase | LeaveRequest):
        return target.job
    return None


class JobRoleCriterion(RuleCriterion):
    """The user holding a role on the event's job; a phase's or a leave request's event
    uses its job."""

    per_event = True  # needs the job: evaluated for each event, creates no subscriptions

    role = models.CharField(max_length=30, choices=list(Job.ROLES.items()))

    class Meta:
        verbose_name = "job role criterion"

    def __str__(self) -> str:
        return f"job's {self.get_role_display()}"

    def matching_users(self, target=None):
        job = _job_of(target)
        user_id = getattr(job, f"{self.role}_id", None) if job is not None else None
        if user_id is None:
            return _users().none()
        return _users().filter(pk=user_id)


class PhaseRoleCriterion(RuleCriterion):
    """The user holding a role on the event's phase; for a job's event, whoever holds
    that role on any of the job's phases."""

    per_event = True

    role = models.CharField(max_length=30, choices=list(Phase.ROLES.items()))

    class Meta:
        verbose_name = "phase role criterion"

    def __str__(self) -> str:
        return f"phase's {self.get_role_display()}"

    def matching_users(self, target=None):
        if isinstance(target, Phase):
            user_id = getattr(target, f"{self.role}_id")
            return _users().none() if user_id is None else _users().filter(pk=user_id)
        if isinstance(target, Job):
            holders = Phase.objects.filter(job=target, **{f"{self.role}__isnull": False})
            return _users().filter(pk__in=holders.values(self.role))
        return _users().none()
