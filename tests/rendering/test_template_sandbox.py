"""Templates stored in the database: what they may use, checked when they are saved, and
the plain values they render from."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from django_notify import notify
from django_notify.models import NotificationTemplate
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


def _refused(field: str, source: str, type_key: str = "test.alert") -> str:
    with pytest.raises(ValidationError) as exc:
        NotificationTemplate(notification_type=type_key, channel="email", **{field: source}).save()
    assert not NotificationTemplate.objects.exists()
    (message,) = exc.value.message_dict[field]
    return message


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("Hi {{ recipient.password }}", 1, "recipient has no 'password'"),
        ("x\n{{ notification.sender.password }}", 2, "notification.sender is a plain value"),
        ("{{ recipient.notify_api_tokens.all }}", 1, "recipient has no 'notify_api_tokens'"),
        ("{% debug %}", 1, "{% debug %} tag is not allowed"),
        ("a\nb\n{% include 'django_notify/default/body.txt' %}", 3, "{% include %} tag"),
        ("{% extends 'base.html' %}", 1, "{% extends %} tag"),
        ("{% load i18n %}{% translate 'Hi' %}", 1, "{% load %} is not allowed"),
        ("{% url 'admin:index' %}", 1, "{% url %} tag"),
        ("{% csrf_token %}", 1, "{% csrf_token %} tag"),
        ("{{ settings.SECRET_KEY }}", 1, "'settings' is not a variable"),
        ("{% if user.is_staff %}x{% endif %}", 1, "'user' is not a variable"),
        ("{{ title|default:request.META }}", 1, "'request' is not a variable"),
        ("{% with r=recipient %}{{ r.email }}{% endwith %}{{ secret_thing }}", 1, "secret_thing"),
    ],
)
def test_hostile_templates_are_refused_on_save_with_the_line(source, line, words):
    for field in ("subject", "body", "html_body"):
        message = _refused(field, source)
        assert f"line {line}" in message, message
        assert words in message, message


def test_digest_templates_have_the_digest_variables():
    assert "'title' is not a variable" in _refused("body", "{{ title }}", type_key="digest")
    NotificationTemplate.objects.create(
        notification_type="digest",
        channel="email",
        subject="{{ count }} for {{ recipient.name }}",
        body="{% for n in notifications %}{{ n.title }} {{ n.notification.sender }}{% endfor %}",
    )


def test_allowed_templates_save_and_use_the_documented_values(
    make_org, make_user, django_capture_on_commit_callbacks
):
    user = make_user(Role.DEV_USER, make_org(), email="ada@example.com", first_name="Ada")
    NotificationTemplate.objects.create(
        notification_type="test.alert",
        channel="email",
        subject=(
            "{% translate 'Alert' %}: {{ what }} for {{ recipient.first_name }} "
            "<{{ recipient.email }}> [{{ type.key }}|{{ notification.priority }}]"
        ),
        body=(
            "{% with who=recipient.name %}{{ who }}{% endwith %}"
            "{% for word in context.words %} {{ forloop.counter }}={{ word|upper }}{% endfor %}"
            "{% get_current_language as lang %} {{ lang }} {{ notification.created_at.year }}"
            "{% localize off %} {{ notification.id }}{% endlocalize %}"
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        context = {"what": "disk", "words": ["a", "b"]}
        notify([user], "test.alert", title="t", meta_data={"context": context})
    (message,) = mail.outbox
    assert message.subject == "Alert: disk for Ada <ada@example.com> [test.alert|Normal]"
    assert message.body.startswith("Ada 1=A 2=B en")


def test_the_admin_shows_the_refusal_and_saves_nothing(client, make_org, make_user):
    staff = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(staff)
    meta = NotificationTemplate._meta
    add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
    response = client.post(
        add,
        {
            "notification_type": "test.alert",
            "channel": "email",
            "subject": "Hello",
            "body": "Dear {{ recipient.password }}",
            "html_body": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "recipient has no &#x27;password&#x27;" in response.content.decode()
    assert not NotificationTemplate.objects.exists()


def test_an_email_a_person_caused_names_them(
    make_org, make_user, Notification, django_capture_on_commit_callbacks
):
    org = make_org()
    sender = make_user(Role.ORG_ADMIN, org, first_name="Grace", last_name="Hopper")
    recipient = make_user(Role.DEV_USER, org, email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        Notification.send(
            sender, title="Review this", target_user=recipient, notification_type="test.alert"
        )
    (message,) = mail.outbox
    assert "Sent by Grace Hopper" in message.body
    assert "Sent by Grace Hopper" in message.alternatives[0][0]
