import itertools
import os

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from hypothesis import settings as hypothesis_settings

from django_notify import get_notification_model
from django_notify.tenancy import Role
from tests.support.notify_settings import NotifySettings

_seq = itertools.count(1)

# Every run replays the same examples (a red run must be reproducible, and a landing must
# not depend on the draw): the "ci" profile, whatever the machine. New examples are drawn
# only on request, by the tox env "explore" (`bash scripts/test --explore`), which sets
# NOTIFY_HYPOTHESIS_PROFILE=explore and raises the example counts.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("NOTIFY_HYPOTHESIS_PROFILE") or "ci")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` get database access (``django_db``). The hook skips
    and fails nothing: turning a missing PostgreSQL into a failure under
    NOTIFY_REQUIRE_SERVICES=1 (set by .ci/run) is the ``require_postgres`` fixture's job."""
    for item in items:
        # A test's own django_db mark (transaction=True, say) is kept as it is.
        if "postgres" in item.keywords and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db)


@pytest.fixture
def require_postgres():
    if connection.vendor != "postgresql":
        if (
            os.environ.get("NOTIFY_REQUIRE_SERVICES") == "1"
            and os.environ.get("NOTIFY_DB") == "postgres"
        ):
            pytest.fail("PostgreSQL was required but the suite is not running on it")
        pytest.skip("needs PostgreSQL (run the postgres tox envs)")


@pytest.fixture
def notify_settings():
    """Merges keys into ``DJANGO_NOTIFY`` for the rest of the test:
    ``notify_settings(SITE_URL="")``, ``notify_settings.update({...})``
    (tests/support/notify_settings.py; ``notify_override`` is the block/decorator form)."""
    overrides = NotifySettings()
    yield overrides
    overrides.restore()


@pytest.fixture
def Notification():
    return get_notification_model()


@pytest.fixture
def make_org(db):
    from tests.testapp.models import Organization

    def make(name=None):
        return Organization.objects.create(name=name or f"org{next(_seq)}")

    return make


@pytest.fixture
def make_user(db, make_org):
    from tests.testapp.models import Membership

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
    from tests.testapp.models import Team

    def make(org, members=(), shared_with=(), name=None):
        team = Team.objects.create(organization=org, name=name or f"team{next(_seq)}")
        team.members.set(members)
        team.shared_with.set(shared_with)
        return team

    return make
