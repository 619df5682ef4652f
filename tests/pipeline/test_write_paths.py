"""Every write path keeps the row's guarantees: HTML sanitised, links checked, sender
rules re-checked, whether through save(), bulk_create(), bulk_update() or update()."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F, Value
from django.db.models.functions import Concat

from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db

HOSTILE = '<p onclick="steal()">Hi <script>alert(1)</script><a href="javascript:x()">x</a></p>'


@pytest.fixture
def rows(make_org, make_user, Notification):
    org = make_org()
    owner = make_user(Role.DEV_USER, org)
    created = Notification.objects.bulk_create(
        [Notification(title=f"n{i}", scope="user", recipient=owner, description="<p>ok</p>")
         for i in range(3)]
    )  # fmt: skip
    return owner, created


def _clean(text: str) -> None:
    assert "<script" not in text and "javascript:" not in text and "onclick" not in text


def test_bulk_create_sanitises(rows, Notification):
    owner, _ = rows
    [row] = Notification.objects.bulk_create(
        [Notification(title="t", scope="user", recipient=owner, description=HOSTILE)]
    )
    stored = Notification.objects.get(pk=row.pk)
    _clean(stored.description)
    assert stored.description_text.startswith("Hi")


def test_bulk_update_sanitises_and_derives_the_text(rows, Notification):
    owner, created = rows
    for row in created:
        row.description = HOSTILE
    Notification.objects.bulk_update(created, ["description"])
    for stored in Notification.objects.filter(pk__in=[r.pk for r in created]):
        _clean(stored.description)
        assert "alert(1)" not in stored.description_text and "Hi" in stored.description_text


@pytest.mark.parametrize("field", ["url", "action_url"])
def test_bulk_update_refuses_a_hostile_link_and_writes_nothing(rows, Notification, field):
    _owner, created = rows
    created[0].title = "changed"
    setattr(created[1], field, "javascript:alert(1)")
    with pytest.raises(ValidationError) as exc:
        Notification.objects.bulk_update(created, ["title", field])
    assert field in exc.value.message_dict
    assert not Notification.objects.filter(title="changed").exists()
    assert not Notification.objects.exclude(**{field: ""}).exists()


def test_update_sanitises_a_description(rows, Notification):
    owner, created = rows
    count = Notification.objects.filter(recipient=owner).update(description=HOSTILE)
    assert count == 3
    for stored in Notification.objects.all():
        _clean(stored.description)
        assert stored.description_text.startswith("Hi")
    # Through the user's feed too (an UPDATE of the rows the feed selects).
    Notification.objects.visible_to(owner).update(description="<img src=x onerror=y()>z")
    for stored in Notification.objects.all():
        assert "onerror" not in stored.description


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"action_url": "//evil.example/"}, "action_url"),
        ({"url": F("action_url")}, "url"),
        ({"description": Concat(Value("<script>"), F("title"))}, "description"),
        ({"scope": "system"}, "scope"),
        ({"team_key": "7"}, "team_key"),
        ({"organization_key": "other"}, "organization_key"),
        ({"is_global": True}, "is_global"),
        ({"origin": "system"}, "origin"),
    ],
)
def test_update_refuses_what_it_cannot_check(rows, Notification, values, field):
    owner, _ = rows
    before = list(Notification.objects.order_by("pk").values())
    with pytest.raises(ValidationError) as exc:
        Notification.objects.filter(recipient=owner).update(**values)
    assert field in exc.value.message_dict
    assert list(Notification.objects.order_by("pk").values()) == before


def test_update_refuses_a_new_recipient_or_sender(rows, make_user, Notification):
    owner, _ = rows
    other = make_user()
    for name in ("recipient", "recipient_id", "sender", "sender_id"):
        value = other if not name.endswith("_id") else other.pk
        with pytest.raises(ValidationError) as exc:
            Notification.objects.filter(recipient=owner).update(**{name: value})
        assert name in exc.value.message_dict
    assert Notification.objects.filter(recipient=owner).count() == 3


def test_update_of_state_and_plain_fields_is_unchanged(rows, Notification):
    owner, _ = rows
    assert Notification.objects.filter(recipient=owner).update(title="T", read_at=None) == 3
    assert set(Notification.objects.values_list("title", flat=True)) == {"T"}
