"""Webhook signing secrets in the admin are write-only: set, rotate, finish a rotation;
never displayed after saving, to anyone (a user with only the view permission too)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from django_notify.admin.delivery import secret_fingerprint
from django_notify.models import WebhookEndpoint
from django_notify.models.endpoint import generate_secret
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/notify"


def _url(name, *args):
    meta = WebhookEndpoint._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{name}", args=args)


@pytest.fixture
def admin_client(client, make_org, make_user):
    user = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(user)
    return client


def _form(**extra):
    return {"channel": "outbox", "url": URL, "organization_key": "", "description": "",
            "is_active": "on", "user": "", **extra}  # fmt: skip


def _shows_no_secret(html: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in html
        assert secret[len("whsec_") :][:16] not in html  # not even a part of it


def test_set_then_never_shown(admin_client):
    secret = generate_secret()
    response = admin_client.post(_url("add"), _form(new_secret=secret))
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secrets == [secret]
    for page in (_url("change", endpoint.pk), _url("changelist"), _url("history", endpoint.pk)):
        html = admin_client.get(page).content.decode()
        _shows_no_secret(html, secret)
    change = admin_client.get(_url("change", endpoint.pk)).content.decode()
    assert secret_fingerprint(secret) in change
    assert 'name="new_secret"' in change and 'type="password"' in change


def test_rotate_and_finish(admin_client):
    old, new = generate_secret(), generate_secret()
    endpoint = WebhookEndpoint.objects.create(channel="outbox", url=URL, secrets=[old])
    change = _url("change", endpoint.pk)
    # Saving other fields keeps the secrets.
    assert admin_client.post(change, _form(description="edited")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secrets == [old] and endpoint.description == "edited"
    assert admin_client.post(change, _form(new_secret=new, rotate="on")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secrets == [new, old]
    html = admin_client.get(change).content.decode()
    _shows_no_secret(html, old, new)
    assert secret_fingerprint(old) in html and secret_fingerprint(new) in html
    assert admin_client.post(change, _form(drop_old="on")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secrets == [new]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"new_secret": "hunter2"}, "Webhook secrets start with whsec_."),
        ({"rotate": "on"}, "Rotating needs the new secret."),
    ],
)
def test_a_bad_secret_is_refused_on_the_field_and_nothing_changes(admin_client, extra, message):
    old = generate_secret()
    endpoint = WebhookEndpoint.objects.create(channel="outbox", url=URL, secrets=[old])
    response = admin_client.post(_url("change", endpoint.pk), _form(**extra))
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    _shows_no_secret(html, old)
    assert "hunter2" not in html  # what was typed is not echoed back either
    endpoint.refresh_from_db()
    assert endpoint.secrets == [old]


def test_a_view_only_user_sees_no_secret(client, make_org, make_user):
    secret = generate_secret()
    endpoint = WebhookEndpoint.objects.create(channel="outbox", url=URL, secrets=[secret])
    viewer = make_user(Role.DEV_USER, make_org(), staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    client.force_login(viewer)
    for page in (_url("change", endpoint.pk), _url("changelist")):
        response = client.get(page)
        assert response.status_code == 200
        _shows_no_secret(response.content.decode(), secret)
    assert client.post(_url("change", endpoint.pk), _form(new_secret="x")).status_code == 403
