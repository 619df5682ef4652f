"""The demo's pages: the landing page's tour, a notification feed, per-row and bulk
actions, a send form, jobs (whose status, phases, leave and client changes notify people
through hooks, events and rules) and a page that raises a platform alert.

Everything goes through django-notify's public API: ``visible_to(user)`` for the feed,
``unread_count``, ``mark_read`` / ``dismiss`` / ``mark_all_read`` / ``dismiss_all`` for
state, and ``send`` / ``send_to_self`` / ``send_system`` with ``sender=request.user``.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from jobs.models import Job, LeaveRequest, Phase
from jobs.notifications import client_onboarding_renewal
from organizations.models import Membership, Organization, Team

from django_notify import NotVisible, Scope, SendRefused, alerts, get_notification_model
from django_notify.conf import app_settings

from .forms import AlertForm, LeaveForm, SendForm
from .seed import PASSWORD, USERS
from .tour import TOUR

PAGE_SIZE = 20

# Where the package's field names land on the form.
FORM_FIELD_FOR = {
    "title": "title",
    "description": "description",
    "level": "level",
    "priority": "priority",
    "target_user": "user",
    "user_ids": "user",
    "target_team": "team",
    "team_ids": "team",
}


# --- the feed ---------------------------------------------------------------------------
def _cursor(notification) -> str:
    return f"{notification.created_at.isoformat()}_{notification.pk}"


def _parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """``"<created_at ISO>_<pk>"`` → (created_at, pk); anything malformed → None."""
    if not value:
        return None
    created_at, _, pk = value.rpartition("_")
    try:
        parsed = datetime.fromisoformat(created_at)
        return (parsed, int(pk)) if parsed.tzinfo is not None else None
    except ValueError:
        return None


def _audiences(page) -> dict[int, str]:
    """A readable audience per row, with one query per kind of broadcast on the page."""
    team_ids = {int(n.team_key) for n in page if n.scope == Scope.TEAM and n.team_key.isdigit()}
    org_ids = {
        int(n.organization_key)
        for n in page
        if n.scope == Scope.ORGANIZATION and n.organization_key.isdigit()
    }
    teams = Team.objects.in_bulk(team_ids) if team_ids else {}
    orgs = Organization.objects.in_bulk(org_ids) if org_ids else {}
    labels = {}
    for n in page:
        if n.scope == Scope.USER:
            labels[n.pk] = "you"
        elif n.scope == Scope.TEAM:
            team = teams.get(int(n.team_key)) if n.team_key.isdigit() else None
            labels[n.pk] = f"team {team.name}" if team else f"team #{n.team_key}"
        elif n.scope == Scope.ORGANIZATION:
            org = orgs.get(int(n.organization_key)) if n.organization_key.isdigit() else None
            labels[n.pk] = f"all of {org.name}" if org else "your organization"
        else:
            labels[n.pk] = "everyone"
    return labels


def _render_home(request, form: SendForm | None = None):
    user = request.user
    Notification = get_notification_model()
    feed = Notification.objects.visible_to(user).with_related()
    cursor = _parse_cursor(request.GET.get("before"))
    if cursor is not None:
        feed = feed.after(*cursor)
    page = list(feed[: PAGE_SIZE + 1])
    older_url = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        older_url = "?" + urlencode({"before": _cursor(page[-1])})
    audiences = _audiences(page)
    levels = app_settings.LEVELS
    for n in page:
        n.audience_label = audiences[n.pk]
        n.level_label = levels.get(n.level, n.level)
    membership = Membership.objects.select_related("organization").filter(user=user).first()
    context = {
        "notifications": page,
        "older_url": older_url,
        "is_first_page": cursor is None,
        "membership": membership,
        "form": form or SendForm(),
        "here": request.get_full_path(),
    }
    return render(request, "demo/home.html", context)


def landing(request, form: AuthenticationForm | None = None):
    """Before logging in: the tour of every system, the demo logins and the login form."""
    context = {
        "tour": TOUR,
        "demo_users": USERS,
        "demo_password": PASSWORD,
        "form": form or AuthenticationForm(request),
    }
    return render(request, "registration/login.html", context)


@require_GET
def home(request):
    if not request.user.is_authenticated:
        return landing(request)
    return _render_home(request)


def forbidden(request, reason: str):
    """A 403 page in the demo's layout (a refusal is part of the tour, not an error)."""
    return render(request, "demo/forbidden.html", {"reason": reason}, status=403)


# --- per-row and bulk state -----------------------------------------------------------------
def _back(request, default: str = "home"):
    """Back to the page the form was on (``next``), if it is on this site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _act(request, pk: int, action: str):
    """``mark_read`` or ``dismiss`` one row for the current user.

    A row that is missing, not visible to the user or already dismissed (a double
    click) gets the same answer, so the page never tells other users' rows apart.
    """
    notification = get_notification_model().objects.filter(pk=pk).first()
    try:
        if notification is not None:
            getattr(notification, action)(request.user)
            return _back(request)
    except NotVisible:
        pass
    messages.warning(request, "That notification is no longer in your feed.")
    return _back(request)


@login_required
@require_POST
def mark_read(request, pk: int):
    return _act(request, pk, "mark_read")


@login_required
@require_POST
def dismiss(request, pk: int):
    return _act(request, pk, "dismiss")


@login_required
@require_POST
def mark_all_read(request):
    changed = get_notification_model().objects.mark_all_read(request.user)
    messages.success(request, f"Marked {changed} notification{'s' * (changed != 1)} read.")
    return _back(request)


@login_required
@require_POST
def dismiss_all(request):
    changed = get_notification_model().objects.dismiss_all(request.user)
    messages.success(request, f"Dismissed {changed} notification{'s' * (changed != 1)}.")
    return redirect("home")


# --- sending -------------------------------------------------------------------------------
def _send(sender, data: dict) -> list:
    Notification = get_notification_model()
    content = {
        "title": data["title"],
        "description": data["description"],
        "type": data["level"],
        "priority": data["priority"],
    }
    target = data["target"]
    if target == "self":
        return Notification.send_to_self(sender, **content)
    if target == "user":
        return Notification.send(sender, target_user=data["user"], **content)
    if target == "team":
        return Notification.send(sender, target_team=data["team"], **content)
    if target == "organization":
        return Notification.send(sender, is_global=True, **content)
    return Notification.send_system(sender, is_global=True, **content)


def _add_validation_error(form: SendForm, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for name, errors in exc.message_dict.items():
        field = FORM_FIELD_FOR.get(name)
        for message in errors:
            if field:
                form.add_error(field, message)
            else:
                form.add_error(None, f"{name}: {message}")


@login_required
@require_POST
def send(request):
    form = SendForm(request.POST)
    if form.is_valid():
        try:
            rows = _send(request.user, form.cleaned_data)
        except SendRefused as exc:
            form.add_error(None, f"Refused: {exc}")
        except ValidationError as exc:
            _add_validation_error(form, exc)
        else:
            count = len(rows)
            messages.success(
                request, f"Sent “{form.cleaned_data['title']}” ({count} row{'s' * (count != 1)})."
            )
            return redirect("home")
    return _render_home(request, form)


# --- jobs ----------------------------------------------------------------------------------
def _header(user) -> dict:
    """What base.html's header shows besides the bell: the user's organization."""
    return {
        "membership": Membership.objects.select_related("organization").filter(user=user).first(),
    }


def _visible_jobs(user):
    """Superusers see every job; everyone else the jobs of their organization."""
    jobs = Job.objects.select_related("organization", *Job.ROLES)
    if user.is_superuser:
        return jobs
    return jobs.filter(organization__memberships__user=user)


def _may_change(user, job: Job) -> bool:
    return user.is_staff or job.account_manager_id == user.pk


def _manages(user, job: Job) -> bool:
    """Staff and the job's account managers decide leave and flag client changes."""
    return _may_change(user, job) or job.deputy_account_manager_id == user.pk


def _may_change_phase(user, phase: Phase) -> bool:
    return _may_change(user, phase.job) or phase.project_lead_id == user.pk


def _roles(obj) -> list[tuple[str, object]]:
    return [(label, getattr(obj, field)) for field, label in obj.ROLES.items()]


@login_required
@require_GET
def jobs(request):
    rows = list(_visible_jobs(request.user))
    for job in rows:
        job.roles = _roles(job)
        job.may_change = _may_change(request.user, job)
    context = {
        "jobs": rows,
        "statuses": Job.Status.choices,
        "here": request.get_full_path(),
        **_header(request.user),
    }
    return render(request, "demo/jobs.html", context)


@login_required
@require_GET
def job_detail(request, pk: int):
    job = _visible_jobs(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return _render_job(request, job)


def _render_job(request, job: Job, leave_form: LeaveForm | None = None):
    user = request.user
    job.roles = _roles(job)
    job.may_change = _may_change(user, job)
    job.managed = _manages(user, job)
    phases = list(Phase.objects.filter(job=job).select_related("job", *Phase.ROLES))
    for phase in phases:
        phase.roles = _roles(phase)
        phase.may_change = _may_change_phase(user, phase)
    leave = list(LeaveRequest.objects.filter(job=job).select_related("user", "decided_by"))
    for request_ in leave:
        request_.may_decide = job.managed and request_.status == LeaveRequest.Status.SUBMITTED
        request_.may_cancel = request_.user_id == user.pk and request_.status in (
            LeaveRequest.Status.SUBMITTED,
            LeaveRequest.Status.APPROVED,
        )
    context = {
        "job": job,
        "phases": phases,
        "leave_requests": leave,
        "leave_form": leave_form or LeaveForm(),
        "statuses": Job.Status.choices,
        "phase_statuses": Phase.Status.choices,
        "here": request.get_full_path(),
        **_header(user),
    }
    return render(request, "demo/job_detail.html", context)


@login_required
@require_POST
def job_status(request, pk: int):
    """Move a job to another status (staff or its account manager only).

    The save is all this view does about notifications: the ``on_change`` hook in
    ``jobs/notifications.py`` emits ``job.status_changed`` in the save's transaction, and
    once it commits the rules decide who hears about it.
    """
    job = _visible_jobs(request.user).filter(pk=pk).first()
    status = request.POST.get("status", "")
    if job is None:
        messages.warning(request, "That job is not there any more.")
    elif not _may_change(request.user, job):
        messages.error(
            request, f"Only staff or the account manager of {job} may change its status."
        )
    elif status not in Job.Status.values:
        messages.error(request, "Choose one of the job statuses.")
    elif status == job.status:
        messages.info(request, f"{job} is already {job.get_status_display()}.")
    else:
        old = job.get_status_display()
        with transaction.atomic():
            job.status = status
            job.save(update_fields=["status"])
        messages.success(request, f"Job {job} moved from {old} to {job.get_status_display()}.")
    return _back(request, default="jobs")


def _job_or_none(request, pk: int) -> Job | None:
    job = _visible_jobs(request.user).filter(pk=pk).first()
    if job is None:
        messages.warning(request, "That job is not there any more.")
    return job


@login_required
@require_POST
def phase_status(request, pk: int):
    """Move a phase to another status (staff, the job's account manager or the phase's
    project lead). As for jobs, the save's ``on_change`` hook emits
    ``phase.status_changed`` and the rule "Project leads follow their phases" decides who
    hears about it."""
    phase = (
        Phase.objects.select_related("job")
        .filter(pk=pk, job__in=_visible_jobs(request.user).values("pk"))
        .first()
    )
    status = request.POST.get("status", "")
    if phase is None:
        messages.warning(request, "That phase is not there any more.")
        return _back(request, default="jobs")
    if not _may_change_phase(request.user, phase):
        messages.error(
            request,
            f"Only staff, the account manager or the project lead may change {phase.title}.",
        )
    elif status not in Phase.Status.values:
        messages.error(request, "Choose one of the phase statuses.")
    elif status == phase.status:
        messages.info(request, f"{phase.title} is already {phase.get_status_display()}.")
    else:
        old = phase.get_status_display()
        with transaction.atomic():
            phase.status = status
            phase.save(update_fields=["status"])
        messages.success(
            request, f"Phase {phase} moved from {old} to {phase.get_status_display()}."
        )
    return _back(request, default="jobs")


@login_required
@require_POST
def leave_create(request, pk: int):
    """Report one's own leave on a job. Creating the row is the event: the hook emits
    ``leave.submitted`` and a rule tells the job's account managers."""
    job = _job_or_none(request, pk)
    if job is None:
        return redirect("jobs")
    form = LeaveForm(request.POST)
    if not form.is_valid():
        return _render_job(request, job, leave_form=form)
    with transaction.atomic():
        leave = form.save(commit=False)
        leave.user = request.user
        leave.job = job
        leave.save()
    messages.success(request, f"Leave reported: {leave}. The job's account managers are told.")
    return redirect(job)


@login_required
@require_POST
def leave_decide(request, pk: int):
    """Approve, reject or cancel a leave request. The status change is the event: the
    hooks send ``leave.approved``/``leave.rejected`` to the requester, ``leave.cancelled``
    to the job's account managers (a rule)."""
    leave = (
        LeaveRequest.objects.select_related("job", "user")
        .filter(pk=pk, job__in=_visible_jobs(request.user).values("pk"))
        .first()
    )
    if leave is None:
        messages.warning(request, "That leave request is not there any more.")
        return redirect("jobs")
    decision = request.POST.get("decision", "")
    Status = LeaveRequest.Status
    allowed = {
        Status.APPROVED: _manages(request.user, leave.job) and leave.status == Status.SUBMITTED,
        Status.REJECTED: _manages(request.user, leave.job) and leave.status == Status.SUBMITTED,
        Status.CANCELLED: leave.user_id == request.user.pk
        and leave.status in (Status.SUBMITTED, Status.APPROVED),
    }
    if not allowed.get(decision, False):
        messages.error(
            request,
            "Staff and the job's account managers decide leave; only its requester cancels it.",
        )
    else:
        with transaction.atomic():
            leave.status = decision
            leave.decided_by = request.user
            leave.save(update_fields=["status", "decided_by"])
        messages.success(request, f"Leave {leave} {leave.get_status_display().lower()}.")
    return redirect(leave.job)


@login_required
@require_POST
def client_renewal(request, pk: int):
    """Flag a change in the job's client that needs its onboarding renewed: an explicit
    ``emit()`` (there is no model save to hook), on the job, so the rule's job roles
    (account manager and primary contact) apply."""
    job = _job_or_none(request, pk)
    if job is None:
        return redirect("jobs")
    if not _manages(request.user, job):
        messages.error(request, "Only staff or the job's account managers may flag the client.")
    else:
        with transaction.atomic():
            client_onboarding_renewal(job, request.user)
        messages.success(request, f"Client {job.organization} flagged for onboarding renewal.")
    return redirect(job)


# --- platform alerts ------------------------------------------------------------------------
@login_required
def alerts_page(request):
    """Raise a demo alert through ``alerts.raise_alert()``: raised twice it stays one
    alert with two occurrences; it is resolved on the notification centre's Alerts tab."""
    if not alerts.can_manage_alerts(request.user):
        return forbidden(request, "Platform alerts are for staff: log in as staff or admin.")
    form = AlertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        alert, created = alerts.raise_alert(**form.alert_arguments())
        if created:
            messages.success(request, f"Opened alert #{alert.pk}: {alert.title}.")
        else:
            messages.success(
                request,
                f"Alert #{alert.pk} occurred again: {alert.occurrence_count} occurrences, "
                "still one alert.",
            )
        return redirect("alerts")
    context = {
        "form": form,
        "active": list(alerts.active_alerts()[:20]),
        "stats": alerts.statistics(),
        **_header(request.user),
    }
    return render(request, "demo/alerts.html", context)
