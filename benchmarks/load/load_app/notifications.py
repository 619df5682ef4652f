"""One type per channel the delivery benchmark measures, each on by default, so a
``notify()`` to *k* users plans *k* deliveries of that channel with no preference rows."""

import django_notify


@django_notify.register
class LoadEmail(django_notify.NotificationType):
    key = "load.email"
    label = "Delivery benchmark: email"
    channels = ("in_app", "email")
    default_channels = ("in_app", "email")


@django_notify.register
class LoadWebhook(django_notify.NotificationType):
    key = "load.webhook"
    label = "Delivery benchmark: webhook"
    channels = ("in_app", "webhook")
    default_channels = ("in_app", "webhook")
