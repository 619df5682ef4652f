"""One per-channel switch map for subscriptions and rules: ``{"email": false}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

SWITCHES_MESSAGE = _('Give an object of channel aliases to true/false, e.g. {"email": false}.')


def validate_switches(value: Any) -> None:
    """A JSON object of channel aliases to true/false."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, bool) for k, v in value.items()
    ):
        raise ValidationError(SWITCHES_MESSAGE, code="invalid_channels")


class ChannelSwitches(models.Model):
    """Per-channel switches by alias. A channel the map does not name is on, so the
    map holds only what someone switched: ``{"email": false, "slack": false}``.

    ``email_enabled`` and ``in_app_enabled`` read and write the two built-in channels'
    switches (also as keyword arguments to the constructor); filter with
    :meth:`switched_off_q`.
    """

    channels = models.JSONField(
        _("channel switches"), default=dict, blank=True, validators=[validate_switches],
        help_text=_('Channels switched off or on by alias, e.g. {"email": false}; a channel '
                    "not named is on."),
    )  # fmt: skip

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        if self.channels in ([], (), ""):  # empty values skip field validators
            raise ValidationError({"channels": SWITCHES_MESSAGE})

    def channel_enabled(self, alias: str) -> bool:
        return (self.channels or {}).get(alias, True) is not False

    def set_channel(self, alias: str, enabled: bool) -> None:
        """Switch ``alias`` on or off (on is stored as the absence of a switch)."""
        switches = dict(self.channels or {})
        if enabled:
            switches.pop(alias, None)
        else:
            switches[alias] = False
        self.channels = switches

    @staticmethod
    def switched_off_q(alias: str, prefix: str = "") -> Q:
        """Rows whose switch for ``alias`` is off."""
        return Q(**{f"{prefix}channels__has_key": alias}) & Q(
            **{f"{prefix}channels__{alias}": False}
        )

    @property
    def email_enabled(self) -> bool:
        return self.channel_enabled("email")

    @email_enabled.setter
    def email_enabled(self, value: bool) -> None:
        self.set_channel("email", bool(value))

    @property
    def in_app_enabled(self) -> bool:
        return self.channel_enabled("in_app")

    @in_app_enabled.setter
    def in_app_enabled(self, value: bool) -> None:
        self.set_channel("in_app", bool(value))
