from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..types import validate_type_key
from .switches import ChannelSwitches


def entity_pair_constraint(name: str) -> models.CheckConstraint:
    """Entity type and id come together or not at all, whatever writes the row."""
    return models.CheckConstraint(
        name=name,
        condition=Q(entity_type__isnull=True, entity_id="")
        | (Q(entity_type__isnull=False) & ~Q(entity_id="")),
    )


def entity_q(target: Any, prefix: str = "") -> Q:
    """Subscription or opt-out rows for every object (no entity) or for ``target``."""
    q = Q(**{f"{prefix}entity_type__isnull": True})
    if target is not None and getattr(target, "pk", None) is not None:
        ct = ContentType.objects.get_for_model(target)
        q |= Q(**{f"{prefix}entity_type": ct, f"{prefix}entity_id": str(target.pk)})
    return q


class EntityScopedModel(models.Model):
    """A user × notification type, optionally narrowed to one object
    (entity_type + entity_id); no entity means every event of the type."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notification_type = models.CharField(
        _("notification type"), max_length=100, validators=[validate_type_key]
    )
    entity_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    entity_id = models.CharField(_("entity id"), max_length=64, blank=True)
    entity = GenericForeignKey("entity_type", "entity_id")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        abstract = True

    @property
    def is_global(self) -> bool:
        return self.entity_type_id is None

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        super().clean()
        if (self.entity_type_id is None) != (not self.entity_id):
            raise ValidationError(
                {"entity_id": _("Give both entity type and entity id, or neither.")}
            )


class Subscription(ChannelSwitches, EntityScopedModel):
    """A user wants events of a type (globally or for one object)."""

    created_by_rule = models.BooleanField(_("created by a rule"), default=False)
    rule = models.ForeignKey(
        "django_notify.SubscriptionRule", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="subscriptions",
    )  # fmt: skip

    class Meta:
        verbose_name = _("subscription")
        constraints = [
            # Two partial constraints: NULL entity types would never collide in one.
            models.UniqueConstraint(
                fields=["user", "notification_type"],
                condition=Q(entity_type__isnull=True),
                name="django_notify_subscription_unique_global",
            ),
            models.UniqueConstraint(
                fields=["user", "notification_type", "entity_type", "entity_id"],
                condition=Q(entity_type__isnull=False),
                name="django_notify_subscription_unique_entity",
            ),
            entity_pair_constraint("django_notify_subscription_entity_pair"),
        ]
        indexes = [models.Index(fields=["notification_type", "entity_type", "entity_id"])]

    def __str__(self) -> str:
        return f"{self.user} → {self.notification_type}"


class OptOut(EntityScopedModel):
    """A user does not want events of a type (globally or for one object), optionally
    until a time ("mute until"). Beats every subscription and rule while it lasts."""

    until = models.DateTimeField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("opt-out")
        indexes = [models.Index(fields=["notification_type", "user"])]
        constraints = [entity_pair_constraint("django_notify_optout_entity_pair")]

    def __str__(self) -> str:
        return f"{self.user} ✕ {self.notification_type}"

    @staticmethod
    def active_q(now=None) -> Q:
        return Q(until__isnull=True) | Q(until__gt=now or timezone.now())
