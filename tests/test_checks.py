import pytest
from django.test import override_settings

from django_notify.checks import check_settings


def _ids(**setting):
    with override_settings(DJANGO_NOTIFY=setting):
        return [e.id for e in check_settings()], check_settings()


def test_default_settings_are_clean():
    # The test apps' types also go out on "outbox", which the defaults do not configure.
    setting = {"CHANNELS": {"outbox": {"BACKEND": "locmem"}}, "SITE_URL": "https://a.example"}
    with override_settings(DJANGO_NOTIFY=setting):
        assert check_settings() == []


@pytest.mark.parametrize(
    ("setting", "error_id", "needle"),
    [
        ({"TENANCY_ADAPTR": "x.Y"}, "django_notify.E002", "TENANCY_ADAPTR"),
        ({"TENANCY_ADAPTER": "nope.Missing"}, "django_notify.E003", "nope.Missing"),
        ({"TENANCY_ADAPTER": "nodots"}, "django_notify.E003", "dotted path"),
        ({"TENANCY_ADAPTER": "django.utils.timezone.now"}, "django_notify.E004", "TenancyAdapter"),
        ({"HTML_SANITIZER": "nope.clean"}, "django_notify.E003", "HTML_SANITIZER"),
        ({"HTML_SANITIZER": "django_notify.conf.DEFAULTS"}, "django_notify.E005", "callable"),
        ({"LEVELS": {"TOOLONG": "x"}}, "django_notify.E007", "LEVELS"),
        ({"DEFAULT_LEVEL": "QQ"}, "django_notify.E008", "QQ"),
        ({"ALLOWED_TAGS": "b"}, "django_notify.E009", "ALLOWED_TAGS"),
        ({"ALLOWED_TAGS": 5}, "django_notify.E009", "ALLOWED_TAGS"),
        ({"DEFAULT_ORGANIZATION": None}, "django_notify.E011", "DEFAULT_ORGANIZATION"),
        ({"BULK_BATCH_SIZE": 0}, "django_notify.E010", "BULK_BATCH_SIZE"),
        ({"DEFAULT_ORGANIZATION": ""}, "django_notify.E011", "DEFAULT_ORGANIZATION"),
        ({"ALLOWED_TAGS": ["b", "script"]}, "django_notify.W001", "script"),
    ],
)
def test_bad_settings_are_reported(setting, error_id, needle):
    ids, errors = _ids(**setting)
    assert error_id in ids
    message = next(e.msg for e in errors if e.id == error_id)
    assert needle in message
    assert "DJANGO_NOTIFY" in message


def test_setting_must_be_a_dict():
    with override_settings(DJANGO_NOTIFY=["x"]):
        assert [e.id for e in check_settings()] == ["django_notify.E001"]


def test_checks_run_through_manage_py_check(db):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(DJANGO_NOTIFY={"NOPE": 1}), pytest.raises(SystemCheckError):
        call_command("check")


def test_bad_adapter_at_runtime_names_the_setting(db):
    from django_notify.exceptions import NotifyConfigurationError
    from django_notify.tenancy import get_adapter

    with (
        override_settings(DJANGO_NOTIFY={"TENANCY_ADAPTER": "nope.Missing"}),
        pytest.raises(NotifyConfigurationError, match="TENANCY_ADAPTER"),
    ):
        get_adapter()
