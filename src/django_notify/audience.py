"""Who an event reaches: explicit recipients ∪ subscribers (rule-created ones included)
∪ users matched by per-event rule criteria −
opt-outs − inactive users, de-duplicated. Set-based: a handful of queries whatever the
audience size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone


def only_active(users):
    """Drop inactive users, when the user model has an ``is_active`` field at all."""
    if any(f.name == "is_active" for f in users.model._meta.concrete_fields):
        return users.filter(is_active=True)
    return users


def entity_q(target: Any, prefix: str = "") -> Q:
    """Rows for every object (no entity) or for ``target`` itself."""
    q = Q(**{f"{prefix}entity_type__isnull": True})
    if target is not None and getattr(target, "pk", None) is not None:
        ct = ContentType.objects.get_for_model(target)
        q |= Q(**{f"{prefix}entity_type": ct, f"{prefix}entity_id": str(target.pk)})
    return q


def subscribers(type_key: str, target: Any = None, channel: str = "in_app"):
    """User pks subscribed to ``type_key`` (globally or on ``target``) with ``channel`` on,
    as a one-column queryset (a subquery, never a list in memory)."""
    from .models import Subscription

    subs = Subscription.objects.filter(entity_q(target), notification_type=type_key)
    if channel == "in_app":
        subs = subs.filter(in_app_enabled=True)
    elif channel == "email":
        subs = subs.filter(email_enabled=True)
    else:  # other channels are on unless switched off by name in `channels`
        off = Q(channels__has_key=channel) & Q(**{f"channels__{channel}": False})
        subs = subs.exclude(off)
    return subs.values("user_id")


def opted_out(type_key: str, target: Any = None):
    """User pks with an active opt-out for ``type_key`` on ``target`` (or globally)."""
    from .models import OptOut

    outs = OptOut.objects.filter(
        entity_q(target), OptOut.active_q(timezone.now()), notification_type=type_key
    )
    return outs.values("user_id")


def resolve(
    type_key: str,
    *,
    target: Any = None,
    recipients: Iterable[Any] = (),
    extra: Any = None,
) -> list[Any]:
    """The user pks an event of ``type_key`` on ``target`` notifies, sorted: one query.

    ``extra`` is more users (pks, users or a queryset), e.g. a type's default audience.
    """
    users = get_user_model()._default_manager
    wanted = Q(pk__in=subscribers(type_key, target))
    explicit = [getattr(r, "pk", r) for r in recipients]
    if explicit:
        wanted |= Q(pk__in=explicit)
    if extra is not None:
        if hasattr(extra, "values_list") and hasattr(extra, "query"):
            wanted |= Q(pk__in=extra.values("pk"))
        else:
            wanted |= Q(pk__in=[getattr(u, "pk", u) for u in extra])
    from .rules.sync import per_event_users

    wanted |= Q(pk__in=per_event_users(type_key, target).values("pk"))
    chosen = only_active(users.filter(wanted).exclude(pk__in=opted_out(type_key, target)))
    return list(chosen.order_by("pk").values_list("pk", flat=True))
