"""Bad input: a clear error naming the field, or a clean value — and nothing half-written."""

import pytest
from django.core.exceptions import ValidationError

from django_notify import notify, signals
from django_notify.tenancy import Role
from tests.support.notify_settings import notify_override


@pytest.fixture
def admin_user(make_org, make_user):
    return make_user(Role.ORG_ADMIN, make_org())


@pytest.fixture
def colleague(admin_user, make_user):
    return make_user(Role.DEV_USER, admin_user.testapp_membership.organization)


def _fields(exc):
    return set(exc.value.message_dict)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_ids": [987654]}, "user_ids"),
        ({"user_ids": ["not-a-number"]}, "user_ids"),
        ({"user_ids": []}, "user_ids"),
        ({"user_ids": "12"}, "user_ids"),
        ({"team_ids": [987654]}, "team_ids"),
        ({"target_team": "nope"}, "target_team"),
        ({"target_user": 987654}, "target_user"),
        ({}, "target_user"),
        ({"title": "x" * 256, "target_user": "SELF"}, "title"),
        ({"title": "", "target_user": "SELF"}, "title"),
        ({"meta_data": {"bad": {1, 2}}, "target_user": "SELF"}, "meta_data"),
        ({"meta_data": ["a", "list"], "target_user": "SELF"}, "meta_data"),
        ({"url": "javascript:alert(1)", "target_user": "SELF"}, "url"),
        ({"action_url": "//evil.example/x", "target_user": "SELF"}, "action_url"),
        ({"url": "/\\evil.example", "target_user": "SELF"}, "url"),
        ({"url": "/\t/evil.example", "target_user": "SELF"}, "url"),
        ({"url": " javascript:alert(1)", "target_user": "SELF"}, "url"),
        ({"type": "ZZ", "target_user": "SELF"}, "level"),
        ({"priority": "urgent", "target_user": "SELF"}, "priority"),
        ({"is_global": True, "target_user": "SELF"}, "is_global"),
    ],
)
def test_send_rejects_bad_input_naming_the_field(admin_user, Notification, kwargs, field):
    kwargs = {"title": "ok", **kwargs}
    if kwargs.get("target_user") == "SELF":
        kwargs["target_user"] = admin_user
    with pytest.raises(ValidationError) as info:
        Notification.send(admin_user, **kwargs)
    assert field in _fields(info)
    assert Notification.objects.count() == 0


def test_mixed_targets_name_every_given_field(admin_user, colleague, Notification):
    with pytest.raises(ValidationError) as info:
        Notification.send(admin_user, title="x", target_user=colleague, team_ids=[1])
    assert _fields(info) == {"target_user", "team_ids"}


def test_unknown_id_among_known_ones_writes_nothing(admin_user, colleague, Notification):
    with pytest.raises(ValidationError) as info:
        Notification.send(admin_user, title="x", user_ids=[colleague.pk, 987654])
    assert "987654" in str(info.value)
    assert Notification.objects.count() == 0


def test_unexpected_keyword_is_a_type_error(admin_user, Notification):
    with pytest.raises(TypeError, match="colour"):
        Notification.send_to_self(admin_user, title="x", colour="red")


def test_script_in_body_is_stored_sanitised(admin_user, Notification):
    [row] = Notification.send_to_self(
        admin_user,
        title="<b>kept as text</b>",
        description='<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">y</a></p>',
    )
    row.refresh_from_db()
    assert "<script" not in row.description
    assert "onclick" not in row.description
    assert "javascript" not in row.description
    assert row.description.startswith("<p>Hi ")
    assert row.description_text == "Hi y"  # a script's code is not text either
    assert row.title == "<b>kept as text</b>"  # titles are text, escaped when rendered


@notify_override(HTML_SANITIZER="nh3")
def test_nh3_sanitiser_is_selectable(admin_user, Notification):
    pytest.importorskip("nh3")
    [row] = Notification.send_to_self(
        admin_user, title="x", description="<em>ok</em><script>alert(1)</script><img src=x>"
    )
    assert row.description == "<em>ok</em>"


def test_priority_accepts_names(admin_user, Notification):
    [row] = Notification.send_to_self(admin_user, title="x", priority="critical")
    assert row.priority == 40


def test_failure_mid_fan_out_rolls_everything_back(admin_user, make_user, Notification):
    org = admin_user.testapp_membership.organization
    users = [make_user(Role.DEV_USER, org) for _ in range(5)]
    seen = []

    def explode(sender, notification, **kwargs):
        seen.append(notification.pk)
        if len(seen) == 3:
            raise RuntimeError("receiver failed")

    signals.notification_created.connect(explode)
    try:
        with pytest.raises(RuntimeError):
            Notification.send(admin_user, title="x", user_ids=users)
    finally:
        signals.notification_created.disconnect(explode)
    assert Notification.objects.count() == 0


def test_notify_validates_recipients(db, Notification):
    with pytest.raises(ValidationError) as info:
        notify([987654], title="x")
    assert "recipients" in _fields(info)
    with pytest.raises(TypeError):
        notify([], title="x", description="use body")
    assert notify([], title="nobody") == []


def test_level_keyword_on_send_is_a_clear_type_error(admin_user, Notification):
    with pytest.raises(TypeError, match="type="):
        Notification.send_to_self(admin_user, title="x", level="IN")


def test_bare_save_refuses_unsafe_links(admin_user, Notification):
    row = Notification(title="x", scope="user", recipient=admin_user, url="javascript:x()")
    with pytest.raises(ValidationError) as info:
        row.save()
    assert "url" in _fields(info)
    assert Notification.objects.count() == 0


def test_manager_bulk_create_keeps_the_guarantees(admin_user, make_user, Notification):
    from django_notify import SendRefused

    stranger = make_user(Role.DEV_USER)
    dev = make_user(Role.DEV_USER, admin_user.testapp_membership.organization)
    ok = Notification(title="x", scope="user", recipient=dev, sender=admin_user,
                      description="<script>s</script>ok")  # fmt: skip
    bad = Notification(title="y", scope="user", recipient=stranger, sender_id=dev.pk)
    with pytest.raises(SendRefused):
        Notification.objects.bulk_create([ok, bad])
    assert Notification.objects.count() == 0
    [row] = Notification.objects.bulk_create([ok])
    assert row.description == "ok"  # the script, code and all, is gone


def test_send_system_defaults_is_global_from_targets(admin_user, make_user, Notification):
    staff = make_user(Role.DEV_USER, staff=True)
    [row] = Notification.send_system(staff, title="everyone")
    assert row.scope == "system"
    [row] = Notification.send_system(staff, title="one", target_user=admin_user)
    assert (row.scope, row.origin) == ("user", "system")


def test_senders_cannot_backdate_rows(admin_user, Notification):
    with pytest.raises(TypeError, match="created_at"):
        Notification.send_to_self(admin_user, title="x", created_at="2099-01-01T00:00:00Z")
