import json

import pytest
from django.urls import reverse

from django_notify import notify
from django_notify.tenancy import Role
from tests.support.notify_settings import notify_override


@pytest.fixture
def admin_client_user(client, make_org, make_user):
    user = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(user)
    return client, user


def _url(Notification, name, *args):
    meta = Notification._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{name}", args=args)


def test_changelist_lists_every_row_in_constant_queries(
    admin_client_user, make_user, Notification, django_assert_max_num_queries
):
    client, user = admin_client_user
    others = [make_user() for _ in range(3)]
    notify(others, title="hello")
    with django_assert_max_num_queries(12):
        response = client.get(_url(Notification, "changelist"))
    assert response.status_code == 200
    assert response.content.count(b"hello") >= 3
    notify(others * 5, title="more")
    with django_assert_max_num_queries(12):
        assert client.get(_url(Notification, "changelist")).status_code == 200


def test_add_form_sends_as_the_logged_in_user_under_the_rules(
    admin_client_user, make_user, Notification
):
    client, user = admin_client_user
    colleague = make_user(Role.DEV_USER, user.testapp_membership.organization)
    stranger = make_user(Role.DEV_USER)
    data = {
        "level": "IN", "title": "from admin", "description": "<b>x</b><script>y</script>",
        "priority": 20, "meta_data": "{}", "scope": "user", "origin": "organization",
        "recipient": colleague.pk, "team_key": "", "organization_key": "",
        "created_at_0": "2026-01-01", "created_at_1": "10:00:00",
    }  # fmt: skip
    response = client.post(_url(Notification, "add"), data)
    assert response.status_code == 302, response.content[:2000]
    row = Notification.objects.get()
    assert row.sender == user
    assert row.description == "<b>x</b>"  # the script and its code are gone

    data.update(recipient=stranger.pk, title="cross-org")
    response = client.post(_url(Notification, "add"), data)
    assert response.status_code == 200
    assert b"organization.same_organization_user" in response.content
    assert Notification.objects.count() == 1


def test_add_form_creates_an_organization_wide_row(admin_client_user, Notification):
    client, user = admin_client_user
    data = {
        "level": "IM", "title": "all hands", "description": "", "priority": 30,
        "meta_data": "{}", "scope": "organization", "origin": "organization",
        "organization_key": str(user.testapp_membership.organization_id), "team_key": "",
        "created_at_0": "2026-01-01", "created_at_1": "10:00:00",
    }  # fmt: skip
    response = client.post(_url(Notification, "add"), data)
    assert response.status_code == 302, response.content[:3000]
    row = Notification.objects.get()
    assert row.is_global and row.sender == user


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scope": "user", "recipient": ""}, "recipient"),
        ({"scope": "team", "team_key": "999999"}, "team_key"),
        ({"scope": "team", "team_key": ""}, "team_key"),
        ({"scope": "system", "organization_key": "1"}, "organization_key"),
    ],
)
def test_add_form_names_the_missing_or_stray_field(admin_client_user, Notification, changes, field):
    client, user = admin_client_user
    data = {
        "level": "IN", "title": "x", "description": "", "priority": 20, "meta_data": "{}",
        "origin": "organization", "organization_key": "", "team_key": "",
        "created_at_0": "2026-01-01", "created_at_1": "10:00:00", **changes,
    }  # fmt: skip
    response = client.post(_url(Notification, "add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Notification.objects.count() == 0


def test_direct_row_from_admin_gets_the_recipients_organization(
    admin_client_user, make_user, Notification
):
    client, user = admin_client_user
    colleague = make_user(Role.DEV_USER, user.testapp_membership.organization)
    data = {
        "level": "IN", "title": "x", "description": "", "priority": 20, "meta_data": "{}",
        "scope": "user", "origin": "organization", "recipient": colleague.pk,
        "organization_key": "", "team_key": "",
        "created_at_0": "2026-01-01", "created_at_1": "10:00:00",
    }  # fmt: skip
    assert client.post(_url(Notification, "add"), data).status_code == 302
    row = Notification.objects.get()
    assert row.organization_key == str(user.testapp_membership.organization_id)
    assert row.get_level_display() == "Information"


def _change_data(row, **changes):
    data = {
        "level": row.level, "title": row.title, "description": row.description,
        "priority": row.priority, "meta_data": "{}", "scope": row.scope, "origin": row.origin,
        "recipient": row.recipient_id or "", "team_key": row.team_key,
        "organization_key": row.organization_key, "url": row.url, "action_url": row.action_url,
        "created_at_0": row.created_at.strftime("%Y-%m-%d"),
        "created_at_1": row.created_at.strftime("%H:%M:%S"),
    }  # fmt: skip
    data.update(changes)
    return data


def test_change_form_refuses_retargeting_past_the_sender_rules(
    admin_client_user, make_org, make_user, Notification
):
    """A LIGHT_USER's note to self cannot be pointed at another organization's user by
    editing it, not even by a superuser: an edit is checked against the row's sender."""
    client, user = admin_client_user
    light = make_user(Role.LIGHT_USER, make_org())
    stranger = make_user(Role.DEV_USER, make_org())
    [row] = Notification.send_to_self(light, title="note to self")
    url = _url(Notification, "change", row.pk)

    response = client.post(url, _change_data(row, recipient=stranger.pk))
    assert response.status_code == 200
    assert b"organization.same_organization_user" in response.content
    stored = Notification.objects.get(pk=row.pk)
    assert (stored.recipient_id, stored.sender_id) == (light.pk, light.pk)

    # A change of scope is refused the same way.
    data = _change_data(row, scope="organization", recipient="")
    data["organization_key"] = row.organization_key
    response = client.post(url, data)
    assert response.status_code == 200
    assert b"organization.global_admin_only" in response.content
    assert Notification.objects.get(pk=row.pk).scope == "user"


def test_change_form_saves_an_edit_that_keeps_the_targeting(
    admin_client_user, make_org, make_user, Notification
):
    client, user = admin_client_user
    light = make_user(Role.LIGHT_USER, make_org())
    [row] = Notification.send_to_self(light, title="note to self")
    response = client.post(
        _url(Notification, "change", row.pk), _change_data(row, title="renamed by staff")
    )
    assert response.status_code == 302, response.content[:2000]
    stored = Notification.objects.get(pk=row.pk)
    assert (stored.title, stored.recipient_id, stored.sender_id) == (
        "renamed by staff", light.pk, light.pk,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("meta_data", "message"),
    [
        ('{"a": NaN}', b"not a finite number"),
        ('{"a": 1e400}', b"not a finite number"),
        ('{"x": "' + "y" * 70_000 + '"}', b"bytes as JSON"),
    ],
    ids=["nan", "overflow", "too-large"],
)
def test_add_form_refuses_bad_meta_data_naming_the_field(
    admin_client_user, make_user, Notification, meta_data, message
):
    client, user = admin_client_user
    colleague = make_user(Role.DEV_USER, user.testapp_membership.organization)
    data = {
        "level": "IN", "title": "x", "description": "", "priority": 20,
        "meta_data": meta_data, "scope": "user", "origin": "organization",
        "recipient": colleague.pk, "organization_key": "", "team_key": "",
        "created_at_0": "2026-01-01", "created_at_1": "10:00:00",
    }  # fmt: skip
    response = client.post(_url(Notification, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["meta_data"] and message in response.content
    assert Notification.objects.count() == 0


def test_change_form_keeps_a_large_meta_data_it_does_not_edit(
    admin_client_user, make_user, Notification
):
    # An event may write meta_data over the entry points' limit; editing the title of
    # such a row in the admin must not be refused for a field nobody touched.
    client, user = admin_client_user
    colleague = make_user(Role.DEV_USER, user.testapp_membership.organization)
    big = {"x": "y" * 70_000}
    with notify_override(MAX_META_DATA_BYTES=None):
        (row,) = notify([colleague], title="before", meta_data=big)
    stored = json.dumps(row.meta_data)
    # "initial-meta_data": the hidden initial the admin renders for a callable default.
    data = _change_data(row, title="after", meta_data=stored, **{"initial-meta_data": stored})
    response = client.post(_url(Notification, "change", row.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    row.refresh_from_db()
    assert row.title == "after" and row.meta_data["x"] == big["x"]
