"""django-notify's worker settings (its own venv: Django 6.1, the repository installed).

The database comes from BENCH_DB / BENCH_DB_NAME / BENCH_SIZE (see benchlib.db_settings).
The tenancy adapter is the example project's organizations app, as in tests/settings.py.
"""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS.parent / "example_project"))

import benchlib  # noqa: E402

SECRET_KEY = "benchmarks-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "notify_side.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "polymorphic",
    "django_notify",
    "organizations",
    # Its notifications.py registers the write figures' types.
    "notify_side",
]
DATABASES = {"default": benchlib.db_settings("notify")}

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DJANGO_NOTIFY = {
    "TENANCY_ADAPTER": "organizations.tenancy.OrganizationsTenancyAdapter",
    # Email spelled out: the fan-out types plan an email delivery per recipient.
    "CHANNELS": {"outbox": {"BACKEND": "locmem"}, "email": {"BACKEND": "email"}},
    # The write figures time the write (rows and Delivery rows), not the sending.
    "DISPATCHER": "notify_side.dispatch.NoDispatcher",
    "SITE_URL": "https://bench.example",
}
# Nothing is sent (see DISPATCHER); should something be, it stays in memory.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
