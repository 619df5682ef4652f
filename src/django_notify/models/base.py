"""Abstract bases a host can subclass. Concrete defaults live in sibling modules."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import read_state
from ..conf import app_settings
from ..exceptions import SendRefused
from ..feed_keys import BROADCAST_ROWS, audience_key
from ..loading import configured_channels, entry_points
from ..policy import TARGETING_FIELDS, validate_notification
from ..query import NotificationManager
from ..sanitize import html_to_text, sanitize_html
from ..tenancy import get_adapter
from ..types import BROADCAST_SCOPES, Origin, Priority, Scope, validate_type_key
from ..validation import check_meta_data
from .tracking import TargetingTracker, load_row

URL_MAX_LENGTH = 500
_SAFE_URL_SCHEMES = ("http://", "https://", "mailto:")


def validate_link(value: str) -> None:
    """Allow absolute http(s)/mailto links and site-relative paths, nothing else.

    A ``javascript:`` URL in ``url`` would run in the bell's click handler.
    """
    if not value:
        return
    # Browsers read "/\\evil.example" and "/\t/evil.example" as "//evil.example".
    if "\\" in value or any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        raise ValidationError(
            _("Links may not contain spaces, control characters or backslashes."),
            code="invalid_url",
        )
    lowered = value.lower()
    if lowered.startswith("/") and not lowered.startswith("//"):
        return
    if lowered.startswith(_SAFE_URL_SCHEMES):
        return
    raise ValidationError(
        _("Enter a site-relative path (/…) or an http(s)/mailto URL."), code="invalid_url"
    )


def default_level() -> str:
    return app_settings.DEFAULT_LEVEL


def validate_level(value: str) -> None:
    if value not in app_settings.LEVELS:
        known = ", ".join(app_settings.LEVELS)
        raise ValidationError(
            _("%(value)r is not a notification level; use one of %(known)s."),
            code="invalid_level",
            params={"value": value, "known": known},
        )


def validate_json_object(value) -> None:
    """A JSON object with finite numbers that JSON can write. The size limit
    (``MAX_META_DATA_BYTES``) is the entry points' check: rows an event writes may be
    larger, and an edit that keeps them must still validate."""
    if not isinstance(value, dict):
        raise ValidationError(_("meta_data must be a JSON object."), code="invalid_meta_data")
    try:
        check_meta_data(value, limit_size=False)
    except ValidationError as exc:
        # A field validator raises a plain error: the field name is added by the caller.
        raise ValidationError(exc.message_dict["meta_data"][0], code="invalid_meta_data") from None


class AbstractNotification(models.Model):
    """One notification row: a direct message to one user, or one broadcast row for a
    team, an organization or the whole system."""

    level = models.CharField(
        _("level"), max_length=2, default=default_level, validators=[validate_level],
        help_text=_("Two-letter level code (`type` in the send API), e.g. IN, IM."),
    )  # fmt: skip
    # NULL (not "") for "no type", so a partial index or a type filter skips untyped rows.
    notification_type = models.CharField(  # noqa: DJ001
        _("notification type"), max_length=100, blank=True, null=True,
        validators=[validate_type_key],
        help_text=_("Key of a registered notification type."),
    )  # fmt: skip
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True, help_text=_("Sanitised HTML."))
    description_text = models.TextField(_("description (plain text)"), blank=True, editable=False)
    url = models.CharField(
        _("url"), max_length=URL_MAX_LENGTH, blank=True, validators=[validate_link]
    )
    action_url = models.CharField(
        _("action url"), max_length=URL_MAX_LENGTH, blank=True, validators=[validate_link]
    )
    action_required = models.BooleanField(_("action required"), default=False)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    meta_data = models.JSONField(
        _("meta data"), default=dict, blank=True, encoder=DjangoJSONEncoder,
        validators=[validate_json_object],
    )  # fmt: skip

    # The content types of the two generic relations are not checked by the database,
    # as their object ids cannot be: the check bought little integrity and cost every
    # row of a fan-out a trigger call and a row lock at COMMIT (55 ms of a 10,000-row
    # notify() on PostgreSQL). Deleting a content type still cascades, through Django.
    actor_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", db_index=False, db_constraint=False,
    )  # fmt: skip
    actor_object_id = models.CharField(max_length=64, blank=True)
    actor = GenericForeignKey("actor_content_type", "actor_object_id")
    target_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", db_index=False, db_constraint=False,
    )  # fmt: skip
    target_object_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_content_type", "target_object_id")

    scope = models.CharField(_("scope"), max_length=12, choices=Scope.choices)
    origin = models.CharField(
        _("origin"), max_length=12, choices=Origin.choices, default=Origin.ORGANIZATION,
        help_text=_("The rule set the row was sent under."),
    )  # fmt: skip
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
        related_name="%(app_label)s_%(class)s_received", db_index=False,
    )  # fmt: skip
    team_key = models.CharField(_("team"), max_length=64, blank=True)
    organization_key = models.CharField(_("organization"), max_length=64, blank=True)
    is_global = models.BooleanField(_("global"), default=False)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="%(app_label)s_%(class)s_sent", db_index=False,
        help_text=_("Empty for trusted, system-originated notifications."),
    )  # fmt: skip

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # Direct rows only: broadcasts keep per-user state in receipts.
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    objects = NotificationManager()

    class Meta:
        abstract = True
        ordering = ("-created_at", "-id")
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        # One index per branch of the feed (see django_notify.visibility). The partial
        # ones hold only their branch's rows, so a site with only direct rows pays
        # nothing for broadcasts. Names use at most 14 characters of the class name to
        # stay within the 30 characters Django allows.
        indexes = [
            # Direct rows, newest first; also the cascade when a recipient is deleted.
            models.Index(fields=["recipient", "-created_at", "-id"], name="dn_%(class).14s_direct"),
            # Unread direct rows: the unread page and an index-only count. The columns
            # after expires_at are constant here; SQLite needs them to count from the
            # index alone (PostgreSQL reads the index condition).
            models.Index(
                fields=[
                    "recipient",
                    "-created_at",
                    "-id",
                    "expires_at",
                    "scope",
                    "read_at",
                    "dismissed_at",
                ],  # fmt: skip
                name="dn_%(class).14s_unread",
                condition=Q(scope="user", read_at__isnull=True, dismissed_at__isnull=True),
            ),
            # Every broadcast (team, organization, system) by its audience key: one
            # lookup per key the user has, newest first (see django_notify.feed_keys).
            # The key's columns follow so that a count reads the index alone.
            models.Index(
                audience_key(),
                F("created_at").desc(),
                F("id").desc(),
                F("expires_at"),
                F("scope"),
                F("team_key"),
                F("organization_key"),
                name="dn_%(class).14s_audience",
                condition=BROADCAST_ROWS,
            ),
            # Rows about an object, and a sender's rows (rate limits, the cascade when
            # a user is deleted). Partial: a fan-out's rows usually have neither, and
            # a row outside an index costs no write to it.
            models.Index(
                fields=["target_content_type", "target_object_id"],
                name="dn_%(class).14s_target",
                condition=Q(target_content_type__isnull=False),
            ),
            models.Index(
                fields=["sender"],
                name="dn_%(class).14s_sender",
                condition=Q(sender__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="%(app_label)s_%(class)s_scope_target",
                condition=(
                    Q(scope=Scope.USER, recipient__isnull=False, team_key="", is_global=False)
                    | Q(scope=Scope.TEAM, recipient__isnull=True, is_global=False) & ~Q(team_key="")
                    | Q(
                        scope=Scope.ORGANIZATION,
                        recipient__isnull=True,
                        team_key="",
                        is_global=True,
                    )
                    & ~Q(organization_key="")
                    | Q(
                        scope=Scope.SYSTEM,
                        recipient__isnull=True,
                        team_key="",
                        organization_key="",
                        is_global=True,
                    )
                ),
            ),  # fmt: skip
            models.CheckConstraint(
                name="%(app_label)s_%(class)s_state_direct_only",
                condition=Q(scope=Scope.USER) | Q(read_at__isnull=True, dismissed_at__isnull=True),
            ),
        ]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every concrete notification model, the package's and a host's swapped one,
        # tracks its targeting fields with django-model-utils' FieldTracker (with a fast
        # path for loaded fields, see .tracking). A tracker
        # declared on an abstract model is not inherited, so each subclass gets its own
        # (abstract ones are never prepared, so theirs stays unused).
        tracker = TargetingTracker(fields=TARGETING_FIELDS)
        tracker.contribute_to_class(cls, "targeting_tracker")
        # The class holds it until class_prepared finalizes it (the signal's reference
        # to it is weak).
        cls.targeting_tracker = tracker

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        # The sender rules hold whatever the entry point: a row that breaks them is
        # never written, even through a plain save(), and editing a sent row cannot
        # retarget it past the rules either.
        self.prepare()
        if self._needs_sender_rules():
            validate_notification(self)
        super().save(*args, **kwargs)
        self._notify_prepared = False
        self._notify_stored = True  # the tracker now holds what was written

    # --- what the targeting was when loaded -----------------------------------------
    @classmethod
    def from_db(cls, db, field_names, values, *args, **kwargs):
        # *args/**kwargs: Django 6.1 passes a fetch_mode argument as well.
        instance = None
        if not args:
            instance = load_row(cls, db, values, kwargs.get("fetch_mode"))
        if instance is None:
            instance = super().from_db(db, field_names, values, *args, **kwargs)
        instance._notify_stored = True
        return instance

    def refresh_from_db(self, using=None, fields=None, *args, **kwargs) -> None:
        super().refresh_from_db(using, fields, *args, **kwargs)
        self.remember_targeting(fields)

    def remember_targeting(self, fields=None) -> None:
        """The targeting now on the row is what the database holds (after a bulk write or
        a reload). ``fields``: only those (names or attnames); an unsaved change to
        another targeting field stays a change."""
        if fields is None:
            self.targeting_tracker.set_saved_fields()
        else:
            names = set()
            for name in fields:
                try:
                    names.add(self._meta.get_field(name).attname)
                except FieldDoesNotExist:
                    pass
            tracked = [name for name in TARGETING_FIELDS if name in names]
            if tracked:
                self.targeting_tracker.set_saved_fields(fields=tracked)
        self._notify_stored = True

    def changed_targeting(self) -> list[str]:
        """Targeting fields (attnames) that differ from what the database holds.

        Empty for an unsaved row. A field deferred when the row was loaded and set since
        is compared with the database (one query). A row that claims to be saved but was
        neither loaded nor written here (``_state.adding`` forced off) counts every
        targeting field as changed.
        """
        if self._state.adding:
            return []
        if not getattr(self, "_notify_stored", False):
            return list(TARGETING_FIELDS)
        tracker = self.targeting_tracker
        return [name for name in TARGETING_FIELDS if tracker.has_changed(name)]

    def _needs_sender_rules(self) -> bool:
        """New rows, and saved rows whose audience, origin or sender changed."""
        return self._state.adding or bool(self.changed_targeting())

    # --- validation -----------------------------------------------------------------
    def clean(self) -> None:
        super().clean()
        self.is_global = self.scope in (Scope.ORGANIZATION, Scope.SYSTEM)
        self._clean_target()
        if not self._needs_sender_rules():
            return  # an edit that keeps the audience, origin and sender
        try:
            validate_notification(self)
        except SendRefused as exc:
            raise ValidationError(str(exc), code=exc.code) from exc

    def _clean_target(self) -> None:
        """The fields a scope needs, named in the error (model forms, the admin)."""
        needs = {
            Scope.USER: ("recipient", self.recipient_id is not None),
            Scope.TEAM: ("team_key", bool(self.team_key)),
            Scope.ORGANIZATION: ("organization_key", bool(self.organization_key)),
        }
        if self.scope in needs:
            name, present = needs[self.scope]
            if not present:
                raise ValidationError({name: _("Required for the %s scope.") % self.scope})
        stray = {
            "recipient": self.scope != Scope.USER and self.recipient_id is not None,
            "team_key": self.scope != Scope.TEAM and bool(self.team_key),
            "organization_key": self.scope == Scope.SYSTEM and bool(self.organization_key),
        }
        errors = {k: _("Not used by the %s scope.") % self.scope for k, bad in stray.items() if bad}
        if errors:
            raise ValidationError(errors)
        adapter = get_adapter()
        if self.scope == Scope.TEAM:
            orgs = adapter.get_team_organizations([self.team_key])
            org = {str(k): v for k, v in orgs.items()}.get(str(self.team_key))
            if org is None:
                raise ValidationError({"team_key": _("Unknown team %s.") % self.team_key})
            self.organization_key = str(org)
        elif self.scope == Scope.USER:
            # A direct row belongs to its recipient's organization, also when retargeted.
            changed = self.changed_targeting()
            retargeted = "recipient_id" in changed and "organization_key" not in changed
            if not self.organization_key or retargeted:
                org = adapter.get_user_organizations([self.recipient_id]).get(self.recipient_id)
                self.organization_key = "" if org is None else str(org)

    def get_level_display(self) -> str:
        return app_settings.LEVELS.get(self.level, self.level)

    #: Fields prepare() normalises or checks, and the fields it derives from them.
    PREPARED_FIELDS = ("description", "url", "action_url", "scope", "meta_data")
    DERIVED_FIELDS = ("description", "description_text", "is_global")

    @classmethod
    def prepare_update(cls, values: dict) -> dict:
        """What ``QuerySet.update(**values)`` may write: a new description sanitised with
        its text, links checked, and no targeting field (the sender rules need each row).
        ``ValidationError`` naming the fields otherwise."""
        values = dict(values)
        errors: dict[str, list] = {}
        for name in values:
            field = cls._meta.get_field(name)
            if field.attname in TARGETING_FIELDS or field.name in ("recipient", "sender"):
                errors[name] = [
                    "Targeting fields cannot be changed with QuerySet.update(): the sender "
                    "rules are checked per row. Load the rows and use save() or bulk_update()."
                ]
        for name in ("description", "url", "action_url"):
            if name not in values:
                continue
            value = values[name]
            if not isinstance(value, str):
                errors[name] = [
                    f"QuerySet.update() takes {name} as a string, so that it can be checked; "
                    "use save() or bulk_update() to compute it."
                ]
            elif name == "description":
                values[name] = sanitize_html(value)
                values["description_text"] = html_to_text(values[name])
            else:
                try:
                    validate_link(value)
                except ValidationError as exc:
                    errors[name] = exc.messages
        if "meta_data" in values and not hasattr(values["meta_data"], "resolve_expression"):
            try:
                validate_json_object(values["meta_data"])
            except ValidationError as exc:
                errors["meta_data"] = exc.messages
        if errors:
            raise ValidationError(errors)
        return values

    def prepare(self) -> None:
        """Normalise the row before it is written: sanitise HTML, derive plain text and
        ``is_global``, and refuse unsafe links (also on a bare ``save()``)."""
        self.description = sanitize_html(self.description)
        self.description_text = html_to_text(self.description)
        self.is_global = self.scope in (Scope.ORGANIZATION, Scope.SYSTEM)
        errors = {}
        for name in ("url", "action_url"):
            try:
                validate_link(getattr(self, name))
            except ValidationError as exc:
                errors[name] = exc.error_list
        # A NaN or an unserialisable value would fail in the database driver instead.
        try:
            validate_json_object(self.meta_data)
        except ValidationError as exc:
            errors["meta_data"] = exc.error_list
        if errors:
            raise ValidationError(errors)
        # Clones of a prepared template skip this in bulk_create (no re-sanitising).
        self._notify_prepared = True

    @property
    def is_broadcast(self) -> bool:
        return self.scope in BROADCAST_SCOPES

    # --- delivery state (the admin's should_email / is_emailed) -----------------------
    # Read from the Delivery rows: with_email_state() puts both on a whole page in
    # two EXISTS subqueries (the setters take the annotation); otherwise one query.
    def _email_state(self) -> tuple[bool, bool]:
        state = self.__dict__.get("_notify_email_state")
        if state is None or None in state:
            email = configured_channels().aliases_with("sends_email")
            row = type(self)._default_manager.filter(pk=self.pk).with_email_state(email)
            found = row.values_list("should_email", "is_emailed").first() or (False, False)
            state = self.__dict__["_notify_email_state"] = [bool(found[0]), bool(found[1])]
        return state[0], state[1]

    def _set_email_state(self, index: int, value) -> None:
        state = self.__dict__.setdefault("_notify_email_state", [None, None])
        state[index] = bool(value)

    @property
    def should_email(self) -> bool:
        """An email delivery was planned (not switched off) for this notification."""
        return self._email_state()[0]

    @should_email.setter
    def should_email(self, value) -> None:
        self._set_email_state(0, value)

    @property
    def is_emailed(self) -> bool:
        """Every planned email delivery was sent (or marked as emailed by an admin)."""
        return self._email_state()[1]

    @is_emailed.setter
    def is_emailed(self, value) -> None:
        self._set_email_state(1, value)

    # --- per-user state ------------------------------------------------------------
    def mark_read(self, user) -> bool:
        """Mark read for ``user``. Returns whether anything changed."""
        return read_state.mark_read(self, user)

    def mark_unread(self, user) -> bool:
        return read_state.mark_unread(self, user)

    def dismiss(self, user) -> bool:
        """Hide from ``user``'s feed. Returns whether anything changed."""
        return read_state.dismiss(self, user)

    # --- the send API's creation paths ---------------------------------------------
    @classmethod
    def send(cls, sender, **kwargs):
        """Organization-scoped send; see :func:`django_notify.pipeline.entry_points.send`."""
        return entry_points().send(sender, model=cls, **kwargs)

    @classmethod
    def send_to_self(cls, sender, **kwargs):
        return entry_points().send_to_self(sender, model=cls, **kwargs)

    @classmethod
    def send_system(cls, sender, **kwargs):
        return entry_points().send_system(sender, model=cls, **kwargs)
