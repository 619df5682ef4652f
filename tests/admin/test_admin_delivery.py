"""The email columns and actions in the notification admin, and the delivery,
digest and template admins."""

import pytest
from django.core import mail
from django.urls import reverse

from django_notify import notify
from django_notify.models import Delivery, DeliveryStatus, NotificationTemplate
from django_notify.tenancy import Role


@pytest.fixture
def staff(client, make_org, make_user):
    user = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(user)
    return client


def url(model, name, *args):
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{name}", args=args)


def alert(users, run=None):
    kw = {"title": "Disk full", "meta_data": {"context": {"what": "disk"}}}
    if run is None:  # no on-commit work: deliveries stay pending
        return notify(users, "test.alert", **kw)
    with run(execute=True):
        return notify(users, "test.alert", **kw)


def test_changelist_shows_email_state_in_constant_queries(
    staff,
    make_user,
    Notification,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    sent = alert([make_user(email="a@x.io")], django_capture_on_commit_callbacks)
    waiting = alert([make_user(email="b@x.io")])
    untyped = notify([make_user()], title="plain")
    with django_assert_max_num_queries(13):
        page = staff.get(url(Notification, "changelist"))
    assert page.status_code == 200
    rows = {r.pk: r for r in page.context["cl"].result_list}
    assert (rows[sent[0].pk].should_email, rows[sent[0].pk].is_emailed) == (True, True)
    assert (rows[waiting[0].pk].should_email, rows[waiting[0].pk].is_emailed) == (True, False)
    assert (rows[untyped[0].pk].should_email, rows[untyped[0].pk].is_emailed) == (False, False)
    alert([make_user(email=f"c{i}@x.io") for i in range(10)])
    with django_assert_max_num_queries(13):
        assert staff.get(url(Notification, "changelist")).status_code == 200
    pending = staff.get(url(Notification, "changelist"), {"emailed": "pending"})
    assert {r.pk for r in pending.context["cl"].result_list} >= {waiting[0].pk}
    assert sent[0].pk not in {r.pk for r in pending.context["cl"].result_list}


def test_mark_as_emailed_closes_the_backlog_without_sending(staff, make_user, Notification):
    (row,) = alert([make_user(email="a@x.io")])
    staff.post(
        url(Notification, "changelist"),
        {"action": "mark_as_emailed", "_selected_action": [row.pk]},
    )
    delivery = Delivery.objects.get(notification=row)
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.reason.startswith("marked as emailed by ")
    assert mail.outbox == []
    marked = Notification.objects.filter(pk=row.pk)
    from django_notify.delivery.state import annotate_email_state

    assert annotate_email_state(marked).get().is_emailed is True


def test_send_email_now_sends_what_is_waiting(staff, make_user, Notification):
    (row,) = alert([make_user(email="a@x.io")])
    Delivery.objects.update(status=DeliveryStatus.DEAD, attempts=5)
    response = staff.post(
        url(Notification, "changelist"),
        {"action": "send_email_now", "_selected_action": [row.pk]},
        follow=True,
    )
    assert b"1 email dispatched" in response.content
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    assert len(mail.outbox) == 1
    staff.post(
        url(Notification, "changelist"),
        {"action": "send_email_now", "_selected_action": [row.pk]},
    )
    assert len(mail.outbox) == 1  # already sent: left alone


def test_delivery_admin_is_read_only_with_retry_and_cancel(staff, make_user):
    alert([make_user(email="a@x.io"), make_user(email="b@x.io")])
    first, second = Delivery.objects.order_by("pk")
    assert staff.get(url(Delivery, "changelist")).status_code == 200
    assert staff.get(url(Delivery, "change", first.pk)).status_code == 200
    assert staff.get(url(Delivery, "add")).status_code == 403
    staff.post(url(Delivery, "changelist"), {"action": "cancel", "_selected_action": [second.pk]})
    staff.post(url(Delivery, "changelist"), {"action": "retry_now", "_selected_action": [first.pk]})
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == DeliveryStatus.SENT
    assert second.status == DeliveryStatus.SKIPPED
    assert second.reason.startswith("cancelled by ")
    assert [m.to for m in mail.outbox] == [["a@x.io"]]


def test_template_admin_refuses_syntax_errors_and_previews(staff):
    add = url(NotificationTemplate, "add")
    data = {
        "notification_type": "test.alert", "channel": "email", "organization_key": "",
        "language": "", "subject": "{% if %}", "body": "", "html_body": "", "is_active": "on",
    }  # fmt: skip
    response = staff.post(add, data)
    assert response.status_code == 200
    assert "line 1" in str(response.context["adminform"].form.errors["subject"])
    assert not NotificationTemplate.objects.exists()
    response = staff.post(add, {**data, "subject": "About {{ what }}"}, follow=True)
    template = NotificationTemplate.objects.get()
    page = staff.get(url(NotificationTemplate, "change", template.pk))
    assert b"About &lt;what&gt;" in page.content


def test_a_notification_tells_whether_it_was_emailed(
    make_user, Notification, django_capture_on_commit_callbacks, django_assert_num_queries
):
    (sent,) = alert([make_user(email="a@x.io")], django_capture_on_commit_callbacks)
    (waiting,) = alert([make_user(email="b@x.io")])
    (plain,) = notify([make_user()], title="plain")
    fresh = Notification.objects.get(pk=sent.pk)
    with django_assert_num_queries(1):
        assert (fresh.should_email, fresh.is_emailed) == (True, True)
    waiting = Notification.objects.get(pk=waiting.pk)
    assert (waiting.should_email, waiting.is_emailed) == (True, False)
    assert (plain.should_email, plain.is_emailed) == (False, False)
    from django_notify.delivery.state import annotate_email_state

    page = list(annotate_email_state(Notification.objects.order_by("pk")))
    with django_assert_num_queries(0):
        assert [(n.should_email, n.is_emailed) for n in page] == [
            (True, True), (True, False), (False, False),
        ]  # fmt: skip
