from __future__ import annotations

import swapper
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationReceipt(models.Model):
    """One user's read/dismiss state on a broadcast row.

    Created only when the user acts, so a broadcast to 100,000 users costs one row
    until people start reading it.
    """

    notification = models.ForeignKey(
        swapper.get_model_name("django_notify", "Notification"),
        on_delete=models.CASCADE,
        related_name="receipts",
        db_index=False,  # the unique (notification, user) constraint leads with it
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification receipt")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "user"], name="django_notify_receipt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"receipt({self.notification_id}, {self.user_id})"
