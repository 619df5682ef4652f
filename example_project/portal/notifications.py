"""The portal's notification type, and the ``post_save`` receiver that sends it.

A new announcement is one call to ``django_notify.notify()`` with the participants as a
queryset: one bulk insert whatever their number, no loop over users. It runs inside the
save's transaction, so a rolled-back announcement notifies nobody.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

import django_notify

from .models import Announcement

PORTAL = django_notify.Category("portal", "Portal", "Announcements to the portal's participants.")


@django_notify.register
class AnnouncementPosted(django_notify.NotificationType):
    key = "portal.announcement"
    id = 501
    label = "Portal announcement"
    description = "A new announcement on the portal"
    category = PORTAL
    level = "IN"
    channels = ("in_app", "email")
    default_channels = ("in_app",)
    # Only the site sends it (notify() from the receiver below), never a user.
    senders = "system"


@receiver(post_save, sender=Announcement, dispatch_uid="portal.announcement_posted")
def announcement_posted(sender, instance: Announcement, created: bool, raw=False, **kwargs):
    if not created or raw:  # edits and fixtures notify nobody
        return
    django_notify.notify(
        instance.recipients(),
        AnnouncementPosted.key,
        title=instance.title,
        body=instance.body,
        url=instance.get_absolute_url(),
        actor=instance.created_by,
        target=instance,
    )
