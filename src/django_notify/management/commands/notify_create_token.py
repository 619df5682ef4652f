"""``manage.py notify_create_token <username> [--name N] [--expires-days D]``: an API token
for scripts (the Python client, cron jobs). The key is printed once and never stored."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown this once only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument("--name", default="", help='What it is for (default "cli").')
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Valid for this many days."
        )

    def handle(self, *args, username: str, name: str, expires_days: int | None, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: a token would not work.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        name = name.strip() or "cli"
        if len(name) > ApiToken._meta.get_field("name").max_length:
            raise CommandError("--name is too long (at most 100 characters).")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        token, key = ApiToken.create(user, name, expires_at=expires_at)
        # The key alone on stdout, so `KEY=$(manage.py notify_create_token ada)` works;
        # the explanation goes to stderr.
        self.stdout.write(key)
        until = f", expires {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else ""
        self.stderr.write(
            f"Token {token.prefix}… ({name!r}) for {username}{until}. "
            "Store the key now: it cannot be shown again."
        )
