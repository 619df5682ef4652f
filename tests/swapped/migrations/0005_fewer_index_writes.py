"""Fewer index writes per row of a fan-out: the target and sender indexes hold only
rows that have one."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('swapped', '0004_level_help_text'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='customnotification',
            name='swapped_cus_target__245bc7_idx',
        ),
        migrations.AlterField(
            model_name='customnotification',
            name='sender',
            field=models.ForeignKey(blank=True, db_index=False, help_text='Empty for trusted, system-originated notifications.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='%(app_label)s_%(class)s_sent', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='customnotification',
            index=models.Index(condition=models.Q(('target_content_type__isnull', False)), fields=['target_content_type', 'target_object_id'], name='dn_customnotifica_target'),
        ),
        migrations.AddIndex(
            model_name='customnotification',
            index=models.Index(condition=models.Q(('sender__isnull', False)), fields=['sender'], name='dn_customnotifica_sender'),
        ),
    ]
