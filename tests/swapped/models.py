from django.db import models

from django_notify.models import AbstractNotification


class CustomNotification(AbstractNotification):
    """A host's own notification model: the abstract base plus one field."""

    colour = models.CharField(max_length=20, blank=True)

    class Meta(AbstractNotification.Meta):
        pass
