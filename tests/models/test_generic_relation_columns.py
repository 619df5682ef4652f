"""The actor and target content types of a notification are not checked by the
database (their object ids never were): a fan-out pays no foreign-key trigger or row
lock for them. Everything else about the relations holds: deleting a content type
deletes its rows through Django's cascade, and a row whose content type is gone still
reads and pages."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from django_notify import notify

pytestmark = pytest.mark.django_db


def _foreign_keys(model) -> dict[str, tuple[str, str]]:
    """column → (table, column) of every foreign-key constraint the database has on
    ``model``'s table."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        info["columns"][0]: info["foreign_key"]
        for info in constraints.values()
        if info["foreign_key"] and len(info["columns"]) == 1
    }


def test_only_the_content_type_columns_are_unchecked(Notification):
    checked = _foreign_keys(Notification)
    assert "actor_content_type_id" not in checked
    assert "target_content_type_id" not in checked
    user_table = Notification._meta.get_field("recipient").related_model._meta.db_table
    assert checked["recipient_id"][0] == user_table
    assert checked["sender_id"][0] == user_table


def test_deleting_a_content_type_still_deletes_its_rows(make_user, Notification):
    user = make_user()
    gone = ContentType.objects.create(app_label="gone", model="thing")
    [row] = notify([user], "team.joined", title="x")
    Notification.objects.filter(pk=row.pk).update(actor_content_type=gone, actor_object_id="1")
    [kept] = notify([user], "team.joined", title="y", actor=user)
    gone.delete()
    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_row_whose_content_type_is_gone_still_pages(make_user, Notification):
    """Possible now only through SQL that bypasses Django: the page reads the other
    rows' actors and gives this one none, instead of failing the whole feed."""
    user = make_user()
    [orphan] = notify([user], "team.joined", title="orphan", actor=user)
    [fine] = notify([user], "team.joined", title="fine", actor=user, target=user)
    missing = (ContentType.objects.order_by("-pk").values_list("pk", flat=True).first()) + 1000
    Notification.objects.filter(pk=orphan.pk).update(actor_content_type_id=missing)
    page = {row.pk: row for row in Notification.objects.visible_to(user).with_related()[:20]}
    assert page[orphan.pk].actor_content_type_id == missing
    assert page[orphan.pk].actor is None
    assert page[fine.pk].actor == user and page[fine.pk].target == user
