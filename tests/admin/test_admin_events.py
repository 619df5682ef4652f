from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_notify import signals
from django_notify.models import Event, OptOut, Subscription, SubscriptionRule
from django_notify.tenancy import Role

TYPE = "team.joined"  # declared in tests/swapped/notifications.py


@pytest.fixture
def staff(client, make_org, make_user):
    user = make_user(Role.ORG_ADMIN, make_org(), staff=True, superuser=True)
    client.force_login(user)
    return client, user


def _url(model, name, *args):
    return reverse(f"admin:django_notify_{model._meta.model_name}_{name}", args=args)


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def _make_rows(model, n, make_user, make_team):
    users = [make_user() for _ in range(n)]
    rule = None
    if model is Subscription:
        rule = SubscriptionRule.objects.create(name="Everyone on the team", notification_type=TYPE)
    for i, user in enumerate(users):
        if model is Event:
            team = make_team(user.testapp_membership.organization)
            Event.objects.create(
                notification_type=TYPE, context={"team": "x"},
                target_content_type=ContentType.objects.get_for_model(team),
                target_object_id=str(team.pk), status=("pending", "done", "failed")[i % 3],
                last_error="boom " * 50 if i % 3 == 2 else "",
            )  # fmt: skip
            continue
        entity = {}
        if i % 2:  # half global, half scoped to an object
            entity = {"entity_type": ContentType.objects.get_for_model(user), "entity_id": "1"}
        extra = {}
        if model is Subscription and i % 3:
            extra = {"created_by_rule": True, "rule": rule if i % 3 == 1 else None}
        if model is Subscription and i % 4 == 0:
            extra["channels"] = {"email": False}
        if model is OptOut and i % 3 == 0:
            extra = {"until": timezone.now() - timedelta(hours=1)}
        model.objects.create(user=user, notification_type=TYPE, **entity, **extra)


@pytest.mark.parametrize("model", [Event, Subscription, OptOut])
def test_changelist_query_count_does_not_grow_with_rows(staff, model, make_user, make_team):
    client, _ = staff
    _make_rows(model, 3, make_user, make_team)
    few, response = _queries(client, _url(model, "changelist"))
    assert few <= 12
    _make_rows(model, 27, make_user, make_team)
    many, response = _queries(client, _url(model, "changelist"))
    assert response.context["cl"].result_count == 30
    assert many == few


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (Subscription, {"notification_type": TYPE}),
        (Subscription, {"created_by": "manual"}),
        (Subscription, {"switched_off": "email"}),
        (Subscription, {"entity_type__isnull": "True"}),
        (Subscription, {"q": "user"}),
        (OptOut, {"notification_type": TYPE}),
        (OptOut, {"active": "no"}),
        (OptOut, {"entity_type__isnull": "True"}),
        (OptOut, {"q": "user"}),
        (Event, {"status__exact": "failed", "notification_type": TYPE}),
        (Event, {"q": "boom"}),
    ],
)
def test_every_filter_and_search_answers(staff, model, query, make_user, make_team):
    client, _ = staff
    _make_rows(model, 6, make_user, make_team)
    response = client.get(_url(model, "changelist"), query)
    assert response.status_code == 200  # an unknown filter would redirect with ?e=1
    assert response.context["cl"].result_count > 0


def test_subscription_filters_select_the_right_rows(staff, make_user, make_team):
    client, _ = staff
    _make_rows(Subscription, 6, make_user, make_team)
    url = _url(Subscription, "changelist")

    def count(**query):
        return client.get(url, query).context["cl"].result_count

    assert count(created_by="rule") == Subscription.objects.filter(created_by_rule=True).count()
    assert count(created_by="manual") == Subscription.objects.filter(created_by_rule=False).count()
    assert count(entity_type__isnull="True") == 3
    assert b"Rule: Everyone on the team" in client.get(url).content
    one = Subscription.objects.select_related("user").first()
    assert count(q=one.user.username) == 1


def test_opt_out_active_column_and_filter(staff, make_user, make_team):
    client, _ = staff
    _make_rows(OptOut, 6, make_user, make_team)  # rows 0 and 3 have expired
    url = _url(OptOut, "changelist")
    assert client.get(url, {"active": "yes"}).context["cl"].result_count == 4
    assert client.get(url, {"active": "no"}).context["cl"].result_count == 2


def _subscription_data(user, **changes):
    return {
        "user": user.pk, "notification_type": TYPE, "entity_type": "", "entity_id": "",
        "channels": "{}", **changes,
    }  # fmt: skip


def test_subscription_type_is_a_select_of_registered_types(staff):
    client, _ = staff
    response = client.get(_url(Subscription, "add"))
    field = response.context["adminform"].form.fields["notification_type"]
    assert (TYPE, f"Team joined ({TYPE})") in list(field.choices)
    assert Subscription._meta.get_field("notification_type").choices is None


def test_subscription_add_refuses_an_unknown_type(staff, make_user):
    client, _ = staff
    user = make_user()
    response = client.post(
        _url(Subscription, "add"), _subscription_data(user, notification_type="no.such.type")
    )
    assert response.status_code == 200
    assert "notification_type" in response.context["adminform"].form.errors
    assert Subscription.objects.count() == 0


def test_subscription_add_creates_a_manual_subscription(staff, make_user):
    client, _ = staff
    user = make_user()
    data = _subscription_data(user, created_by_rule="on", channels="")
    response = client.post(_url(Subscription, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    sub = Subscription.objects.get()
    # created_by_rule is read-only here, and an emptied channels box means "no overrides".
    assert (sub.notification_type, sub.created_by_rule, sub.channels) == (TYPE, False, {})

    response = client.post(_url(Subscription, "add"), data)  # the same global one again
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Subscription.objects.count() == 1


def test_subscription_add_refuses_half_an_entity_and_bad_channels(staff, make_user):
    client, _ = staff
    user = make_user()
    for changes, field in [({"entity_id": "7"}, "entity_id"), ({"channels": "[1]"}, "channels")]:
        response = client.post(_url(Subscription, "add"), _subscription_data(user, **changes))
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
    assert Subscription.objects.count() == 0


def test_opt_out_add_form_works(staff, make_user, make_team):
    client, _ = staff
    user = make_user()
    team = make_team(user.testapp_membership.organization)
    data = {
        "user": user.pk, "notification_type": TYPE,
        "entity_type": ContentType.objects.get_for_model(team).pk, "entity_id": str(team.pk),
        "until_0": "2099-01-01", "until_1": "10:00:00",
    }  # fmt: skip
    response = client.post(_url(OptOut, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    out = OptOut.objects.get()
    assert (out.user, out.entity, out.until.year) == (user, team, 2099)

    response = client.post(_url(OptOut, "add"), {**data, "notification_type": "nope"})
    assert "notification_type" in response.context["adminform"].form.errors


def _process(client, *events):
    return client.post(
        _url(Event, "changelist"),
        {"action": "process_now", "_selected_action": [e.pk for e in events]},
        follow=True,
    )


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_process_now_processes_a_pending_event_exactly_once(staff, make_user, Notification):
    client, _ = staff
    users = [make_user() for _ in range(2)]
    event = Event.objects.create(
        notification_type=TYPE, context={"team": "x"}, recipients=[str(u.pk) for u in users]
    )
    response = _process(client, event)
    assert response.status_code == 200
    assert _messages(response) == ["Processed 1 event."]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.notification_count) == ("done", 1, 2)
    assert Notification.objects.count() == 2

    response = _process(client, event)
    assert _messages(response) == [
        "Nothing to do: none of the selected events is pending or failed."
    ]
    event.refresh_from_db()
    assert event.attempts == 1
    assert Notification.objects.count() == 2


def test_process_now_reports_failures_without_a_500(staff, make_user, Notification):
    client, _ = staff
    user = make_user()
    good = Event.objects.create(notification_type=TYPE, context={"team": "x"},
                                recipients=[str(user.pk)])  # fmt: skip
    bad = Event.objects.create(notification_type="gone.type", status="failed", attempts=5)

    response = _process(client, good, bad)
    assert response.status_code == 200
    messages = _messages(response)
    assert messages[0] == "Processed 1 event."
    assert messages[1].startswith(f"1 event failed: #{bad.pk}: NotRegistered")
    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == ("failed", 6)  # manual runs ignore the limit
    assert "gone.type" in bad.last_error
    assert Notification.objects.count() == 1


def test_process_now_failure_inside_fan_out_rolls_back(staff, make_user, Notification):
    client, _ = staff
    event = Event.objects.create(notification_type=TYPE, context={"team": "x"},
                                 recipients=[str(make_user().pk)])  # fmt: skip

    def crash(sender, notification, **kwargs):
        raise RuntimeError("<b>fan-out</b> died")

    signals.notification_created.connect(crash)
    try:
        response = _process(client, event)
    finally:
        signals.notification_created.disconnect(crash)
    assert response.status_code == 200
    assert "RuntimeError: <b>fan-out</b> died" in _messages(response)[0]
    assert b"&lt;b&gt;fan-out" in response.content  # escaped, never rendered as HTML
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    assert Notification.objects.count() == 0


def test_events_cannot_be_added_or_edited(staff):
    client, _ = staff
    assert client.get(_url(Event, "add")).status_code == 403
    event = Event.objects.create(notification_type=TYPE, context={"team": "x"})
    response = client.get(_url(Event, "change", event.pk))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b"team.joined" in response.content
    response = client.post(_url(Event, "change", event.pk), {"status": "done"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == "pending"


def test_process_now_needs_the_change_permission(client, make_user):
    viewer = make_user(staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(get_user_model().objects.get(pk=viewer.pk))
    event = Event.objects.create(notification_type=TYPE, context={"team": "x"})
    response = client.get(_url(Event, "changelist"))
    assert response.status_code == 200
    assert b"process_now" not in response.content
    _process(client, event)
    event.refresh_from_db()
    assert event.status == "pending"

    viewer.user_permissions.add(Permission.objects.get(codename="change_event"))
    client.force_login(get_user_model().objects.get(pk=viewer.pk))
    assert b"process_now" in client.get(_url(Event, "changelist")).content
