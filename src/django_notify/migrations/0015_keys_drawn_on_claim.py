"""A delivery's idempotency key is drawn when a worker first claims the row, no longer
when the row is planned: planned rows have none, and the unique index holds only the rows
that do (existing rows keep theirs). The index is rebuilt, which on a large delivery
table holds writes to it for as long as the build takes."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_notify', '0014_generic_relations_unchecked'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='delivery',
            name='django_notify_delivery_key_unique',
        ),
        migrations.AlterField(
            model_name='delivery',
            name='idempotency_key',
            field=models.CharField(blank=True, default=None, editable=False, max_length=64, null=True, verbose_name='idempotency key'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False)), fields=('idempotency_key',), name='django_notify_delivery_key_unique'),
        ),
    ]
