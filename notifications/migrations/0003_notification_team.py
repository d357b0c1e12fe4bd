"""A notification names the team whose billing it is about (filled by teams.0003)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_notification_kind_duplicate_canceled"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="teams.team",
                verbose_name="team",
            ),
        ),
    ]
