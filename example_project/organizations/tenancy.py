"""Wires the organizations app into django-notify."""

from django.contrib.auth import get_user_model
from django.db.models import CharField
from django.db.models.functions import Cast

from django_notify.tenancy import MembershipTable, Role, TenancyAdapter, in_ids, int_keys

from .models import Membership, Team


class OrganizationsTenancyAdapter(TenancyAdapter):
    # The membership tables alone (no join to teams or organizations): the feed reads
    # them with SQL written once, so the bell's count stays one cheap statement.
    team_membership = MembershipTable(Team.members.through, "user", "team")
    organization_membership = MembershipTable(Membership, "user", "organization")

    def get_organization_id(self, user):
        membership = Membership.objects.filter(user=user).values_list("organization_id", flat=True)
        return membership.first()

    def get_role(self, user):
        # The stored value as it is: the policy treats anything that is not a Role as
        # LIGHT_USER (least privilege) instead of this adapter raising on it.
        role = Membership.objects.filter(user=user).values_list("role", flat=True).first()
        return role or Role.LIGHT_USER

    def get_accessible_team_ids(self, user):
        teams = Team.objects.filter(members=user) | Team.objects.filter(shared_with=user)
        return teams.annotate(key=Cast("pk", CharField())).values("key").distinct()

    def get_user_organizations(self, user_ids):
        rows = Membership.objects.filter(in_ids("user_id", user_ids))
        return dict(rows.values_list("user_id", "organization_id"))

    def get_team_organizations(self, team_ids):
        # int_keys: ASCII digits within a 64-bit pk ("¹".isdigit() is True, int() fails).
        rows = Team.objects.filter(pk__in=int_keys(team_ids))
        return {str(pk): org for pk, org in rows.values_list("pk", "organization_id")}

    def get_team_member_ids(self, team_ids):
        users = get_user_model()._default_manager.filter(teams__in=int_keys(team_ids))
        return set(users.values_list("pk", flat=True).distinct())

    def get_organization_member_ids(self, organization_id):
        return Membership.objects.filter(organization_id=organization_id).values_list(
            "user_id", flat=True
        )

    def get_role_member_ids(self, role, organization_id=None):
        members = Membership.objects.filter(role=role)
        if organization_id is not None:
            members = members.filter(organization_id=organization_id)
        return members.values_list("user_id", flat=True)
