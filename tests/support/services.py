"""The real services the integration tests talk to, and how a missing one is reported:
a skip on a laptop without it, a failure when ``NOTIFY_REQUIRE_SERVICES=1`` (.ci/run)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

REDIS_URL = os.environ.get("NOTIFY_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRED = os.environ.get("NOTIFY_REQUIRE_SERVICES") == "1"


def missing(what: str) -> None:
    """Skip, or fail when the run said every service must be there."""
    if REQUIRED:
        pytest.fail(f"{what} (NOTIFY_REQUIRE_SERVICES=1)")
    pytest.skip(what)


def require_postgres_for(what: str) -> None:
    """For module fixtures (the function fixture ``require_postgres`` is in conftest):
    another process must see the test database, which only PostgreSQL offers here."""
    if connection.vendor != "postgresql":
        if REQUIRED and os.environ.get("NOTIFY_DB") == "postgres":
            pytest.fail("PostgreSQL was required but the suite is not running on it")
        pytest.skip(f"{what} need PostgreSQL (NOTIFY_DB=postgres)")


def redis_client():
    """A connected client for ``NOTIFY_REDIS_URL``; the caller closes it."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        missing(f"Redis does not answer at NOTIFY_REDIS_URL={REDIS_URL} ({exc})")
    return client
