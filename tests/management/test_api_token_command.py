"""``manage.py notify_create_token``: prints a working key once, refuses bad input."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_notify.models import ApiToken
from django_notify.models.token import hash_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("notify_create_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_the_key_alone_and_stores_only_its_hash(make_user):
    user = make_user(username="ada")
    key, note = run("ada", "--name", "nightly export")
    assert key.startswith("dn_") and len(key) == 43 and "\n" not in key
    token = ApiToken.objects.get(user=user)
    assert token.name == "nightly export" and token.expires_at is None
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert token.prefix == key[:8] and token.prefix in note and "cannot be shown again" in note
    assert key not in note
    assert ApiToken.authenticate(key) == user


def test_expiry_and_default_name(make_user):
    make_user(username="bob")
    key, note = run("bob", "--expires-days", "30")
    token = ApiToken.objects.get(key_hash=hash_key(key))
    assert token.name == "cli"
    expected = timezone.now() + timedelta(days=30)
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert "expires" in note


@pytest.mark.parametrize(
    "args, message",
    [
        (("nobody",), "No user 'nobody'."),
        (("carol", "--expires-days", "0"), "--expires-days must be at least 1."),
        (("carol", "--name", "x" * 101), "--name is too long"),
        (("dave",), "inactive"),
    ],
)
def test_refusals(make_user, args, message):
    make_user(username="carol")
    make_user(username="dave", active=False)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not ApiToken.objects.exists()
