import inspect
import re
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.test import override_settings

from django_notify import checks as base_checks
from django_notify.channels import checks as channel_checks
from django_notify.checks import DOCS, PROBLEMS, check_settings, problem
from django_notify.delivery import checks as delivery_checks
from django_notify.realtime import checks as realtime_checks
from django_notify.types import NotificationType, notification_types


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
        ({"HTML_SANITIZER": "nope.clean"}, "django_notify.E025", "HTML_SANITIZER"),
        ({"HTML_SANITIZER": "nodots"}, "django_notify.E025", "dotted path"),
        ({"HTML_SANITIZER": "django_notify.conf.DEFAULTS"}, "django_notify.E005", "callable"),
        ({"LEVELS": {"TOOLONG": "x"}}, "django_notify.E007", "LEVELS"),
        ({"DEFAULT_LEVEL": "QQ"}, "django_notify.E008", "QQ"),
        ({"ALLOWED_TAGS": "b"}, "django_notify.E009", "ALLOWED_TAGS"),
        ({"ALLOWED_TAGS": 5}, "django_notify.E009", "ALLOWED_TAGS"),
        ({"DEFAULT_ORGANIZATION": None}, "django_notify.E011", "DEFAULT_ORGANIZATION"),
        ({"BULK_BATCH_SIZE": 0}, "django_notify.E010", "BULK_BATCH_SIZE"),
        ({"EVENT_MAX_ATTEMPTS": True}, "django_notify.E028", "EVENT_MAX_ATTEMPTS"),
        ({"ALLOWED_PROTOCOLS": ["http", 1]}, "django_notify.E026", "ALLOWED_PROTOCOLS"),
        ({"ALLOWED_ATTRIBUTES": ["a"]}, "django_notify.E027", "ALLOWED_ATTRIBUTES"),
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


# --- One id per problem -------------------------------------------------------------

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
CHECK_MODULES = (base_checks, channel_checks, delivery_checks, realtime_checks)
BASE = {"CHANNELS": {"outbox": {"BACKEND": "locmem"}}, "SITE_URL": "https://a.example"}

#: Every declared problem → the DJANGO_NOTIFY keys (merged over BASE) that cause it and
#: no other, and a word its message carries. ``extra`` fakes what settings cannot: other
#: Django settings, a package that is not installed, a registered type.
TRIGGERS = {
    "E001": ({}, "must be a dict", {"whole": ["x"]}),
    "E002": ({"NOPE": 1}, "'NOPE'", {}),
    "E003": ({"TENANCY_ADAPTER": "nope.Missing"}, "TENANCY_ADAPTER", {}),
    "E004": ({"TENANCY_ADAPTER": "django.utils.timezone.now"}, "TenancyAdapter", {}),
    "E005": ({"HTML_SANITIZER": "django_notify.conf.DEFAULTS"}, "HTML_SANITIZER", {}),
    "E006": ({"HTML_SANITIZER": "nh3"}, "nh3", {"missing": "nh3"}),
    "E007": ({"LEVELS": {"TOOLONG": "x"}}, "LEVELS", {}),
    "E008": ({"DEFAULT_LEVEL": "QQ"}, "DEFAULT_LEVEL", {}),
    "E009": ({"ALLOWED_TAGS": "b"}, "ALLOWED_TAGS", {}),
    "E010": ({"BULK_BATCH_SIZE": 0}, "BULK_BATCH_SIZE", {}),
    "E011": ({"DEFAULT_ORGANIZATION": ""}, "DEFAULT_ORGANIZATION", {}),
    "E012": ({}, "polymorphic", {"uninstalled": "polymorphic"}),
    "E013": ({"CHANNELS": {**BASE["CHANNELS"], "": {"BACKEND": "locmem"}}}, "alias ''", {}),
    "E014": ({"CHANNELS": {**BASE["CHANNELS"], "x": {"BACKEND": "no.Such"}}}, "'x'", {}),
    "E015": ({"DISPATCHER": "celery"}, "Celery", {"missing": "celery"}),
    "E016": ({"DEFAULT_CHANNELS": ["in_app", "sms"]}, "DEFAULT_CHANNELS", {}),
    "E017": ({"SITE_URL": "a.example"}, "SITE_URL", {}),
    "E018": ({"DIGEST_DAILY_AT": "8 am"}, "DIGEST_DAILY_AT", {}),
    "E019": ({"RATE_LIMITS": {"per_ip": "1/s"}}, "RATE_LIMITS", {}),
    "E020": ({"RETENTION_DAYS": {"deliveries": -1}}, "RETENTION_DAYS", {}),
    "E021": ({"REALTIME_BROKER": "django_notify.conf.DEFAULTS"}, "REALTIME_BROKER", {}),
    "E022": ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL", {}),
    "E023": ({"API_PAGE_SIZE": 200}, "API_MAX_PAGE_SIZE", {}),
    "E024": ({"MAX_REQUEST_BYTES": 0}, "MAX_REQUEST_BYTES", {}),
    "E025": ({"HTML_SANITIZER": "nope.clean"}, "HTML_SANITIZER", {}),
    "E026": ({"ALLOWED_PROTOCOLS": "http"}, "ALLOWED_PROTOCOLS", {}),
    "E027": ({"ALLOWED_ATTRIBUTES": ["a"]}, "ALLOWED_ATTRIBUTES", {}),
    "E028": ({"EVENT_MAX_ATTEMPTS": 0}, "EVENT_MAX_ATTEMPTS", {}),
    "E029": ({"MAX_META_DATA_BYTES": 0}, "MAX_META_DATA_BYTES", {}),
    "E030": ({"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}, "WEBHOOK_ALLOWED_HOSTS", {}),
    "E031": ({"HTTP_TIMEOUT": 0}, "HTTP_TIMEOUT", {}),
    "E032": ({"REALTIME_PUBLISHER": "no.such.publish"}, "REALTIME_PUBLISHER", {}),
    "E033": ({"DISPATCHER": "carrier.Pigeon"}, "DISPATCHER", {}),
    "E034": ({"DISPATCHER": "django_notify.conf.DEFAULTS"}, "DISPATCHER", {}),
    "E035": ({"MAX_ATTEMPTS": "5"}, "MAX_ATTEMPTS", {}),
    "E036": ({"RETRY_BACKOFF": 0}, "RETRY_BACKOFF", {}),
    "E037": ({"RETRY_BACKOFF_MAX": -1}, "RETRY_BACKOFF_MAX", {}),
    "E038": ({"RETRY_COUNTDOWN_MAX": 0}, "RETRY_COUNTDOWN_MAX", {}),
    "E039": ({"SENDING_TIMEOUT": None}, "SENDING_TIMEOUT", {}),
    "E040": ({"DIGEST_WEEKDAY": 7}, "DIGEST_WEEKDAY", {}),
    "E041": ({"BYPASS_PRIORITY": "urgent"}, "BYPASS_PRIORITY", {}),
    "E042": ({"RETENTION_BATCH_SIZE": 0}, "RETENTION_BATCH_SIZE", {}),
    "E043": ({"SENSITIVE_CONTEXT": "token"}, "SENSITIVE_CONTEXT", {}),
    "E044": ({"REALTIME_BROKER": "no.such.Broker"}, "REALTIME_BROKER", {}),
    "E045": ({"REALTIME_BROKER": "redis"}, "redis", {"missing": "redis"}),
    "E046": ({"REALTIME_CHANNEL_PREFIX": "a:b"}, "REALTIME_CHANNEL_PREFIX", {}),
    "E047": ({"API_PAGE_SIZE": 0}, "API_PAGE_SIZE", {}),
    "E048": ({"API_MAX_PAGE_SIZE": "100"}, "API_MAX_PAGE_SIZE", {}),
    "E049": ({"POLL_INTERVAL": 0}, "POLL_INTERVAL", {}),
    "E050": ({"SSE_HEARTBEAT": 0}, "SSE_HEARTBEAT", {}),
    "E051": ({"SSE_MAX_SECONDS": 0}, "SSE_MAX_SECONDS", {}),
    "E052": ({"STORM_THRESHOLD": 0}, "STORM_THRESHOLD", {}),
    "E053": ({"DISPATCH_BATCH_SIZE": 0}, "DISPATCH_BATCH_SIZE", {}),
    "E054": ({"PREPARED_STATEMENTS": "yes"}, "PREPARED_STATEMENTS", {}),
    "W001": ({"ALLOWED_TAGS": ["b", "script"]}, "script", {}),
    "W002": ({"CHANNELS": {}}, "outbox", {}),
    "W003": ({"SITE_URL": ""}, "SITE_URL", {}),
    "W004": (
        {"DISPATCHER": "celery", "RETRY_COUNTDOWN_MAX": 300},
        "visibility_timeout",
        {"settings": {"CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 120}}},
    ),
    "W005": ({}, "senders = 'anyone'", {"type": "t.open_required"}),
}


def _run(setting, extra, monkeypatch):
    if "missing" in extra:
        monkeypatch.setitem(sys.modules, extra["missing"], None)  # import fails
    if "uninstalled" in extra:
        installed = apps.is_installed
        monkeypatch.setattr(
            apps, "is_installed", lambda name: name != extra["uninstalled"] and installed(name)
        )
    declared = None
    if "type" in extra:
        declared = type(
            "OpenRequired",
            (NotificationType,),
            {"key": extra["type"], "required_channels": ("email",)},
        )
        notification_types.register(declared)
    try:
        notify = extra.get("whole", {**BASE, **setting})
        with override_settings(DJANGO_NOTIFY=notify, **extra.get("settings", {})):
            return run_checks(tags=["django_notify"])
    finally:
        if declared is not None:
            notification_types.unregister(declared.key)


def test_every_check_is_registered_and_the_defaults_are_clean():
    with override_settings(DJANGO_NOTIFY=BASE):
        assert run_checks(tags=["django_notify"]) == []


@pytest.mark.parametrize("problem_id", sorted(TRIGGERS))
def test_each_problem_raises_its_own_id_and_no_other(problem_id, monkeypatch):
    setting, needle, extra = TRIGGERS[problem_id]
    found = _run(setting, extra, monkeypatch)
    assert {m.id for m in found} == {f"django_notify.{problem_id}"}, found
    assert all(needle in m.msg for m in found), found
    page = PROBLEMS[problem_id].page
    assert all(m.hint.endswith(f"See {DOCS}/{page}") for m in found), found


def test_every_declared_problem_is_triggered():
    assert set(TRIGGERS) == set(PROBLEMS)


def test_no_two_problems_share_an_id():
    """Ids are declared once, in the check modules, and every message is built from a
    declared problem (no literal Error/Warning with an id of its own)."""
    declared = []
    for module in CHECK_MODULES:
        source = inspect.getsource(module)
        declared += re.findall(r'problem\(\s*"(\w+)"', source)
        assert not re.search(r"\b(Error|Warning)\(", source), module.__name__
        assert "id=" not in source.replace("id=problem.qualified_id", ""), module.__name__
    assert sorted(declared) == sorted(set(declared)) == sorted(PROBLEMS)
    titles = [p.title for p in PROBLEMS.values()]
    assert len(titles) == len(set(titles))
    with pytest.raises(ValueError, match="declared twice"):
        problem("E001", "again", "settings.md")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", h.replace("`", "").lower().strip()).replace(" ", "-")
        for h in headings
    }


def test_every_hint_links_to_a_docs_section_that_exists():
    for declared in PROBLEMS.values():
        path, _, anchor = declared.page.partition("#")
        assert (DOCS_DIR / path).is_file(), declared
        assert not anchor or anchor in _anchors(DOCS_DIR / path), declared


def test_the_checks_page_lists_every_id_once():
    rows = re.findall(
        r"^\| `django_notify\.(\w+)` \|", (DOCS_DIR / "checks.md").read_text(), flags=re.MULTILINE
    )
    assert sorted(rows) == sorted(PROBLEMS)
