"""The example project's jobs app: Job and Phase, their hooks and the two
per-event role criteria, against a real database under ``tests.settings``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from jobs.models import Job, JobRoleCriterion, Phase, PhaseRoleCriterion

from django_notify.models import Event, OptOut, Subscription
from django_notify.rules import OrganizationRoleCriterion, SubscriptionRule

# Notifications link to the job page, which lives in the demo's URLconf.
pytestmark = [pytest.mark.django_db, pytest.mark.urls("example.urls")]


@pytest.fixture
def org(make_org):
    return make_org("Acme jobs")


@pytest.fixture
def people(make_user, org):
    names = ("am", "deputy", "creator", "lead", "author", "bystander")
    return {name: make_user(org=org, username=name) for name in names}


@pytest.fixture
def job(people, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return Job.objects.create(
            title="ACME pentest",
            organization=org,
            status=Job.Status.PENDING_SCOPING,
            account_manager=people["am"],
            deputy_account_manager=people["deputy"],
            created_by=people["creator"],
        )


@pytest.fixture
def phase(job, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return Phase.objects.create(
            job=job, title="External", project_lead=people["lead"], report_author=people["author"]
        )


def make_rule(capture, type_key, *criteria, **fields):
    """A rule with its criteria, committed so that its sync runs."""
    with capture(execute=True):
        rule = SubscriptionRule.objects.create(
            name=f"{type_key} rule", notification_type=type_key, **fields
        )
        for model, kwargs in criteria:
            model.objects.create(rule=rule, **kwargs)
    return rule


def notified(Notification, type_key) -> set[str]:
    rows = Notification.objects.filter(notification_type=type_key)
    return set(rows.values_list("recipient__username", flat=True))


@pytest.fixture
def account_manager_rule(django_capture_on_commit_callbacks):
    return make_rule(
        django_capture_on_commit_callbacks,
        "job.status_changed",
        (JobRoleCriterion, {"role": "account_manager"}),
        (JobRoleCriterion, {"role": "deputy_account_manager"}),
    )


def move(obj, status, capture):
    with capture(execute=True):
        obj.status = status
        obj.save()


# --- hooks and rules ------------------------------------------------------------------------
def test_status_change_notifies_exactly_the_account_manager_and_deputy(
    account_manager_rule, job, people, Notification, django_capture_on_commit_callbacks
):
    # Reloaded, as a view would: the old status comes from the database row.
    loaded = Job.objects.get(pk=job.pk)
    move(loaded, Job.Status.IN_PROGRESS, django_capture_on_commit_callbacks)

    assert notified(Notification, "job.status_changed") == {"am", "deputy"}
    row = Notification.objects.get(notification_type="job.status_changed", recipient=people["am"])
    assert row.title == "Job ACME pentest moved from Pending scoping to In progress"
    assert row.url == f"/jobs/{job.pk}/"
    assert row.target == job
    event = Event.objects.get(notification_type="job.status_changed")
    assert event.status == Event.Status.DONE
    assert event.context["old_value"] == "pending_scoping"
    assert event.context["new_value"] == "in_progress"

    # The next change starts from the status just saved; a save without a change is silent.
    move(loaded, Job.Status.COMPLETE, django_capture_on_commit_callbacks)
    move(loaded, Job.Status.COMPLETE, django_capture_on_commit_callbacks)
    titles = set(
        Notification.objects.filter(
            notification_type="job.status_changed", recipient=people["deputy"]
        ).values_list("title", flat=True)
    )
    assert titles == {
        "Job ACME pentest moved from Pending scoping to In progress",
        "Job ACME pentest moved from In progress to Complete",
    }
    assert Event.objects.filter(notification_type="job.status_changed").count() == 2
    # Moving to complete also emits job.complete (nobody has a rule for it here).
    assert Event.objects.filter(notification_type="job.complete").count() == 1


def test_the_person_changing_the_status_is_not_notified_for_it(
    account_manager_rule, job, people, Notification, django_capture_on_commit_callbacks
):
    # The creator makes the change: they hold no rule's role, so they hear nothing.
    move(job, Job.Status.DRAFT, django_capture_on_commit_callbacks)
    assert notified(Notification, "job.status_changed") == {"am", "deputy"}

    # Once the creator is also the deputy, the role brings them in.
    with django_capture_on_commit_callbacks(execute=True):
        job.deputy_account_manager = people["creator"]
        job.save()
    assert Event.objects.filter(notification_type="job.status_changed").count() == 1
    move(job, Job.Status.PENDING_SCOPING, django_capture_on_commit_callbacks)
    assert (
        Notification.objects.filter(
            notification_type="job.status_changed", recipient=people["creator"]
        ).count()
        == 1
    )


def test_creation_notifies_the_research_team_through_a_synced_rule(
    make_user, make_team, org, people, Notification, django_capture_on_commit_callbacks
):
    researcher, other_researcher = make_user(org=org), make_user(org=org)
    research = make_team(org, members=[researcher, other_researcher], name="Research")
    rule = make_rule(
        django_capture_on_commit_callbacks,
        "job.created",
        (OrganizationRoleCriterion, {"team_key": str(research.pk)}),
    )
    subscribed = Subscription.objects.filter(notification_type="job.created", rule=rule)
    assert set(subscribed.values_list("user_id", flat=True)) == {
        researcher.pk,
        other_researcher.pk,
    }

    with django_capture_on_commit_callbacks(execute=True):
        job = Job.objects.create(
            title="Cloud review", organization=org, created_by=people["creator"]
        )
    rows = Notification.objects.filter(notification_type="job.created")
    assert set(rows.values_list("recipient_id", flat=True)) == {
        researcher.pk,
        other_researcher.pk,
    }
    assert {row.title for row in rows} == {"Job Cloud review created"}
    assert all(row.actor == people["creator"] and row.target == job for row in rows)


def test_an_opt_out_for_the_job_silences_the_deputy(
    account_manager_rule, job, people, Notification, django_capture_on_commit_callbacks
):
    OptOut.objects.create(user=people["deputy"], notification_type="job.status_changed", entity=job)
    other = Job.objects.create(
        title="Other job",
        organization=job.organization,
        account_manager=people["am"],
        deputy_account_manager=people["deputy"],
    )
    move(job, Job.Status.IN_PROGRESS, django_capture_on_commit_callbacks)
    assert notified(Notification, "job.status_changed") == {"am"}

    # Only for that job: the deputy still hears about the other one.
    move(other, Job.Status.IN_PROGRESS, django_capture_on_commit_callbacks)
    deputy_rows = Notification.objects.filter(
        notification_type="job.status_changed", recipient=people["deputy"]
    )
    assert [row.target for row in deputy_rows] == [other]


def test_phase_status_change_notifies_its_project_lead(
    phase, people, Notification, django_capture_on_commit_callbacks
):
    make_rule(
        django_capture_on_commit_callbacks,
        "phase.status_changed",
        (PhaseRoleCriterion, {"role": "project_lead"}),
    )
    move(
        Phase.objects.get(pk=phase.pk), Phase.Status.PENDING_TQA, django_capture_on_commit_callbacks
    )

    rows = Notification.objects.filter(notification_type="phase.status_changed")
    assert [row.recipient for row in rows] == [people["lead"]]
    assert rows[0].title == (
        "Phase ACME pentest / External moved from Pending scheduling to Pending technical QA"
    )
    assert rows[0].url == f"/jobs/{phase.job_id}/#phase-{phase.pk}"


def test_creating_jobs_and_phases_emits_one_event_each(job, phase):
    assert Event.objects.filter(notification_type="job.created").count() == 1
    created = Event.objects.get(notification_type="phase.created")
    assert created.context == {"phase": "ACME pentest / External"}
    assert created.target == phase


# --- the criteria ---------------------------------------------------------------------------
def test_job_role_criterion_matches_the_role_on_a_job_or_a_phases_job(job, phase, people):
    def users(role, target):
        result = JobRoleCriterion(role=role).matching_users(target)
        return set(result.values_list("username", flat=True))

    assert JobRoleCriterion.per_event is True
    assert users("account_manager", job) == {"am"}
    assert users("deputy_account_manager", phase) == {"deputy"}
    assert users("scoped_by", job) == set()  # nobody holds the role
    assert users("account_manager", None) == set()  # syncing: no target
    assert users("account_manager", people["am"]) == set()  # not a job or a phase


def test_phase_role_criterion_matches_a_phase_or_all_of_a_jobs_phases(
    job, phase, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Phase.objects.create(job=job, title="Web", project_lead=people["bystander"])
        Phase.objects.create(job=job, title="Mobile", project_lead=people["lead"])
        Phase.objects.create(job=job, title="Unassigned")

    def users(role, target):
        result = PhaseRoleCriterion(role=role).matching_users(target)
        return sorted(result.values_list("username", flat=True))

    assert PhaseRoleCriterion.per_event is True
    assert users("project_lead", phase) == ["lead"]
    assert users("project_lead", job) == ["bystander", "lead"]  # the union, once each
    assert users("report_author", job) == ["author"]
    assert users("tqa_reviewer", phase) == []
    assert users("tqa_reviewer", job) == []
    assert users("project_lead", None) == []


def test_per_event_criteria_create_no_subscriptions(account_manager_rule, job):
    assert not Subscription.objects.filter(notification_type="job.status_changed").exists()


def test_role_choices_follow_the_seed():
    labels = dict(JobRoleCriterion._meta.get_field("role").choices)
    assert list(labels.values()) == [
        "Account Manager",
        "Deputy Account Manager",
        "Created By",
        "Primary Point of Contact",
        "Scoped By",
        "Scope Signed-off By",
    ]
    labels = dict(PhaseRoleCriterion._meta.get_field("role").choices)
    assert list(labels.values()) == [
        "Project Lead",
        "Report Author",
        "TQA Reviewer",
        "PQA Reviewer",
    ]
    for field in Job.ROLES:
        assert Job._meta.get_field(field).remote_field.model is get_user_model()
    for field in Phase.ROLES:
        assert Phase._meta.get_field(field).null


def test_status_change_emails_whoever_switched_email_on(
    account_manager_rule, job, people, django_capture_on_commit_callbacks, mailoutbox
):
    from django_notify.delivery.preferences import update_preferences
    from django_notify.models import Delivery

    people["am"].email = "am@acme.test"
    people["am"].save()
    update_preferences(people["am"], {"job.status_changed": {"email_enabled": True}})
    move(Job.objects.get(pk=job.pk), Job.Status.IN_PROGRESS, django_capture_on_commit_callbacks)
    (message,) = mailoutbox
    assert message.to == ["am@acme.test"]
    assert message.subject == "Job ACME pentest moved from Pending scoping to In progress"
    assert f"https://notify.example/jobs/{job.pk}/" in message.body
    # The deputy left email at the type's default (off): no delivery row at all.
    assert list(Delivery.objects.values_list("user__username", "channel", "status")) == [
        ("am", "email", "sent")
    ]
