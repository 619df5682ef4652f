"""Stage 3, the rows: notification rows built from one validated template, one per
direct recipient and one per team, organization or system broadcast, then inserted in
bulk.

The content is validated once, on the template (:func:`build_template`); the clones
share it. Targets are resolved here too: user ids and team keys are checked to exist,
and a key the tenancy adapter cannot read is the caller's error, naming the field.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, router
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from .. import bulk_insert, signals
from ..conf import app_settings
from ..id_lists import in_ids
from ..published import DirectPublished
from ..tenancy import get_adapter
from ..types import Origin, Priority, Scope, notification_types
from ..validation import check_meta_data
from . import audience

logger = logging.getLogger("django_notify.pipeline")

#: Content fields every creation path accepts as keyword arguments.
CONTENT_FIELDS = (
    "description", "url", "action_url", "action_required", "priority", "meta_data",
    "notification_type", "expires_at", "actor", "target",
)  # fmt: skip
#: Only trusted host code may backdate or postdate a row (a sender could otherwise pin
#: theirs to the top of a team's feed).
TRUSTED_FIELDS = ("created_at",)
# Fields validated once on the template row; the rest are checked in bulk.
_NOT_PER_ROW = ["recipient", "sender", "actor_content_type", "target_content_type", "scope"]


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))  # first occurrences, in order


def as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, models.QuerySet):
        return list(value.values_list("pk", flat=True))
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError({name: f"{name} must be a list of ids or objects."})
    return list(value)


def resolve_user_ids(name: str, values: Iterable[Any]) -> list[Any]:
    """Ids or user instances → existing user pks, in order, de-duplicated."""
    pk_field = get_user_model()._meta.pk
    ids = []
    for value in values:
        try:
            ids.append(pk_field.to_python(_pk(value)))
        except ValidationError:
            raise ValidationError({name: f"{_pk(value)!r} is not a valid user id."}) from None
    ids = _unique(ids)
    users = get_user_model()._default_manager.filter(in_ids("pk", ids))
    found = set(users.values_list("pk", flat=True))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationError({name: f"Unknown user id(s): {', '.join(missing[:10])}."})
    return ids


def recipient_ids(name: str, value: Any) -> list[Any]:
    """``value`` (users, ids, or a queryset) → existing user pks, in order, once each. A
    queryset of users is read as it is: what it returns exists, so only its pks are
    read, in one query."""
    if isinstance(value, models.QuerySet):
        users = get_user_model()._meta.concrete_model
        if value.model._meta.concrete_model is users:
            return _unique(value.values_list("pk", flat=True))
    return resolve_user_ids(name, as_list(name, value))


#: What an adapter may raise for a team key it cannot read ("¹", "abc" for an integer
#: pk, a number past the column): the caller's bad input, not a server error.
_BAD_KEY_ERRORS = (ValueError, TypeError, ValidationError, OverflowError)


def resolve_team_keys(name: str, values: Iterable[Any]) -> tuple[list[str], dict[str, str]]:
    """Team ids or instances → (keys, {key: organization key}); unknown teams refused,
    and so is a key the adapter fails to read (a ``ValidationError`` naming ``name``)."""
    adapter = get_adapter()
    values = list(values)
    try:
        keys = _unique(str(adapter.team_key(v)) for v in values if v is not None)
        orgs = {str(k): str(v) for k, v in adapter.get_team_organizations(keys).items()}
    except _BAD_KEY_ERRORS as exc:
        # Logged for the host (an adapter bug looks the same from here); the caller is
        # told which values, not the adapter's internals.
        logger.info("the tenancy adapter could not read %s %r", name, values, exc_info=True)
        if isinstance(exc, ValidationError):
            raise ValidationError({name: exc.messages}) from None
        shown = ", ".join(str(getattr(v, "pk", v)) for v in values[:10])
        raise ValidationError({name: f"Unknown or malformed team id(s): {shown}."}) from None
    missing = [k for k in keys if k not in orgs]
    if missing:
        raise ValidationError({name: f"Unknown team id(s): {', '.join(missing[:10])}."})
    return keys, orgs


def chosen_targets(target_user, target_team, user_ids, team_ids) -> tuple[str, list[Any]]:
    given = {
        name: value
        for name, value in (
            ("target_user", target_user),
            ("target_team", target_team),
            ("user_ids", user_ids),
            ("team_ids", team_ids),
        )  # fmt: skip
        if value is not None
    }
    if len(given) != 1:
        names = ", ".join(given) or "none"
        error = f"Give exactly one of target_user, target_team, user_ids or team_ids (got {names})."
        raise ValidationError({name: error for name in given} or {"target_user": error})
    name, value = given.popitem()
    values = [value] if name in ("target_user", "target_team") else as_list(name, value)
    if not values:
        raise ValidationError({name: f"{name} must not be empty."})
    return name, values


def build_template(
    model,
    *,
    title: str,
    level_code: str | None = None,
    trusted: bool = False,
    limit_meta_data: bool = True,
    **content,
) -> models.Model:
    """An unsaved row holding the shared content, validated once. ``meta_data`` must
    hold finite numbers and (``limit_meta_data``) fit ``MAX_META_DATA_BYTES``."""
    if "level" in content:
        raise TypeError("The send functions take the level code as type=, not level=")
    allowed = set(CONTENT_FIELDS) | (set(TRUSTED_FIELDS) if trusted else set())
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise TypeError(f"Unexpected keyword argument(s): {', '.join(unknown)}")
    actor = content.pop("actor", None)
    target = content.pop("target", None)
    if content.get("meta_data") is None:
        content["meta_data"] = {}
    check_meta_data(content["meta_data"], limit_size=limit_meta_data)
    if "priority" in content:
        try:
            content["priority"] = Priority.parse(content["priority"])
        except ValueError as exc:
            raise ValidationError({"priority": str(exc)}) from None
    if content.get("created_at") is None:
        content.pop("created_at", None)
    row = model(title=title, level=level_code or app_settings.DEFAULT_LEVEL, **content)
    for prefix, obj in (("actor", actor), ("target", target)):
        if obj is not None:
            if getattr(obj, "pk", None) is None:
                raise ValidationError({prefix: f"{prefix} must be a saved model instance."})
            setattr(row, f"{prefix}_content_type", ContentType.objects.get_for_model(obj))
            setattr(row, f"{prefix}_object_id", str(obj.pk))
    row.prepare()
    row.clean_fields(exclude=_NOT_PER_ROW)
    return row


def cloner(template, *, sender=None) -> Callable[..., models.Model]:
    """A function making copies of ``template`` with given fields (attnames) set, and
    ``sender`` on every copy.

    A fan-out makes thousands of copies. Unless something listens to ``pre_init`` or
    ``post_init`` for the model, a copy is assembled the way ``__init__`` would leave it
    (the field values, a fresh state, the targeting tracker started) without running
    ``__init__``, which is most of the cost of a row; otherwise it is built positionally,
    as Django builds rows read from the database. What every copy shares (the template's
    values, the listener check) is worked out once, here."""
    model = type(template)
    source = template.__dict__
    base = {
        f.attname: None if f.primary_key else source.get(f.attname)
        for f in model._meta.concrete_fields
    }
    if sender is not None:
        base["sender_id"] = sender.pk
    by_init = pre_init.has_listeners(model) or post_init.has_listeners(model)
    tracker = model.targeting_tracker
    sender_field = model._meta.get_field("sender")

    def make(**target: Any) -> models.Model:
        unknown = target.keys() - base.keys()
        if unknown:
            raise TypeError(f"Not fields of {model.__name__}: {', '.join(sorted(unknown))}")
        values = base | target
        if by_init:
            row = model(*values.values())
        else:
            row = model.__new__(model)
            row.__dict__.update(values)
            row._state = ModelState()
            tracker.initialize_tracker(model, row)
        if sender is not None:  # cached, as sender=... would: serialising it costs no query
            sender_field.set_cached_value(row, sender)
        row._notify_prepared = True
        return row

    return make


def clone(template, **target) -> models.Model:
    """One copy of ``template`` with the ``target`` fields (attnames, or ``sender``) set
    (see :func:`cloner`, for many)."""
    return cloner(template, sender=target.pop("sender", None))(**target)


class ModelRows(list):
    """Rows built as model instances: a send's direct rows (they have a sender) and
    team, organization and system broadcasts. The stages ask a row set the same
    questions whatever its kind (see :class:`DirectRows`, the other kind)."""

    _members: list[list[Any]] | None = None
    #: Deliveries of recipients who share their organization's decision can be written
    #: by the database (:mod:`.shared_deliveries`): only a fan-out's columns allow it.
    set_based_deliveries = False

    @property
    def model(self):
        return type(self[0])

    @property
    def template(self) -> models.Model:
        """A row standing for the set's shared type, priority, target and scope."""
        return self[0]

    @property
    def scope(self) -> str:
        return self[0].scope

    def check_senders(self) -> None:
        """The sender rules refuse before anything is decided or written."""
        self.model._default_manager.check_senders(self)

    def groups(self) -> list[ModelRows]:
        """The rows split by what a decision is shared over: type, priority, target
        and scope."""
        groups: dict[tuple, ModelRows] = defaultdict(ModelRows)
        for row in self:
            target = (row.target_content_type_id, row.target_object_id)
            groups[(row.notification_type, row.priority, target, row.scope)].append(row)
        return list(groups.values())

    def reached(self) -> list[list[Any]]:
        """Per row, the user pks it reaches (a broadcast's active members), read once."""
        if self._members is None:
            self._members = [audience.members(row) for row in self]
        return self._members

    def users(self) -> list[Any]:
        """Every user the rows reach, once each."""
        return list(dict.fromkeys(uid for uids in self.reached() for uid in uids))

    def organizations(self, user_ids: Iterable[Any]) -> dict[Any, Any]:
        """user pk → organization key. The rows say it (a direct row stores its
        recipient's organization, a team or organization broadcast its own); only
        system broadcasts ask the tenancy adapter."""
        found: dict[Any, Any] = {}
        for row, members in zip(self, self.reached(), strict=True):
            if row.scope != Scope.SYSTEM:
                for uid in members:
                    found[uid] = row.organization_key
        rest = [uid for uid in user_ids if uid not in found]
        if rest:
            found.update(get_adapter().get_user_organizations(rest))
        return found

    def hide(self, user_ids: set[Any], at) -> None:
        """The direct rows of these recipients are born dismissed (in-app off)."""
        for row in self:
            if row.recipient_id in user_ids:
                row.dismissed_at = at

    def insert(self, *, using: str | None = None) -> None:
        """Bulk-insert through the manager, which checks the sender rules of rows not
        checked yet."""
        manager = self.model._default_manager
        if using:
            manager = manager.db_manager(using)
        self[:] = manager.bulk_create(list(self), batch_size=app_settings.BULK_BATCH_SIZE)

    def entries(self) -> Iterable[tuple[Any, str | None, Sequence[Any]]]:
        """(pk, type, the user pks it reaches) per saved row."""
        return (
            (row.pk, row.notification_type, members)
            for row, members in zip(self, self.reached(), strict=True)
        )

    def announced(self) -> list[Any]:
        """What waits for the commit to be announced: the rows themselves."""
        return list(self)


def row_set(rows: Iterable[Any]) -> DirectRows | ModelRows:
    """``rows`` as a row set: a :class:`DirectRows` or :class:`ModelRows` as it is, any
    other sequence of unsaved rows as :class:`ModelRows`."""
    if isinstance(rows, DirectRows | ModelRows):
        return rows
    return ModelRows(rows)


class DirectRows(Sequence):
    """The direct rows of one fan-out (``notify()``, an event's audience), held as the
    template and three columns (recipient, organization, dismissed) instead of one
    model instance per recipient.

    The stages read the columns: decisions use the recipients, :func:`insert_rows`
    writes them with one ``INSERT … SELECT`` of the shared values and the columns, the
    deliveries pair the new primary keys with the recipients. A row becomes a model
    instance only when it is read (indexing or iterating), once: edits to it stick."""

    def __init__(self, template, recipient_ids: Sequence[Any], organization_keys, origin):
        self.template = template
        self.model = type(template)
        self.recipient_ids = list(recipient_ids)
        # A few organizations for thousands of rows: one string each, shared by its rows
        # (str() of an integer key makes a new one per row), mapped in C.
        organization_keys = list(organization_keys)
        as_text = {key: str(key or "") for key in set(organization_keys)}
        self.organization_keys = list(map(as_text.__getitem__, organization_keys))
        self.origin = origin
        #: Recipients whose row is born hidden (dismissed at ``hidden_at``).
        self.hidden: set[Any] = set()
        self.hidden_at = None
        #: Primary keys, in row order, once inserted.
        self.pks: list[Any] | None = None
        self._make = cloner(template)
        self._built: dict[int, models.Model] = {}
        self._using: str | None = None

    @property
    def notification_type(self) -> str | None:
        return self.template.notification_type

    #: Every row is direct; one type, priority and target: one group.
    scope = Scope.USER
    set_based_deliveries = True

    def check_senders(self) -> None:
        """A fan-out's rows have no sender: nothing to check."""

    def groups(self) -> list[DirectRows]:
        return [self]

    def users(self) -> list[Any]:
        return list(dict.fromkeys(self.recipient_ids))

    def organizations(self, user_ids: Iterable[Any]) -> dict[Any, Any]:
        return dict(zip(self.recipient_ids, self.organization_keys, strict=True))

    def hide(self, user_ids: set[Any], at) -> None:
        self.hidden = set(user_ids)
        self.hidden_at = at

    def entries(self) -> Iterable[tuple[Any, str | None, Sequence[Any]]]:
        ntype = self.notification_type
        return ((pk, ntype, (uid,)) for pk, uid in zip(self.pks, self.recipient_ids, strict=True))

    def announced(self) -> DirectPublished:
        """The rows as announced to live clients: a view over the columns, so no
        instance (nor tuple) per row waits for the commit."""
        return DirectPublished(self.pks, self.recipient_ids, self.organization_keys)

    def __len__(self) -> int:
        return len(self.recipient_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError("row index out of range")
        index %= n
        row = self._built.get(index)
        if row is None:
            row = self._build(index)
            if self.pks is not None:  # kept once saved; before that, a copy
                self._built[index] = row
        return row

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __add__(self, other):
        return [*self, *other]

    def __radd__(self, other):
        return [*other, *self]

    def __repr__(self) -> str:
        return f"<DirectRows: {len(self)} {self.model._meta.label} rows>"

    def columns(self) -> Iterator[tuple[Any, str, Any]]:
        """(recipient_id, organization_key, dismissed_at) per row, made as they are read
        (the INSERT reads a batch at a time)."""
        hidden, at = self.hidden, self.hidden_at
        return (
            (uid, org, at if uid in hidden else None)
            for uid, org in zip(self.recipient_ids, self.organization_keys, strict=True)
        )

    def _build(self, index: int) -> models.Model:
        uid = self.recipient_ids[index]
        row = self._make(
            id=None if self.pks is None else self.pks[index],
            scope=Scope.USER,
            origin=self.origin,
            recipient_id=uid,
            organization_key=self.organization_keys[index],
            is_global=False,
            dismissed_at=self.hidden_at if uid in self.hidden else None,
        )
        if self.pks is not None:
            row._state.adding = False
            row._state.db = self._using
            row.remember_targeting()
        return row

    def insert(self, *, using: str | None = None) -> None:
        """One ``INSERT … SELECT`` per ``BULK_BATCH_SIZE`` rows: the template's values
        bound once, the three columns as one array."""
        using = using or router.db_for_write(self.model)
        varying = ("recipient_id", "organization_key", "dismissed_at")
        fixed = {
            f.attname: self.template.__dict__.get(f.attname)
            for f in self.model._meta.concrete_fields
            if not f.primary_key and not f.generated and f.attname not in varying
        }
        fixed.update(scope=Scope.USER, origin=self.origin, is_global=False)
        self.pks = bulk_insert.insert_columns(
            self.model,
            varying,
            self.columns(),
            constants=fixed,
            using=using,
            batch_size=app_settings.BULK_BATCH_SIZE,
        )
        self._using = using


def insert_rows(rows: DirectRows | ModelRows, *, created_by=None) -> DirectRows | ModelRows:
    """Stage 3: bulk-insert the rows and send ``notification_created`` for each."""
    rows.insert()
    model = rows.model
    if signals.notification_created.has_listeners(model):
        for row in rows:
            signals.notification_created.send(sender=model, notification=row, created_by=created_by)
    return rows


def user_rows(template, user_ids, origin, sender, orgs=None) -> list[models.Model]:
    if orgs is None:
        orgs = get_adapter().get_user_organizations(user_ids)
    make = cloner(template, sender=sender)
    return [
        make(
            scope=Scope.USER,
            origin=origin,
            recipient_id=uid,
            organization_key=str(orgs.get(uid) or ""),
            is_global=False,
        )  # fmt: skip
        for uid in user_ids
    ]


def team_rows(template, keys, team_orgs, origin, sender) -> list[models.Model]:
    make = cloner(template, sender=sender)
    return [
        make(
            scope=Scope.TEAM,
            origin=origin,
            team_key=key,
            organization_key=team_orgs[key],
            is_global=False,
        )  # fmt: skip
        for key in keys
    ]


def rows_for_targets(template, origin, sender, target_user, target_team, user_ids, team_ids):
    name, values = chosen_targets(target_user, target_team, user_ids, team_ids)
    if name in ("target_user", "user_ids"):
        return user_rows(template, resolve_user_ids(name, values), origin, sender)
    keys, team_orgs = resolve_team_keys(name, values)
    return team_rows(template, keys, team_orgs, origin, sender)


def system_rows(
    model,
    user_ids: list[Any],
    type_key: str | None,
    *,
    title: str,
    body: str = "",
    level: str | None = None,
    limit_meta_data: bool = True,
    **content: Any,
) -> list[models.Model]:
    """System-originated direct rows (no sender) for ``user_ids``. A registered type's
    level and priority apply unless the caller chose. ``limit_meta_data=False`` for the
    ``meta_data`` event processing builds from an event's context: not a caller's, and
    refusing it would fail the event on every attempt (non-finite numbers are refused
    all the same)."""
    if "description" in content:
        raise TypeError("notify() takes body=, not description=")
    if type_key and type_key in notification_types:
        ntype = notification_types.get(type_key)
        level = level or ntype.level
        content.setdefault("priority", ntype.default_priority)
    template = build_template(
        model,
        title=title,
        level_code=level,
        description=body,
        notification_type=type_key,
        trusted=True,
        limit_meta_data=limit_meta_data,
        **content,
    )
    orgs = get_adapter().get_user_organizations(user_ids)
    return DirectRows(template, user_ids, [orgs.get(uid) for uid in user_ids], Origin.ORGANIZATION)


class StoredRows(Sequence):
    """Saved rows, by id, read back in chunks as they are iterated: a large write keeps
    a few bytes per row where holding the rows would cost kilobytes each."""

    #: Rows per query when iterating.
    READ_CHUNK = 2_000

    def __init__(self, model, ids: Sequence[Any]) -> None:
        self.model = model
        self.ids = list(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        manager = self.model._default_manager
        for start in range(0, len(self.ids), self.READ_CHUNK):
            chunk = self.ids[start : start + self.READ_CHUNK]
            found = manager.filter(in_ids("pk", chunk)).in_bulk()
            yield from (found[pk] for pk in chunk if pk in found)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return StoredRows(self.model, self.ids[index])
        return self.model._default_manager.get(pk=self.ids[index])

    def __repr__(self) -> str:
        return f"<StoredRows: {len(self.ids)} {self.model._meta.label} rows>"
