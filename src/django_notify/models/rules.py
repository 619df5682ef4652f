"""Subscription rules and their polymorphic criteria.

A rule targets one notification type and holds criteria; each criterion returns users.
Criteria that only need the rule (roles, groups, permissions) are turned into
subscriptions by :func:`django_notify.rules.sync.sync_type`; criteria that need the
event's object (``per_event = True``, like a job's account manager) are evaluated when
an event of the type is processed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from polymorphic.models import PolymorphicModel

from ..criteria_registry import criteria, validate_params
from ..tenancy import Role, get_adapter
from ..types import validate_type_key
from .switches import ChannelSwitches


def _users():
    return get_user_model()._default_manager


def as_user_queryset(result: Any) -> models.QuerySet:
    """A criterion's result (queryset of users, users or pks) as a user queryset."""
    if isinstance(result, models.QuerySet):
        if result.model is get_user_model():
            return result
        return _users().filter(pk__in=result)
    if result is None:
        return _users().none()
    return _users().filter(pk__in=[getattr(u, "pk", u) for u in result])


class SubscriptionRule(ChannelSwitches, models.Model):
    """Subscribes the users its criteria match to one notification type."""

    name = models.CharField(_("name"), max_length=200)
    notification_type = models.CharField(
        _("notification type"), max_length=100, validators=[validate_type_key]
    )
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    priority = models.IntegerField(
        _("priority"), default=0,
        help_text=_("Higher wins when several rules subscribe the same user to a type."),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("subscription rule")
        ordering = ("notification_type", "-priority", "pk")
        indexes = [models.Index(fields=["notification_type", "active", "-priority"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.pk and self.active and not self.criteria.exists():
            raise ValidationError(_("An active rule needs at least one criterion."))

    def matching_users(self, target: Any = None, *, per_event: bool = False) -> models.QuerySet:
        """Users matched by the rule's criteria of one kind (standing or per-event)."""
        q = Q(pk__in=[])
        for criterion in self.criteria.all():
            if criterion.per_event == per_event:
                q |= Q(pk__in=as_user_queryset(criterion.matching_users(target)).values("pk"))
        return _users().filter(q)


class RuleCriterion(PolymorphicModel):
    """Base of every criterion. Subclass it (a model) and implement
    :meth:`matching_users`; set ``per_event = True`` when it needs the event's target."""

    rule = models.ForeignKey(SubscriptionRule, on_delete=models.CASCADE, related_name="criteria")

    #: Evaluated per event with its target, instead of creating standing subscriptions.
    per_event: ClassVar[bool] = False

    class Meta:
        verbose_name = _("rule criterion")
        verbose_name_plural = _("rule criteria")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"

    def matching_users(self, target: Any = None) -> Any:
        """Users this criterion matches: a user queryset, users or pks."""
        raise NotImplementedError(f"{type(self).__name__} must implement matching_users()")


class GroupCriterion(RuleCriterion):
    """Members of a Django auth group (a global role)."""

    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("group criterion")

    def matching_users(self, target=None):
        return _users().filter(groups=self.group_id)


class PermissionCriterion(RuleCriterion):
    """Holders of a permission, directly or through a group (superusers included)."""

    permission = models.ForeignKey("auth.Permission", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("permission criterion")

    def matching_users(self, target=None):
        perm = self.permission_id
        return _users().filter(
            Q(user_permissions=perm) | Q(groups__permissions=perm) | Q(is_superuser=True)
        )


class StaffCriterion(RuleCriterion):
    """Staff users and/or superusers."""

    include_staff = models.BooleanField(_("staff"), default=True)
    include_superusers = models.BooleanField(_("superusers"), default=True)

    class Meta:
        verbose_name = _("staff criterion")

    def clean(self) -> None:
        super().clean()
        if not (self.include_staff or self.include_superusers):
            raise ValidationError(_("Match staff, superusers or both."))

    def matching_users(self, target=None):
        q = Q(pk__in=[])
        if self.include_staff:
            q |= Q(is_staff=True)
        if self.include_superusers:
            q |= Q(is_superuser=True)
        return _users().filter(q)


class OrganizationRoleCriterion(RuleCriterion):
    """Users with a role in an organization, or members of a team (an org-unit
    role), read through the tenancy adapter."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    organization_key = models.CharField(_("organization"), max_length=64, blank=True)
    team_key = models.CharField(_("team"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("organization role criterion")

    def clean(self) -> None:
        super().clean()
        if not (self.role or self.team_key):
            raise ValidationError(_("Give a role, a team or both."))
        if self.team_key:
            if str(self.team_key) not in {
                str(k) for k in get_adapter().get_team_organizations([self.team_key])
            }:
                raise ValidationError({"team_key": _("Unknown team %s.") % self.team_key})

    def matching_users(self, target=None):
        adapter = get_adapter()
        users = _users().all()
        if self.role:
            org = self.organization_key or None
            users = users.filter(pk__in=adapter.get_role_member_ids(Role(self.role), org))
        elif self.organization_key:
            users = users.filter(pk__in=adapter.get_organization_member_ids(self.organization_key))
        if self.team_key:
            users = users.filter(pk__in=list(adapter.get_team_member_ids([self.team_key])))
        return users


class DynamicCriterion(RuleCriterion):
    """A function from the criteria registry, called with JSON ``params``."""

    name = models.CharField(_("function"), max_length=100)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    #: Evaluated per event when the function takes the event's target.
    evaluate_per_event = models.BooleanField(
        _("per event"), default=False,
        help_text=_("Call the function for each event with its target, instead of once "
                    "to create subscriptions."),
    )  # fmt: skip

    class Meta:
        verbose_name = _("dynamic criterion")

    def __str__(self) -> str:
        return f"{self.name}({self.params})"

    @property
    def per_event(self) -> bool:  # type: ignore[override]
        return self.evaluate_per_event

    def clean(self) -> None:
        super().clean()
        self.params = validate_params(self.name, self.params)

    def save(self, *args, **kwargs) -> None:
        # Refuse a bad name or params whatever the entry point, not only in forms.
        self.params = validate_params(self.name, self.params)
        super().save(*args, **kwargs)

    def matching_users(self, target=None):
        params = validate_params(self.name, self.params)
        return criteria.get(self.name)(target=target, **params)


BUILTIN_CRITERIA = (
    GroupCriterion, PermissionCriterion, StaffCriterion, OrganizationRoleCriterion,
    DynamicCriterion,
)  # fmt: skip
