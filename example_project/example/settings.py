"""Settings for the django-notify example site.

Run from ``example_project/`` with the package installed (``pip install -e ..``).
Everything a deployment would change comes from the environment:

``DATABASE_URL``        ``postgres://user:password@host:5432/name`` (or ``sqlite:///path``);
                        unset means SQLite.
``EXAMPLE_DB_PATH``     the SQLite file when ``DATABASE_URL`` is unset
                        (default: ``example_project/db.sqlite3``).
``DJANGO_SECRET_KEY``   required when ``DJANGO_DEBUG=0``.
``DJANGO_DEBUG``        ``1`` (default) or ``0``.
``DJANGO_ALLOWED_HOSTS`` comma-separated, added to the loopback names.
``NOTIFY_DISPATCHER``   ``inline`` (default) or ``celery``.
``CELERY_BROKER_URL``   the Celery broker with ``NOTIFY_DISPATCHER=celery``
                        (default ``redis://127.0.0.1:6379/0``; ``scripts/demo-live``).
``SITE_URL``            the site's address, for the links in emails; unset means
                        ``http://127.0.0.1:$PORT`` (``PORT`` defaults to 8000, as in
                        ``scripts/demo``).

Live updates (docs/realtime.md); unset means the package's defaults:

``NOTIFY_REALTIME_BROKER``          ``inprocess`` (one web process) or ``redis``
                                    (several processes, Celery workers, scripts)
``NOTIFY_REDIS_URL``                the Redis server of the ``redis`` broker
``NOTIFY_REALTIME_CHANNEL_PREFIX``  the pub/sub channel prefix, for sites sharing a Redis
``NOTIFY_POLL_INTERVAL``            seconds between the widget's polls without a stream
                                    (under ``runserver``, which is WSGI)
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def database_from_url(url: str) -> dict:
    """A ``DATABASES["default"]`` dict from a ``DATABASE_URL`` (no extra dependency).

    ``postgres://user:pass@host:port/name?sslmode=require`` → the PostgreSQL backend
    (query parameters become ``OPTIONS``); ``sqlite:///relative.db`` or
    ``sqlite:////absolute/path.db`` → SQLite. Percent-escapes are decoded.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "pgsql"):
        try:
            port = parts.port
        except ValueError as exc:
            raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {exc}") from None
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL must name a database: postgres://…/NAME")
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(port or ""),
        }
        options = dict(parse_qsl(parts.query))
        if options:
            config["OPTIONS"] = options
        return config
    if scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///db.sqlite3 is relative to example_project/, sqlite:////abs/db is absolute.
        path = path[1:] if path.startswith("/") else path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / path)}
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported; use postgres:// or sqlite://"
    )


DEBUG = env_flag("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG=0.")
    SECRET_KEY = "django-insecure-example-project-only-never-deploy-this-key"

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"] + [
    host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host.strip()
]

INSTALLED_APPS = [
    # First, so that its templates override the admin's (admin/base_site.html puts the
    # bell in the admin header) and django-notify's (django_notify/base.html puts the
    # notification centre pages in the demo's layout).
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "polymorphic",
    "django_notify",
    "organizations",
    "jobs",
    "portal",
    "channels_demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"
ASGI_APPLICATION = "example.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("EXAMPLE_DB_PATH") or str(BASE_DIR / "db.sqlite3"),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# The embedded default: emails are printed by the dev server (console backend), and
# deliveries are sent inline after commit. The production path is DISPATCHER "celery"
# with a Redis broker (docs/celery.md).
# Django 6.1+ names email backends in MAILERS (EMAIL_BACKEND is deprecated there).
_email_backend = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _email_backend}}
else:
    EMAIL_BACKEND = _email_backend
DEFAULT_FROM_EMAIL = "notifications@example.test"


def site_url() -> str:
    """Where emails link to: ``SITE_URL``, else the loopback address on ``PORT``, the
    port ``scripts/demo`` serves on (a demo on another port must not link to 8000)."""
    if os.environ.get("SITE_URL"):
        return os.environ["SITE_URL"]
    port = os.environ.get("PORT") or "8000"
    if not port.isdigit():
        raise ImproperlyConfigured(f"PORT must be a number, not {port!r}.")
    return f"http://127.0.0.1:{port}"


DJANGO_NOTIFY = {
    "TENANCY_ADAPTER": "organizations.tenancy.OrganizationsTenancyAdapter",
    "SITE_URL": site_url(),
    "DISPATCHER": os.environ.get("NOTIFY_DISPATCHER", "inline"),
}

# Multi-channel delivery (/channels/): the webhook, Slack and Teams channels post to the
# demo's own receivers on this server, which verify them as real receivers would. The
# secret and token are the demo's own and public, like SECRET_KEY above: a real site reads
# them from the environment. Slack and Teams incoming webhooks are not signed (their URL
# is the credential), so here both carry a bearer token the receivers check.
CHANNELS_DEMO_WEBHOOK_SECRET = "whsec_CunzzLapI1fSaj/68bQwaVXh5xPhF+zs8p2YiycPEVo="
CHANNELS_DEMO_TOKEN = "demo-receiver-token"
_receivers = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}/channels/receive"
_bearer = {"Authorization": f"Bearer {CHANNELS_DEMO_TOKEN}"}
DJANGO_NOTIFY["CHANNELS"] = {
    "webhook": {
        "BACKEND": "webhook",
        "OPTIONS": {"URL": f"{_receivers}/webhook/", "SECRET": CHANNELS_DEMO_WEBHOOK_SECRET},
    },
    "slack": {"BACKEND": "slack", "OPTIONS": {"URL": f"{_receivers}/slack/", "HEADERS": _bearer}},
    "teams": {"BACKEND": "teams", "OPTIONS": {"URL": f"{_receivers}/teams/", "HEADERS": _bearer}},
}
# The SSRF guard refuses loopback addresses (a user-chosen URL must not reach this
# machine's services); the demo's receivers live on loopback, so it allows 127.0.0.1
# and nothing else. Never list loopback on a real site.
DJANGO_NOTIFY["WEBHOOK_ALLOWED_HOSTS"] = ["127.0.0.1"]

# The Celery dispatcher (scripts/demo-live): a worker sends the deliveries, and its beat
# runs the sweeps (retries, digests at the end of their windows) every minute.
if DJANGO_NOTIFY["DISPATCHER"] == "celery":
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_TASK_IGNORE_RESULT = True
    # The beat schedule is set in example/celery.py: django_notify.tasks imports models,
    # which cannot happen while settings load.

# Only what the environment sets, so everything else keeps the package's defaults.
for key in ("REALTIME_BROKER", "REDIS_URL", "REALTIME_CHANNEL_PREFIX"):
    if os.environ.get(f"NOTIFY_{key}"):
        DJANGO_NOTIFY[key] = os.environ[f"NOTIFY_{key}"]
if os.environ.get("NOTIFY_POLL_INTERVAL"):
    try:
        DJANGO_NOTIFY["POLL_INTERVAL"] = float(os.environ["NOTIFY_POLL_INTERVAL"])
    except ValueError:
        raise ImproperlyConfigured(
            f"NOTIFY_POLL_INTERVAL must be a number of seconds, not "
            f"{os.environ['NOTIFY_POLL_INTERVAL']!r}."
        ) from None
