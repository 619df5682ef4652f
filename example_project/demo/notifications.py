"""The demo site's notification types (autodiscovered by django_notify)."""

import django_notify

BUILDS = django_notify.Category("builds", "Builds", "Continuous-integration results.")


@django_notify.register
class NightlyBuildPassed(django_notify.NotificationType):
    key = "build.nightly"
    label = "Nightly build passed"
    description = "The nightly build finished successfully"
    category = BUILDS
    level = "SU"
    default_priority = django_notify.Priority.LOW
