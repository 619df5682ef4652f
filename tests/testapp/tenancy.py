"""The test app's tenancy adapter (``DJANGO_NOTIFY["TENANCY_ADAPTER"]`` in tests/settings.py)."""

from django.contrib.auth import get_user_model
from django.db.models import CharField
from django.db.models.functions import Cast

from django_notify.tenancy import MembershipTable, Role, TenancyAdapter, in_ids, int_keys

from .models import Membership, Team


class TestTenancyAdapter(TenancyAdapter):
    # The membership tables alone, as a host declares them: the feed reads them with
    # the package's own SQL, which the query-count tests measure.
    team_membership = MembershipTable(Team.members.through, "user", "team")
    organization_membership = MembershipTable(Membership, "user", "organization")

    def get_organization_id(self, user):
        membership = Membership.objects.filter(user=user).values_list("organization_id", flat=True)
        return membership.first()

    def get_role(self, user):
        # The stored value as it is: the policy treats anything that is not a Role as
        # LIGHT_USER, which the policy tests rely on.
        role = Membership.objects.filter(user=user).values_list("role", flat=True).first()
        return role or Role.LIGHT_USER

    def get_accessible_team_ids(self, user):
        teams = Team.objects.filter(members=user) | Team.objects.filter(shared_with=user)
        return teams.annotate(key=Cast("pk", CharField())).values("key").distinct()

    def get_user_organizations(self, user_ids):
        rows = Membership.objects.filter(in_ids("user_id", user_ids))
        return dict(rows.values_list("user_id", "organization_id"))

    def get_team_organizations(self, team_ids):
        # int_keys: ASCII digits within a 64-bit pk (the bad-input tests send the rest).
        rows = Team.objects.filter(pk__in=int_keys(team_ids))
        return {str(pk): org for pk, org in rows.values_list("pk", "organization_id")}

    def get_team_member_ids(self, team_ids):
        users = get_user_model()._default_manager.filter(testapp_teams__in=int_keys(team_ids))
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
