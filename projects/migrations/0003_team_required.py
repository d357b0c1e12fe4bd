"""Projects and API tokens belong to teams. Step 2 of 2: every row has its team now."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_teams"),
        ("teams", "0003_customers_to_teams"),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="projects",
                to="teams.team",
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="team",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_token",
                to="teams.team",
            ),
        ),
    ]
