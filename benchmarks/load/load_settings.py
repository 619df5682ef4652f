"""Settings of the load benchmark's server, sender and builder: a deployment's, not a
test's. DEBUG off, database sessions (Django's default), the example project's
organizations as the tenancy adapter, Redis pub/sub as the real-time broker.

Everything that differs between runs comes from the environment (``run.py`` sets it):

``LOAD_DB_NAME``            the PostgreSQL database (``NOTIFY_PG_HOST/_PORT/_USER`` as in
                            the test suite)
``LOAD_REDIS_URL``          the broker's Redis (default ``redis://127.0.0.1:6379/0``)
``LOAD_CHANNEL_PREFIX``     the pub/sub prefix, so parallel runs sharing one Redis never
                            hear each other
``LOAD_CONN_MAX_AGE``       Django's ``CONN_MAX_AGE`` (default 0, Django's default)
``LOAD_PREPARE``            ``1``: server-side binding and prepared statements
                            (psycopg's ``prepare_threshold``), so PostgreSQL plans the
                            repeated feed statements once per connection
``LOAD_SESSIONS``           ``db`` (Django's default) or ``cached_db`` (sessions read
                            through a Redis cache at ``LOAD_REDIS_URL``, keys prefixed with
                            ``LOAD_CHANNEL_PREFIX``)
``LOAD_DELIVER``            ``1``: the delivery benchmark (``run.py deliver``): its
                            notification types (``load_app``) are installed and
                            ``LOAD_NOTIFY`` (JSON) is merged into ``DJANGO_NOTIFY``: the
                            Celery dispatcher and the channels of the run's receivers
``LOAD_POOL``               the largest size of Django's connection pool per process
                            (psycopg's pool); ``0``: no pool, a connection per request
                            and per stream batch
"""

import json
import os
import sys
from pathlib import Path

LOAD = Path(__file__).resolve().parent
sys.path.insert(0, str(LOAD))
sys.path.insert(0, str(LOAD.parent.parent / "example_project"))

SECRET_KEY = "load-benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "load_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "polymorphic",
    "django_notify",
    "organizations",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("LOAD_DB_NAME", "notify_load"),
        "USER": os.environ.get("NOTIFY_PG_USER", "postgres"),
        "HOST": os.environ.get("NOTIFY_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("NOTIFY_PG_PORT", "5432"),
        "CONN_MAX_AGE": int(os.environ.get("LOAD_CONN_MAX_AGE", "0")),
    }
}
if int(os.environ.get("LOAD_POOL", "0")):
    # Every open stream runs its batches in its own thread: without a pool, a broadcast
    # to 500 streams opens up to 500 connections at once (past PostgreSQL's default
    # max_connections of 100). The pool bounds them per process and keeps them warm.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": int(os.environ["LOAD_POOL"]), "timeout": 60}
    }
if os.environ.get("LOAD_SESSIONS") == "cached_db":
    # What a site with many bells usually runs: the session read from a cache, the
    # database only on a miss.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": os.environ.get("LOAD_CHANNEL_PREFIX", "notify_load"),
        }
    }
if os.environ.get("LOAD_PREPARE") == "1":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
# The example project's middleware: what every request of a real site goes through.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    "SITE_URL": "https://load.example",
    "REALTIME_BROKER": "redis",
    "REDIS_URL": os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "REALTIME_CHANNEL_PREFIX": os.environ.get("LOAD_CHANNEL_PREFIX", "notify_load"),
    # A run lasts minutes: no stream may end (and reconnect) in the middle of one.
    "SSE_MAX_SECONDS": 3600,
}
if os.environ.get("LOAD_DELIVER") == "1":
    INSTALLED_APPS.append("load_app")
    DJANGO_NOTIFY.update(json.loads(os.environ.get("LOAD_NOTIFY", "{}")))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_notify": {"handlers": ["stderr"], "level": "WARNING"},
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
    },
}
