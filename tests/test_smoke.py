import os
import subprocess
import sys

from django_notify import SendRefused
from django_notify.tenancy import Role


def test_send_read_dismiss(make_org, make_user, make_team, Notification):
    org = make_org()
    admin = make_user(Role.ORG_ADMIN, org)
    dev = make_user(Role.DEV_USER, org)
    team = make_team(org, members=[dev])
    [direct] = Notification.send(
        admin, type="IN", title="Hello", target_user=dev, description="<b>hi</b><script>x</script>"
    )
    assert direct.description == "<b>hi</b>"
    [teamrow] = Notification.send(admin, title="Team", target_team=team)
    [orgrow] = Notification.send(admin, title="Org", is_global=True)
    staff = make_user(Role.DEV_USER, org, staff=True)
    [sysrow] = Notification.send_system(staff, type="IM", title="Maint", is_global=True)
    feed = list(Notification.objects.visible_to(dev))
    assert [n.pk for n in feed] == [sysrow.pk, orgrow.pk, teamrow.pk, direct.pk]
    assert Notification.objects.unread_count(dev) == 4
    assert direct.mark_read(dev) is True
    assert direct.mark_read(dev) is False
    assert teamrow.mark_read(dev) is True
    assert Notification.objects.unread_count(dev) == 2
    assert Notification.objects.unread_count(admin) == 2
    assert Notification.objects.mark_all_read(dev) == 2
    assert Notification.objects.unread_count(dev) == 0
    assert Notification.objects.dismiss_all(dev) == 4
    assert list(Notification.objects.visible_to(dev)) == []
    assert Notification.objects.unread_count(admin) == 2
    try:
        Notification.send(dev, title="x", is_global=True)
    except SendRefused as exc:
        assert exc.code == "organization.global_admin_only"
    else:
        raise AssertionError


def test_the_root_exports_the_curated_names_and_each_resolves():
    import django_notify

    expected = {
        "get_notification_model", "register", "NotificationType", "notification_types",
        "Category", "Priority", "Scope", "Origin", "criteria",
        "emit", "cancel", "notify", "send", "send_to_self", "send_system",
        "BaseChannel",
        "NotifyError", "SendRefused", "SenderRule", "RateLimited", "NotVisible",
        "DeliveryError", "RetryableDeliveryError", "DeliveryCancelled", "NotRegistered",
        "AlreadyRegistered",
    }  # fmt: skip
    assert set(django_notify.__all__) == expected | {"__version__"}
    for name in expected:
        assert getattr(django_notify, name) is not None, name
    # The criteria registry, not a module of the same name.
    assert callable(django_notify.criteria.register)


def test_beat_schedule_imports_from_a_settings_module():
    # docs/celery.md imports it in settings.py, before Django is set up.
    code = (
        "from django_notify.beat import beat_schedule\n"
        "entries = beat_schedule(every_minute=30)\n"
        "assert entries['django-notify-send-due']['schedule'] == 30, entries\n"
        "assert {e['task'] for e in entries.values()} == {'django_notify.sweep_events', "
        "'django_notify.send_due', 'django_notify.send_digests', 'django_notify.cleanup'}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
