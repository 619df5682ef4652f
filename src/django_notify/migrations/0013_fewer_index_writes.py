"""Fewer index writes per row of a fan-out.

Deliveries: the idempotency keys keep their uniqueness as a constraint, without
PostgreSQL's extra ``LIKE`` index (no query matches a key by prefix); the user's own
index goes (the user, type and time index leads with the user); the digest index holds
only rows gathered into a digest. Notifications: the target and sender indexes hold
only rows that have one.
"""

import django.db.models.deletion
import django_notify.models.delivery
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_notify', '0012_drop_switch_columns'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='notification',
            name='django_noti_target__e4cbce_idx',
        ),
        migrations.AlterField(
            model_name='delivery',
            name='digest',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deliveries', to='django_notify.digest'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='idempotency_key',
            field=models.CharField(default=django_notify.models.delivery.new_key, editable=False, max_length=64, verbose_name='idempotency key'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='user',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='digest',
            name='idempotency_key',
            field=models.CharField(default=django_notify.models.delivery.new_key, editable=False, max_length=64, verbose_name='idempotency key'),
        ),
        migrations.AlterField(
            model_name='notification',
            name='sender',
            field=models.ForeignKey(blank=True, db_index=False, help_text='Empty for trusted, system-originated notifications.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='%(app_label)s_%(class)s_sent', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('digest__isnull', False)), fields=['digest'], name='django_notify_delivery_digest'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(condition=models.Q(('target_content_type__isnull', False)), fields=['target_content_type', 'target_object_id'], name='dn_notification_target'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(condition=models.Q(('sender__isnull', False)), fields=['sender'], name='dn_notification_sender'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(fields=('idempotency_key',), name='django_notify_delivery_key_unique'),
        ),
        migrations.AddConstraint(
            model_name='digest',
            constraint=models.UniqueConstraint(fields=('idempotency_key',), name='django_notify_digest_key_unique'),
        ),
    ]
