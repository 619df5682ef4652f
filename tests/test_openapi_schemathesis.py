"""Schemathesis against a real server (pytest-django's ``live_server``): requests
generated from the OpenAPI document, valid and invalid, and every answer checked against
it — status codes, content types, headers, response schemas, 405 for undeclared methods,
401 without credentials, never a 5xx.

The one check left out is ``positive_data_acceptance``: a request can match the schema
and still be refused for reasons no schema can state (an unknown user id, a sender rule,
a template that does not compile), and those 400/403/404 answers are documented.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from django_notify import notify, send, send_system
from django_notify.api.openapi import build_document
from django_notify.api.schema import MAX_ID
from django_notify.models import ApiToken, NotificationTemplate, PlatformAlert

pytest_plugins = ["tests.test_api_support"]

schema = schemathesis.openapi.from_dict(build_document())


@pytest.fixture(autouse=True, scope="module")
def _static_url(live_server_static_url):
    """See ``live_server_static_url``."""


@pytest.fixture
def server(live_server, world):
    """The live server, a staff token (every operation is open to it) and the ids that
    exist, so that part of the generated paths hit real rows."""
    notify([world.staff], title="direct", url="/jobs/1/")
    send(world.admin, title="org", is_global=True, actor=world.ada, target=world.team)
    send_system(world.staff, title="system")
    template = NotificationTemplate.objects.create(notification_type="test.alert", channel="email")
    alert = PlatformAlert.objects.create(alert_type="system", severity="info", title="t",
                                         fingerprint="f")  # fmt: skip
    from django_notify import get_notification_model

    ids = {
        "/notifications/": list(
            get_notification_model().objects.visible_to(world.staff).values_list("pk", flat=True)
        ),
        "/templates/": [template.pk],
        "/alerts/": [alert.pk],
    }
    _token, key = ApiToken.create(world.staff, "schemathesis")
    return live_server.url + "/notifications/api", {"Authorization": f"Bearer {key}"}, ids


def _point_at_real_rows(case, ids) -> None:
    pk = (case.path_parameters or {}).get("pk")
    # Only a valid pk is swapped (half of them): an invalid one is the point of its case.
    if isinstance(pk, int) and not isinstance(pk, bool) and 1 <= pk <= MAX_ID and pk % 2 == 0:
        for prefix, existing in ids.items():
            if case.path.startswith(prefix):
                case.path_parameters["pk"] = existing[pk % len(existing)]


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("NOTIFY_SCHEMATHESIS_EXAMPLES", 15)),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db(transaction=True)
def test_real_answers_conform_to_the_document(case, server):
    base_url, headers, ids = server
    _point_at_real_rows(case, ids)
    case.call_and_validate(
        base_url=base_url,
        headers=headers,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
