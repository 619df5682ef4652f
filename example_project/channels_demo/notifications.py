"""The notification types the multi-channel tour sends (autodiscovered by django_notify).

Both list the machine channels: a type is only ever delivered on the channels it names.
"""

import django_notify

INTEGRATIONS = django_notify.Category(
    "integrations", "Integrations", "Messages for your own systems and your team's chat."
)


@django_notify.register
class DeployFinished(django_notify.NotificationType):
    """On by default on every channel but email: each send shows up at all three receivers."""

    key = "deploy.finished"
    label = "Deploy finished"
    description = "A deployment finished (sent from the Channels page)"
    category = INTEGRATIONS
    level = "SU"
    channels = ("in_app", "email", "webhook", "slack", "teams")
    default_channels = ("in_app", "webhook", "slack", "teams")


@django_notify.register
class BuildReport(django_notify.NotificationType):
    """In the app only unless a user switches a channel on: the seeded user "dev" gets it
    on Teams in a daily digest."""

    key = "build.report"
    label = "Build report"
    description = "A summary of a finished build"
    category = INTEGRATIONS
    level = "IN"
    default_priority = django_notify.Priority.LOW
    channels = ("in_app", "email", "webhook", "slack", "teams")
    default_channels = ("in_app",)
