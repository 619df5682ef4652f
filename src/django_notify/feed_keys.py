"""The audience key of a broadcast row: who it is for, as one text value.

``t:<team key>`` for a team's rows, ``o:<organization key>`` for an organization's and
``s`` for the system's. One index over this expression (``dn_…_audience``, partial on
the broadcast scopes) answers every broadcast a user can see: the feed asks for the
user's keys (``s``, ``t:`` + each of their teams, ``o:`` + their organization) in one
lookup, instead of one branch per scope, so a feed page plans and runs one broadcast
branch whatever mix of scopes a site uses.

The index and the queries in :mod:`django_notify.visibility` compile the same
expression, so the database matches them (PostgreSQL and SQLite compare the expression
itself, not a column).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Concat

TEAM_PREFIX = "t:"
ORGANIZATION_PREFIX = "o:"
SYSTEM_KEY = "s"

#: The rows the audience index holds. Scopes are written out (not the Scope enum) so
#: that migrations freeze plain strings.
BROADCAST_ROWS = ~Q(scope="user")


def audience_key() -> Case:
    """The expression the audience index is built on (a new instance per call: an
    expression is resolved in place)."""
    return Case(
        When(scope="team", then=Concat(Value(TEAM_PREFIX), "team_key")),
        When(scope="organization", then=Concat(Value(ORGANIZATION_PREFIX), "organization_key")),
        default=Value(SYSTEM_KEY),
        output_field=models.CharField(),
    )
