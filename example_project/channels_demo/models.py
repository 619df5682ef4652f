"""What the in-demo receiver was sent: one row per request, verified or not."""

import json

from django.db import models
from django.utils import timezone


class ReceivedMessage(models.Model):
    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Teams"

    channel = models.CharField(max_length=20, choices=Channel.choices)
    #: Only the headers a receiver looks at (signature, id, timestamp, user agent), never
    #: the whole request: the demo's token header is recorded as present, not copied.
    headers = models.JSONField(default=dict)
    body = models.TextField()
    verified = models.BooleanField(default=False)
    #: Why verification failed; empty when it passed.
    problem = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-received_at", "-id")
        indexes = [models.Index(fields=["-received_at", "-id"], name="channels_demo_recent")]

    def __str__(self) -> str:
        state = "verified" if self.verified else "refused"
        return f"{self.channel} at {self.received_at:%H:%M:%S} ({state})"

    @property
    def pretty_body(self) -> str:
        """The body indented for reading when it is JSON (what was verified is ``body``)."""
        try:
            return json.dumps(json.loads(self.body), indent=2, ensure_ascii=False)
        except ValueError:
            return self.body
