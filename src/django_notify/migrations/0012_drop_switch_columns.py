"""Drop the email/in-app switch columns 0011 moved into the channel switch map."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("django_notify", "0011_channel_switches"),
    ]

    operations = [
        migrations.RemoveField(model_name="subscription", name="email_enabled"),
        migrations.RemoveField(model_name="subscription", name="in_app_enabled"),
        migrations.RemoveField(model_name="subscriptionrule", name="email_enabled"),
        migrations.RemoveField(model_name="subscriptionrule", name="in_app_enabled"),
    ]
