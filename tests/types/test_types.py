import pytest
from django.core.exceptions import ValidationError

import django_notify
from django_notify import (
    AlreadyRegistered,
    Category,
    NotificationType,
    NotRegistered,
    notification_types,
    notify,
)
from django_notify.registry import Registry


@pytest.fixture
def isolated_types():
    saved = dict(notification_types._items)
    yield notification_types
    notification_types._items.clear()
    notification_types._items.update(saved)


def _type(key, type_id=None, **attrs):
    return type("T_" + key.replace(".", "_"), (NotificationType,), {"key": key, "id": type_id,
                                                                    **attrs})  # fmt: skip


def test_autodiscovered_from_installed_apps():
    joined = notification_types.get("team.joined")
    assert joined.label == "Team joined"
    assert notification_types.by_id(9001) is joined
    # Sorted by key: the test apps' "alerts", "digests", "tasks", "teams", the four of the
    # example project's jobs app and its portal's (installed for tests/example_project).
    keys = [c.key for c in notification_types.categories()]
    assert keys == [
        "alerts", "clients", "digests", "jobs", "leave", "phases", "portal", "tasks", "teams",
    ]  # fmt: skip


def test_register_forms(isolated_types):
    @django_notify.register
    class A(NotificationType):
        key = "a.happened"

    B = _type("b.happened")
    assert django_notify.register(B) is B
    assert {"a.happened", "b.happened"} <= set(isolated_types.keys())
    isolated_types.register(A)  # the same class again (a reloaded module) is fine
    isolated_types.unregister("a.happened")
    assert "a.happened" not in isolated_types
    with pytest.raises(NotRegistered, match="a.happened"):
        isolated_types.get("a.happened")
    with pytest.raises(NotRegistered):
        isolated_types.unregister("a.happened")


def test_duplicate_key_names_both_definitions(isolated_types):
    isolated_types.register(_type("dup.key"))
    other = type("Other", (NotificationType,), {"key": "dup.key"})
    with pytest.raises(AlreadyRegistered) as info:
        isolated_types.register(other)
    assert "T_dup_key" in str(info.value)
    assert "Other" in str(info.value)


def test_duplicate_id_names_both_definitions(isolated_types):
    with pytest.raises(AlreadyRegistered) as info:
        isolated_types.register(_type("other.key", 9001))
    assert "TeamJoined" in str(info.value)
    assert "T_other_key" in str(info.value)
    assert "9001" in str(info.value)


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        (type("NotAType", (), {"key": "x.y"}), TypeError),
        (_type("bad.id", "7"), TypeError),
        (_type("bad.channels", channels=("email",), default_channels=("sms",)), ValueError),
        (_type(""), ValueError),
    ],
)
def test_invalid_types_are_refused(isolated_types, obj, error):
    with pytest.raises(error):
        isolated_types.register(obj)


def test_context_is_validated_and_rendered():
    joined = notification_types.get("team.joined")
    with pytest.raises(ValidationError, match="team"):
        joined.validate_context({})
    with pytest.raises(ValidationError, match="mapping"):
        joined.validate_context(["team"])
    ctx = joined.validate_context({"team": "Research", "actor": "ann"})
    assert joined.render(joined.title, ctx) == "ann joined Research"
    with pytest.raises(ValidationError, match="Rendering"):
        joined.render("{missing}", ctx)


def test_stored_type_keys_are_validated(make_user, Notification):
    user = make_user()
    with pytest.raises(ValidationError) as info:
        notify([user], "no.such.type", title="x")
    assert "notification_type" in info.value.message_dict
    assert "team.joined" in str(info.value)
    [row] = notify([user], "team.joined", title="ok")
    assert row.notification_type == "team.joined"
    assert Notification.objects.count() == 1


def test_generic_registry_for_functions():
    criteria = Registry("criterion")

    @criteria.register("in_group")
    def in_group(group):
        return group

    @criteria.register
    def staff_only():
        return None

    assert criteria.keys() == ["in_group", "staff_only"]
    assert criteria.get("in_group") is in_group
    assert list(criteria) == [in_group, staff_only]
    assert criteria.choices() == [("in_group", "in_group"), ("staff_only", "staff_only")]
    assert len(criteria) == 2


def test_category_is_a_value():
    assert Category("a", "A") == Category("a", "A")
    assert str(Category("a", "Alpha")) == "Alpha"
