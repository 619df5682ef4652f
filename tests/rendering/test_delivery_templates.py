"""Templates per type × channel: files, database overrides, syntax errors, language and
time zone, preview; and the unsubscribe link they carry."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation

from django_notify import notify
from django_notify.delivery import unsubscribe
from django_notify.models import (
    Delivery,
    DeliveryStatus,
    NotificationPreference,
    NotificationTemplate,
    RecipientSettings,
)
from django_notify.rendering.templates import preview


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    def run(users, **kw):
        kw.setdefault("title", "Disk full")
        kw.setdefault("meta_data", {"context": {"what": "disk <b>", "secret": "s"}})
        with django_capture_on_commit_callbacks(execute=True):
            return notify(users, "test.alert", **kw)

    return run


def template(**kw):
    kw.setdefault("notification_type", "test.alert")
    kw.setdefault("channel", "email")
    return NotificationTemplate.objects.create(**kw)


def test_database_template_overrides_the_files(make_user, send):
    user = make_user(email="ada@example.com", first_name="Ada")
    template(
        subject="{{ what }} for {{ recipient.first_name }}",
        body="Hi {{ recipient.first_name }}, see {{ url }}",
        html_body='<p>Hi <script>alert(1)</script><a href="{{ url }}">{{ what }}</a></p>',
    )
    send([user], url="/disks/")
    (message,) = mail.outbox
    assert message.subject == "disk <b> for Ada"
    assert message.body == "Hi Ada, see https://notify.example/disks/"
    html = message.alternatives[0][0]
    assert "<script>" not in html  # database templates are sanitised
    assert "disk &lt;b&gt;" in html  # and autoescaped
    assert '<a href="https://notify.example/disks/">' in html


def test_the_most_specific_template_wins(make_org, make_user, send):
    org = make_org()
    user = make_user(org=org, email="ada@example.com")
    RecipientSettings.objects.create(user=user, language="fr")
    template(subject="generic")
    template(subject="french", language="fr")
    template(subject="org", organization_key=str(org.pk))
    template(subject="org french", organization_key=str(org.pk), language="fr")
    template(subject="other org", organization_key="999999")
    send([user])
    assert mail.outbox[-1].subject == "org french"
    NotificationTemplate.objects.filter(subject="org french").update(is_active=False)
    send([user])
    assert mail.outbox[-1].subject == "org"


def test_templates_render_in_the_recipients_language_and_time_zone(make_user, send):
    user = make_user(email="ada@example.com")
    RecipientSettings.objects.create(user=user, language="de", timezone="Asia/Tokyo")
    template(
        subject="{% get_current_language as lang %}{{ lang }}",
        body='{{ notification.created_at|date:"H:i e" }}',
    )
    send([user], created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    (message,) = mail.outbox
    assert message.subject == "de"
    assert message.body == "12:04 JST"
    assert translation.get_language() != "de"  # nothing leaks out of the render


@pytest.mark.parametrize(
    "field, source, line",
    [
        ("subject", "{% if %}", 1),
        ("body", "Hello\n{{ name|nope }}", 2),
        ("html_body", "<p>\n\n{% for x in %}</p>", 3),
    ],
)
def test_syntax_errors_are_refused_on_save_with_the_line(db, field, source, line):
    with pytest.raises(ValidationError) as exc:
        NotificationTemplate(
            notification_type="test.alert", channel="email", **{field: source}
        ).save()
    (message,) = exc.value.message_dict[field]
    assert f"line {line}" in message
    assert not NotificationTemplate.objects.exists()


def test_unknown_type_and_channel_are_refused(db):
    with pytest.raises(ValidationError) as exc:
        NotificationTemplate(notification_type="nope", channel="sms").full_clean()
    assert {"notification_type", "channel"} <= set(exc.value.message_dict)


def test_a_stored_template_that_skipped_the_checks_still_renders_no_secret(make_user, send):
    """QuerySet.update() skips save(): the render itself sees plain values only."""
    user = make_user(email="ada@example.com")
    row = template(subject="ok")
    NotificationTemplate.objects.filter(pk=row.pk).update(
        subject="[{{ recipient.password }}][{{ notification.sender.password }}]",
        body="{{ recipient.notify_api_tokens.all }}|{% include 'django_notify/default/body.txt' %}",
    )
    send([user])
    (delivery,) = Delivery.objects.filter(channel="email")
    # The include cannot load anything (no loaders): the delivery fails, and says why.
    assert delivery.status == DeliveryStatus.DEAD and delivery.reason == "render error"
    assert "TemplateDoesNotExist" in delivery.last_error
    NotificationTemplate.objects.filter(pk=row.pk).update(body="{{ recipient }}")
    send([user])
    message = mail.outbox[-1]
    assert message.subject == "[][]"
    assert user.password not in message.body and "pbkdf2" not in message.body
    assert "ada@example.com" in message.body  # the recipient as plain values


def test_preview_renders_sample_data_without_saving(db):
    rendered = preview("test.alert", "email")
    assert rendered.subject == "<what> happened"
    assert "<what>" in rendered.text
    draft = NotificationTemplate(
        notification_type="test.alert", channel="email", subject="[{{ what }}]"
    )
    assert preview("test.alert", "email", template=draft).subject == "[<what>]"
    digest = preview("digest", "email")
    assert digest.subject == "2 new notifications" and "Sample notification 2" in digest.text
    assert not NotificationTemplate.objects.exists()


# --- unsubscribe ----------------------------------------------------------------------


def test_one_click_unsubscribe_switches_the_channel_off(client, make_user, send):
    user = make_user(email="ada@example.com")
    send([user])
    link = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    path = link.removeprefix("https://notify.example")
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe?" in page.content
    assert not NotificationPreference.objects.exists()  # GET changes nothing
    done = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"Unsubscribed" in done.content
    pref = NotificationPreference.objects.get(user=user)
    assert (pref.notification_type, pref.channel, pref.enabled) == ("test.alert", "email", False)
    send([user])
    assert Delivery.objects.latest("pk").status == DeliveryStatus.SKIPPED


def test_bad_unsubscribe_tokens_get_a_clear_page(client, make_user):
    user = make_user()
    token = unsubscribe.make_token(user, ["test.alert"], "email")
    for bad in ("nonsense", token[:-2] + "xx"):
        response = client.post(f"/notifications/unsubscribe/{bad}/")
        assert response.status_code == 400 and b"invalid or has expired" in response.content
    user.delete()
    assert client.get(f"/notifications/unsubscribe/{token}/").status_code == 400


def test_required_channels_stay_on_after_unsubscribe(client, make_user):
    user = make_user()
    token = unsubscribe.make_token(user, ["test.security"], "email")
    response = client.post(f"/notifications/unsubscribe/{token}/")
    assert response.status_code == 200 and b"cannot be switched off" in response.content
    assert not NotificationPreference.objects.exists()


def test_without_the_urls_there_is_no_unsubscribe_header(make_user, send):
    user = make_user(email="ada@example.com")
    with override_settings(ROOT_URLCONF="tests.support.urls_without_notify"):
        send([user])
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers
