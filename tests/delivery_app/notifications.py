"""Types the delivery tests send (autodiscovered: this app is in the test settings)."""

import django_notify
from django_notify import Priority

ALERTS = django_notify.Category("alerts", "Alerts", "Things to look at.")
DIGESTS = django_notify.Category("digests", "Digests", "Batched news.")


@django_notify.register
class Alert(django_notify.NotificationType):
    key = "test.alert"
    label = "Alert"
    category = ALERTS
    channels = ("in_app", "email", "outbox")
    default_channels = ("in_app", "email")
    context = {"what": "What happened"}
    optional_context = {"secret": "Never leaves the site"}
    sensitive_context = ("secret",)
    title = "{what} happened"
    body = "<p>Look at <b>{what}</b></p>"


@django_notify.register
class News(django_notify.NotificationType):
    key = "test.news"
    label = "News"
    category = DIGESTS
    channels = ("in_app", "email", "outbox")
    default_channels = ("in_app", "email")
    default_frequency = "daily"
    title = "News"


@django_notify.register
class Security(django_notify.NotificationType):
    key = "test.security"
    label = "Security alert"
    category = ALERTS
    channels = ("in_app", "email")
    default_channels = ("in_app", "email")
    required_channels = ("email",)
    default_priority = Priority.CRITICAL
    title = "Security alert"
    senders = "system"  # no person may send it: recipients cannot switch its email off


@django_notify.register
class Limited(django_notify.NotificationType):
    key = "test.limited"
    label = "Limited"
    channels = ("in_app", "outbox")
    default_channels = ("in_app", "outbox")
    rate_limit = "2/hour"
    title = "Limited"
