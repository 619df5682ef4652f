from django.apps import AppConfig


class ChannelsDemoConfig(AppConfig):
    """The demo's own receiver for the webhook, Slack and Teams channels (``/channels/``)."""

    name = "channels_demo"
    verbose_name = "Channels demo"
    default_auto_field = "django.db.models.BigAutoField"
