"""One per-channel switch map for subscriptions and rules.

The ``email_enabled`` and ``in_app_enabled`` columns of subscriptions and subscription
rules move into ``channels`` (``{"email": false, "in_app": false}``; a channel not named
is on), where every other channel's switch already was. Reversible: going back restores
the two columns from the map and leaves the other channels' switches in it.

The columns are dropped in 0012: PostgreSQL refuses to alter a table in the transaction
that just updated its rows (pending deferred-constraint triggers).
"""

import django_notify.models.switches
from django.db import migrations, models

#: The columns that become keys of the map.
COLUMNS = {"email_enabled": "email", "in_app_enabled": "in_app"}
MODELS = ("subscription", "subscriptionrule")


def columns_to_map(apps, schema_editor):
    db = schema_editor.connection.alias
    for name in MODELS:
        model = apps.get_model("django_notify", name)
        for column, alias in COLUMNS.items():
            # Only switched-off rows carry a key; on is the absence of one.
            rows = model.objects.using(db).filter(**{column: False}).only("pk", "channels")
            batch = []
            for row in rows.iterator(chunk_size=2000):
                row.channels = {**(row.channels or {}), alias: False}
                batch.append(row)
                if len(batch) == 2000:
                    model.objects.using(db).bulk_update(batch, ["channels"])
                    batch = []
            model.objects.using(db).bulk_update(batch, ["channels"])


def map_to_columns(apps, schema_editor):
    db = schema_editor.connection.alias
    for name in MODELS:
        model = apps.get_model("django_notify", name)
        for column, alias in COLUMNS.items():
            off = models.Q(channels__has_key=alias) & models.Q(**{f"channels__{alias}": False})
            model.objects.using(db).filter(off).update(**{column: False})
        batch = []
        for row in model.objects.using(db).exclude(channels={}).only("pk", "channels"):
            row.channels = {k: v for k, v in row.channels.items() if k not in COLUMNS.values()}
            batch.append(row)
        model.objects.using(db).bulk_update(batch, ["channels"], batch_size=2000)


SWITCHES = models.JSONField(
    blank=True,
    default=dict,
    help_text='Channels switched off or on by alias, e.g. {"email": false}; a channel not '
    "named is on.",
    validators=[django_notify.models.switches.validate_switches],
    verbose_name="channel switches",
)


class Migration(migrations.Migration):
    dependencies = [
        ("django_notify", "0010_level_help_text"),
    ]

    operations = [
        migrations.AddField(model_name="subscriptionrule", name="channels", field=SWITCHES),
        migrations.AlterField(model_name="subscription", name="channels", field=SWITCHES),
        migrations.RunPython(columns_to_map, map_to_columns, elidable=False),
    ]
