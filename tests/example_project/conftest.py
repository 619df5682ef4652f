"""The example project's tests run on its own tenancy: its organizations app's models
and adapter, in place of the test app's (tests/testapp) that the package's tests use."""

import itertools

import pytest
from django.contrib.auth import get_user_model

from django_notify.tenancy import Role

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _example_tenancy(notify_settings):
    notify_settings(TENANCY_ADAPTER="organizations.tenancy.OrganizationsTenancyAdapter")


@pytest.fixture
def make_org(db):
    from organizations.models import Organization

    def make(name=None):
        return Organization.objects.create(name=name or f"org{next(_seq)}")

    return make


@pytest.fixture
def make_user(db, make_org):
    from organizations.models import Membership

    def make(role=Role.DEV_USER, org=None, *, staff=False, superuser=False, active=True, **kw):
        user = get_user_model().objects.create_user(
            username=kw.pop("username", f"user{next(_seq)}"),
            password="pw",
            is_staff=staff,
            is_superuser=superuser,
            is_active=active,
            **kw,
        )
        if org is not False:
            Membership.objects.create(user=user, organization=org or make_org(), role=role)
        return user

    return make


@pytest.fixture
def make_team(db):
    from organizations.models import Team

    def make(org, members=(), shared_with=(), name=None):
        team = Team.objects.create(organization=org, name=name or f"team{next(_seq)}")
        team.members.set(members)
        team.shared_with.set(shared_with)
        return team

    return make
