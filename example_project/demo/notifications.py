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


ACCOUNT = django_notify.Category("account", "Account", "The security of your account.")


@django_notify.register
class NewSignIn(django_notify.NotificationType):
    """Email is required: the preferences page shows that switch locked."""

    key = "account.new_sign_in"
    label = "Sign-in from a new device"
    description = "Someone signed in to your account from a device not seen before"
    category = ACCOUNT
    level = "WA"
    default_priority = django_notify.Priority.HIGH
    channels = ("in_app", "email")
    default_channels = ("in_app", "email")
    required_channels = ("email",)
    # Only the site sends it (emit/notify): no user can send a look-alike through the API.
    senders = "system"
