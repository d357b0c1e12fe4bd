"""Projects and API tokens belong to teams. Step 1 of 2: the columns, nullable.

``teams.0003_customers_to_teams`` fills ``team`` from each owner's personal team;
``0003_team_required`` then makes it required. The old owner becomes ``created_by``.
"""

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("teams", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="project", name="projects_project_unique_name_per_owner"
        ),
        migrations.RemoveIndex(model_name="project", name="projects_owner_created_idx"),
        migrations.RenameField(model_name="project", old_name="owner", new_name="created_by"),
        migrations.AlterField(
            model_name="project",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="projects_created",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="projects",
                to="teams.team",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                models.F("team"),
                django.db.models.functions.text.Lower("name"),
                name="projects_project_unique_name_per_team",
            ),
        ),
        migrations.AddIndex(
            model_name="project",
            index=models.Index(fields=["team", "created_at"], name="projects_team_created_idx"),
        ),
        migrations.RenameField(model_name="apitoken", old_name="owner", new_name="created_by"),
        migrations.AlterField(
            model_name="apitoken",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="api_tokens_created",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="team",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_token",
                to="teams.team",
            ),
        ),
    ]
