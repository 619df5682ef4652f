"""The content types of the actor and target generic relations are no longer checked by
the database (their object ids never were): no foreign-key trigger and row lock per new
row. Deleting a content type still deletes its rows, through Django's cascade."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('swapped', '0005_fewer_index_writes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='customnotification',
            name='actor_content_type',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='contenttypes.contenttype'),
        ),
        migrations.AlterField(
            model_name='customnotification',
            name='target_content_type',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='contenttypes.contenttype'),
        ),
    ]
