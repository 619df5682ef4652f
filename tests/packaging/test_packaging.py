"""The built wheel works for a user who has nothing but pip: build it, install it in a
fresh virtualenv, start a new Django project, add the app, migrate and send.

Slow (a virtualenv and a pip install from the index): only the ``package`` tox
environment runs it (``pytest -m slow``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "src" / "django_notify"

# Run by `manage.py shell -c` in the new project, on its default settings (default
# tenancy adapter: everyone is in one organization, superusers are ORG_ADMIN).
SMOKE_SCRIPT = """
from django.contrib.auth import get_user_model
from django_notify import get_notification_model, notify

User = get_user_model()
N = get_notification_model()
u = User.objects.create_user("alice", password="pw")
admin = User.objects.create_superuser("admin", "admin@example.com", "pw")

[mine] = N.send_to_self(u, title="hi")
[bulk] = notify([admin], None, title="bulk")
[everyone] = N.send(admin, title="all", is_global=True)

assert sorted(n.title for n in N.objects.visible_to(u)) == ["all", "hi"]
assert N.objects.unread_count(u) == 2, N.objects.unread_count(u)
assert N.objects.unread_count(admin) == 2, N.objects.unread_count(admin)
assert mine.mark_read(u) is True
assert N.objects.unread_count(u) == 1, N.objects.unread_count(u)
assert everyone.mark_read(u) is True
assert N.objects.unread_count(u) == 0, N.objects.unread_count(u)
assert N.objects.unread_count(admin) == 2, "a broadcast read by one user stays unread for others"
print("smoke: ok")
"""


def _clean_env() -> dict[str, str]:
    """The environment minus what ties a subprocess to this test run (pytest-django sets
    DJANGO_SETTINGS_MODULE; tox sets VIRTUAL_ENV)."""
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def run(*args, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    venv_dir = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv_dir)
    return venv_dir


@pytest.fixture(scope="module")
def wheel(fresh_venv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    run(fresh_venv / "bin" / "python", "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT)
    [built] = out.glob("django_notify_kit-*.whl")
    return built


@pytest.fixture(scope="module")
def site(fresh_venv, wheel, tmp_path_factory) -> Path:
    """A project from `django-admin startproject` with django_notify installed and migrated."""
    bin_dir = fresh_venv / "bin"
    run(bin_dir / "python", "-m", "pip", "install", wheel)
    parent = tmp_path_factory.mktemp("site")
    # "site" itself is refused by startproject: it shadows the stdlib module.
    run(bin_dir / "django-admin", "startproject", "mysite", parent)
    settings = parent / "mysite" / "settings.py"
    apps = '\nINSTALLED_APPS += ["polymorphic", "django_notify"]\n'
    settings.write_text(settings.read_text() + apps)
    run(bin_dir / "python", "manage.py", "migrate", "--noinput", cwd=parent)
    return parent


def test_wheel_contains_every_package_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "django_notify/migrations/0001_initial.py" in names
    assert "django_notify/migrations/0002_notificationreceipt.py" in names
    expected = {
        path.relative_to(PACKAGE_DIR.parent).as_posix()
        for path in PACKAGE_DIR.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected - names == set(), "files in src/django_notify missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "example_project/"))]


def test_installed_app_sends_and_counts(site, fresh_venv):
    out = run(fresh_venv / "bin" / "python", "manage.py", "shell", "-c", SMOKE_SCRIPT, cwd=site)
    assert "smoke: ok" in out


def test_installed_app_passes_checks(site, fresh_venv):
    python = fresh_venv / "bin" / "python"
    run(python, "manage.py", "check", "--fail-level", "WARNING", cwd=site)
    # The shipped migrations match the models under the Django version pip picked.
    run(python, "manage.py", "makemigrations", "--check", "--dry-run", cwd=site)
