"""The tenancy the package's tests run against: organizations, a user's membership and
role in one, and teams with members and shared access.

Shaped like a host's own models (and like the example project's organizations app, which
stays installed for tests/example_project): the reverse names on the user are this app's
own, so both can be installed together.
"""

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from django_notify.tenancy import Role


class Organization(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's one organization and their role in it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="testapp_membership"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DEV_USER)

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class Team(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="testapp_teams", blank=True
    )
    #: Users who are not members but may address the team (the team access model).
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="testapp_accessible_teams", blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="testapp_team_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ExternalRecord(models.Model):
    """A host row keyed by UUID, for the helpers that must spell any primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    def __str__(self) -> str:
        return self.label or str(self.pk)
