"""An event whose processing raises is never silent: it is logged at ERROR with its
traceback, stored on the row, counted (and made an exit status) by
``notify_process_events``, and findable in the admin."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_notify import NotificationType, emit, notification_types
from django_notify.models import Event
from django_notify.pipeline.events import error_text, process_event
from django_notify.tenancy import Role

BROKEN = "test.broken"


class Broken(NotificationType):
    """A type declared with a broken attribute: its audience reads the target's
    ``members``, but events of this type carry no target."""

    key = BROKEN
    label = "Broken"
    title = "Something happened"

    @classmethod
    def default_audience(cls, event):
        return event.target.members.all()


@pytest.fixture
def broken_type():
    saved = dict(notification_types._items)
    notification_types.register(Broken)
    yield Broken
    notification_types._items.clear()
    notification_types._items.update(saved)


def _errors(caplog):
    return [r for r in caplog.records if r.name == "django_notify.events" and r.levelno >= 40]


@pytest.mark.django_db
def test_failed_processing_is_logged_with_its_traceback_and_stored(
    broken_type, make_user, django_capture_on_commit_callbacks, caplog
):
    user = make_user()
    with caplog.at_level(logging.ERROR, logger="django_notify.events"):
        with django_capture_on_commit_callbacks(execute=True):
            event = emit(BROKEN, recipients=[user])  # processed on commit: must not raise
    [record] = _errors(caplog)  # once, not once per layer that saw it
    assert record.levelno == logging.ERROR
    assert record.exc_info and record.exc_info[0] is AttributeError
    message = record.getMessage()
    assert f"event {event.pk} ({BROKEN}) failed: AttributeError" in message
    assert "attempt 1 of 5, notify_process_events retries it" in message
    assert (record.event_id, record.notification_type) == (event.pk, BROKEN)

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    first, rest = event.last_error.split("\n", 1)
    assert first == "AttributeError: 'NoneType' object has no attribute 'members'"
    assert "Traceback (most recent call last):" in rest
    assert "in default_audience" in rest and "event.target.members.all()" in rest


@pytest.mark.django_db
def test_the_last_attempt_says_it_is_not_retried(broken_type, caplog):
    event = Event.objects.create(notification_type=BROKEN, status="failed", attempts=4)
    with pytest.raises(AttributeError), caplog.at_level(logging.ERROR):
        process_event(event.pk)
    [record] = _errors(caplog)
    assert "attempt 5 of 5, not retried any more" in record.getMessage()


def test_a_long_traceback_keeps_its_start_and_the_raise():
    exc = None
    for i in range(200):  # a chain of 200 exceptions: a traceback of some 20,000 characters
        try:
            raise KeyError(f"link {i}") from exc
        except KeyError as caught:
            exc = caught
    text = error_text(exc, limit=3000)
    assert len(text) <= 3000
    assert text.startswith("KeyError: 'link 199'\n\nTraceback (most recent call last):")
    assert "characters cut" in text
    assert text.endswith("KeyError: 'link 199'\n")


@pytest.mark.django_db
def test_the_command_counts_failures_and_exits_non_zero(broken_type, make_user, caplog):
    user = make_user()
    Event.objects.create(notification_type=BROKEN, recipients=[str(user.pk)])
    Event.objects.create(notification_type="team.joined", context={"team": "x"},
                         recipients=[str(user.pk)])  # fmt: skip
    out = StringIO()
    with caplog.at_level(logging.ERROR), pytest.raises(CommandError) as raised:
        call_command("notify_process_events", "--older-than", "0", stdout=out)
    assert out.getvalue() == "events: 1 processed, 0 already done, 1 failed\n"
    assert raised.value.returncode == 1
    assert str(raised.value).startswith("1 event(s) failed.")
    assert "django_notify.events" in str(raised.value)
    assert len(_errors(caplog)) == 1


@pytest.mark.django_db
def test_the_command_exits_zero_when_nothing_failed(make_user):
    out = StringIO()
    call_command("notify_process_events", "--older-than", "0", stdout=out)
    assert out.getvalue() == "events: 0 processed, 0 already done, 0 failed\n"


@pytest.mark.django_db
def test_the_admin_lists_failed_events_and_shows_the_traceback(
    broken_type, client, make_org, make_user
):
    client.force_login(make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True))
    failed = Event.objects.create(notification_type=BROKEN)
    with pytest.raises(AttributeError):
        process_event(failed.pk)
    out_of_attempts = Event.objects.create(notification_type=BROKEN, status="failed",
                                           attempts=5, last_error="ValueError: old")  # fmt: skip
    done = Event.objects.create(notification_type="team.joined", status="done")
    url = reverse("admin:django_notify_event_changelist")

    def listed(**query):
        response = client.get(url, query)
        assert response.status_code == 200  # an unknown filter would redirect with ?e=1
        return {row.pk for row in response.context["cl"].result_list}, response

    assert listed()[0] == {failed.pk, out_of_attempts.pk, done.pk}
    rows, response = listed(failed="yes")
    assert rows == {failed.pk, out_of_attempts.pk}
    page = response.content.decode()
    quote = "&#x27;"
    assert f"AttributeError: {quote}NoneType{quote} object has no attribute" in page
    assert "Failed, out of attempts" in page  # the filter's choices are on the page
    assert listed(failed="retrying")[0] == {failed.pk}
    assert listed(failed="gave_up")[0] == {out_of_attempts.pk}

    page = client.get(reverse("admin:django_notify_event_change", args=[failed.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<pre" in html and "Traceback (most recent call last):" in html
    assert "event.target.members.all()" in html
    assert 'name="last_error"' not in html  # shown, never editable
