"""The write figures' types (autodiscovered: ``notify_side`` is an installed app). Both
are on in-app and email by default, so a fan-out writes a row and plans an email
delivery per recipient."""

import django_notify
from notify_side.build import EVENT_TYPE as EVENT

#: ``notify()`` to the fan-out audience. ``EVENT`` is emitted: the dataset subscribes
#: the audience to it, so the key lives with the builder.
FANOUT = "bench.fanout"


@django_notify.register
class FanOut(django_notify.NotificationType):
    key = FANOUT
    label = "Benchmark fan-out"
    channels = ("in_app", "email")
    default_channels = ("in_app", "email")
    senders = "system"


@django_notify.register
class Event(django_notify.NotificationType):
    key = EVENT
    label = "Benchmark event"
    title = "Release {version} is out"
    context = {"version": "The release"}
    channels = ("in_app", "email")
    default_channels = ("in_app", "email")
    senders = "system"
