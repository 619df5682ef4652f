"""django-notifications-hq's dataset: the same logical rows as django-notify's main one, in
its own ``notifications_notification`` table (recipient, unread, actor, target, verb,
timestamp)."""

from __future__ import annotations

import benchlib


def build_main(size: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from notifications.models import Notification

    User = get_user_model()
    ct_user = ContentType.objects.get_for_model(User).pk
    ct_group = ContentType.objects.get_for_model(Group).pk
    user_ids, group_ids = benchlib.load_users_and_groups(size)
    fan_ids = benchlib.load_fanout_users(size)
    data = benchlib.dataset(size)
    rows = {
        "timestamp": data["created"],
        "verb": data["title"],
        "recipient_id": [user_ids[r] for r in data["recipient"]],
        "unread": data["unread"],
        "actor_object_id": [str(user_ids[a]) for a in data["actor"]],
        "target_content_type_id": [ct_group if g else ct_user for g in data["target_group"]],
        "target_object_id": [
            str(group_ids[t] if g else user_ids[t])
            for g, t in zip(data["target_group"], data["target"], strict=True)
        ],
    }
    fixed = {
        "actor_content_type_id": ct_user,
        "level": "info",
        "public": True,
        "deleted": False,
        "emailed": False,
    }
    benchlib.insert_rows(Notification, rows, fixed=fixed)
    benchlib.analyze([Notification._meta.db_table, User._meta.db_table])
    return {
        "notifications": Notification.objects.count(),
        "users": User.objects.count(),
        "fanout_users": len(fan_ids),
    }
