"""Behaviour for notification admins; host projects mix these into their own."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _


class NotificationAdminMixin:
    """List columns, filters, search and the sender rules for a notification admin.

    A row created here is sent by the logged-in staff user, so the sender rules apply
    to the admin too; staff see every row.
    """

    list_display = (
        "title", "level", "priority", "scope", "audience", "sender", "created_at", "read_at",
    )  # fmt: skip
    list_filter = ("scope", "origin", "level", "priority", "action_required", "created_at")
    search_fields = ("title", "description_text", "team_key", "organization_key")
    list_select_related = ("recipient", "sender")
    date_hierarchy = "created_at"
    raw_id_fields = ("recipient",)
    readonly_fields = ("sender", "description_text", "read_at", "dismissed_at")
    ordering = ("-created_at", "-id")

    def get_search_fields(self, request):
        # The user model may have no "username"; search whatever it logs in with.
        username = get_user_model().USERNAME_FIELD
        return (*super().get_search_fields(request), f"recipient__{username}")

    @admin.display(description=_("audience"))
    def audience(self, obj) -> str:
        if obj.recipient_id:
            return str(obj.recipient)
        if obj.team_key:
            return _("team %(key)s") % {"key": obj.team_key}
        if obj.organization_key:
            return _("organization %(key)s") % {"key": obj.organization_key}
        return _("everyone")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            return form

        class SenderForm(form):
            # Set before validation so the model's clean() checks the sender rules.
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                self.instance.sender = request.user

        return SenderForm


class NotificationReceiptAdminMixin:
    list_display = ("notification", "user", "read_at", "dismissed_at")
    list_select_related = ("notification", "user")
    raw_id_fields = ("notification", "user")
