"""A feed page reads the users among its senders, actors and targets in the page query:
the same objects a separate fetch gives, above the branches' LIMIT, and anything the join
cannot read (another model, an id that is not a number, a deleted user) is fetched or
left empty as before."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_notify import notify, send
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


def _fields(user) -> dict:
    return {f.attname: getattr(user, f.attname) for f in user._meta.concrete_fields}


@pytest.fixture
def page_world(make_org, make_user, make_team, Notification):
    org = make_org()
    reader = make_user(Role.DEV_USER, org, first_name="Rea", last_name="Der")
    bob = make_user(Role.DEV_USER, org, first_name="Bob")
    admin = make_user(Role.ORG_ADMIN, org)
    team = make_team(org, members=[reader, bob])
    send(bob, target_user=reader, title="from bob", actor=bob, target=team)
    send(admin, target_team=team, title="to the team", actor=team, target=bob)
    notify([reader], title="system", actor=admin, target=reader)
    return reader, bob, admin, team


def test_the_page_brings_its_users_in_one_query(page_world, Notification):
    reader, bob, admin, team = page_world
    ContentType.objects.get_for_model(team)  # warm: a cold cache costs a query per model
    ContentType.objects.get_for_model(bob)
    with CaptureQueriesContext(connection) as ctx:
        page = list(Notification.objects.visible_to(reader)[:10])
        related = [(n.sender, n.actor, n.target) for n in page]
    # The page (with every user in it) and one query for the team among actors/targets.
    assert len(ctx.captured_queries) == 2
    expected = [
        (None, admin, reader),
        (admin, team, bob),
        (bob, bob, team),
    ]
    assert related == expected
    for joined, original in zip(
        [obj for row in related for obj in row if isinstance(obj, get_user_model())],
        [admin, reader, admin, bob, bob, bob],
        strict=True,
    ):
        assert _fields(joined) == _fields(original)
        assert not joined._state.adding and joined._state.db == "default"
    # No page column is left on the rows.
    assert not any(k.startswith(("_s", "_a", "_t")) and k[2:].isdigit() for k in vars(page[0]))


def test_the_same_objects_as_without_the_join(page_world, Notification):
    reader = page_world[0]
    joined = [(n.sender, n.actor, n.target) for n in Notification.objects.visible_to(reader)[:10]]
    # Not a page (no slice): prefetched, one query per kind.
    fetched = [(n.sender, n.actor, n.target) for n in Notification.objects.visible_to(reader)]
    assert joined == fetched


def test_ids_the_join_cannot_read_are_fetched_or_empty(page_world, Notification):
    reader, bob, admin, team = page_world
    user_ct = ContentType.objects.get_for_model(bob)
    [odd] = notify([reader], title="odd ids", actor=bob, target=bob)
    # An actor id that is not a number, and a target user that no longer exists.
    type(odd).objects.filter(pk=odd.pk).update(actor_object_id="x1", target_object_id="99999999")
    assert odd.actor_content_type_id == user_ct.pk
    [row] = [n for n in Notification.objects.visible_to(reader)[:10] if n.pk == odd.pk]
    assert row.actor is None and row.target is None


def test_values_and_counts_are_untouched(page_world, Notification):
    reader = page_world[0]
    feed = Notification.objects.visible_to(reader)
    assert feed.count() == 3
    assert [set(v) >= {"id", "title"} for v in feed.values()[:2]] == [True, True]
    assert not any(k.startswith("_s0") for k in feed.values()[:1][0])


def test_the_bell_refresh_is_four_queries(page_world, Notification):
    """The unread list with its count over session auth: session, user, the page (with
    the count and its users), and the team among actors and targets."""
    reader = page_world[0]
    client = Client()
    client.force_login(reader)
    client.get("/notifications/api/notifications/?unread=true&limit=10")  # warm caches
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get("/notifications/api/notifications/?unread=true&limit=10").json()
    assert answer["unread_count"] == 3 and len(answer["results"]) == 3
    assert len(ctx.captured_queries) == 4, [q["sql"][:60] for q in ctx.captured_queries]


def test_feed_columns_compare_as_django_compares_expressions():
    # FeedColumn has its own cheap identity; equality and hashing must still tell
    # columns apart the way Django's signature-based identity would.
    from django.contrib.auth import get_user_model
    from django.db import models

    from django_notify.visibility import FeedColumn

    username = get_user_model()._meta.get_field("username")
    email = get_user_model()._meta.get_field("email")
    assert FeedColumn("t", "_s4", username) == FeedColumn("t", "_s4", username)
    assert hash(FeedColumn("t", "_s4", username)) == hash(FeedColumn("t", "_s4", username))
    assert FeedColumn("t", "_s4", username) != FeedColumn("u", "_s4", username)
    assert FeedColumn("t", "_s4", username) != FeedColumn("t", "_s5", username)
    assert FeedColumn("t", "_s4", username) != FeedColumn("t", "_s4", email)
    assert FeedColumn("t") == FeedColumn("t", output_field=models.DateTimeField())
    assert FeedColumn("t") != FeedColumn("t", output_field=models.IntegerField())
    assert FeedColumn("t").relabeled_clone({"t": "u"}) == FeedColumn("u")


def test_pages_share_their_user_column_expressions(page_world, Notification, monkeypatch):
    """The page's 33 user columns are annotations built once per join and table alias,
    and each resolves to itself: building them (and copying each as Django's default
    ``resolve_expression`` does) for every page was a tenth of a page's Python time."""
    from django_notify import visibility

    reader, bob, *_ = page_world
    list(Notification.objects.visible_to(reader)[:10])  # warm
    created = []
    original = visibility.FeedColumn.__init__

    def counting(self, *args, **kwargs):
        created.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(visibility.FeedColumn, "__init__", counting)
    for user in (reader, bob, reader):
        page = list(Notification.objects.visible_to(user)[:10])
        assert all(type(row).sender.is_cached(row) for row in page)
    # One per page: the feed's own user_read_at column.
    assert len(created) == 3, created
    column = visibility.FeedColumn("n", "x", get_user_model()._meta.pk)
    assert column.resolve_expression(None) is column
    summarized = column.resolve_expression(None, summarize=True)
    assert summarized is not column and summarized.is_summary


def test_joined_users_are_built_as_django_builds_them(page_world, Notification):
    """Users read with a page fill their fields directly (no ``Model.__init__``) only
    where that is what ``__init__`` does: the same fields and state as Django's own
    ``from_db``, and a ``post_init`` listener still sees every user built."""
    from django.db.models.signals import post_init

    from django_notify import row_loading

    reader, bob, *_ = page_world
    User = get_user_model()
    attnames = [f.attname for f in User._meta.concrete_fields]
    values = [getattr(bob, a) for a in attnames]
    fast = row_loading.from_db(User, "default", attnames, values)
    slow = User.from_db("default", attnames, values)
    assert type(fast) is User and _fields(fast) == _fields(slow) == _fields(bob)
    assert (fast._state.adding, fast._state.db) == (False, "default")
    assert fast.get_deferred_fields() == set() and fast == bob
    # A partial row, or a model whose __init__ is not Django's, takes Django's path.
    assert row_loading.plain_attnames(User, init=lambda self: None) is None
    assert row_loading.build_row(User, attnames, values[:2], "default") is None
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listener, sender=User)
    try:
        page = list(Notification.objects.visible_to(reader)[:10])
        actors = [row.actor for row in page]
    finally:
        post_init.disconnect(listener, sender=User)
    assert bob.pk in seen and bob in actors
