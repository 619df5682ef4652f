"""Settings for the test suite. The database is chosen by environment variables:

NOTIFY_DB=sqlite (default) | postgres      NOTIFY_PG_NAME (database name prefix)
NOTIFY_SWAPPED=1 runs everything against a swapped notification model.
"""

import os

import django

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.support.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "polymorphic",
    "django_notify",
    # The package's tests' own tenancy and types.
    "tests.testapp",
    # The example project's apps, for tests/example_project only (the package's tests
    # never import them).
    "organizations",
    "jobs",
    "portal",
    "tests.swapped",
    "tests.hooks_app",
    "tests.delivery_app",
]

if os.environ.get("NOTIFY_DB", "sqlite") == "postgres":
    name = os.environ.get("NOTIFY_PG_NAME", "notify").replace("-", "_").replace(".", "_")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("NOTIFY_PG_USER", "postgres"),
            "HOST": os.environ.get("NOTIFY_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("NOTIFY_PG_PORT", "5432"),
            "TEST": {"NAME": f"test_{name}"},
            # The session's time zone named as Django names it: a server whose default is
            # "Etc/UTC" would otherwise get a SET TIME ZONE on every new connection (each
            # live-server request opens one).
            "OPTIONS": {"options": "-c TimeZone=UTC"},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

if os.environ.get("NOTIFY_SWAPPED") == "1":
    DJANGO_NOTIFY_NOTIFICATION_MODEL = "swapped.CustomNotification"

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
    "TENANCY_ADAPTER": "tests.testapp.tenancy.TestTenancyAdapter",
    "CHANNELS": {"outbox": {"BACKEND": "locmem"}},
    "SITE_URL": "https://notify.example",
}
# Django 6.1+ names its email backends in MAILERS (EMAIL_BACKEND and friends are
# deprecated there); the test runner swaps every mailer for locmem. On Django 5.2 it swaps
# EMAIL_BACKEND.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
