"""The portal's announcements: a staff member posts one, and every portal participant
hears about it through one bulk notification (``notifications.py``).

Participants are the active members of the ``Portal participants`` group; who may post
is the ``portal.add_announcement`` permission (staff get it from ``seed_demo``, superusers
have every permission).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse

#: The auth group whose members read the portal's announcements.
PARTICIPANTS_GROUP = "Portal participants"


def participants():
    """The users an announcement notifies: active members of the participants group."""
    return get_user_model()._default_manager.filter(is_active=True, groups__name=PARTICIPANTS_GROUP)


class Announcement(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Plain text; shown in the feed and the bell.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"{reverse('portal:announcements')}#announcement-{self.pk}"

    def recipients(self):
        """Every participant except the author, who needs no notice of their own post."""
        users = participants()
        if self.created_by_id is not None:
            users = users.exclude(pk=self.created_by_id)
        return users
