"""Every existing user gets a personal team, as new users do at signup.

Reversing keeps the teams (``0001`` reversed drops them with their table); applying
again skips users who already have one.
"""

from django.db import migrations
from django.utils.text import slugify


def _slug(Team, email: str, user_pk: int) -> str:
    base = (slugify(email.split("@", 1)[0]) or "team")[:50].strip("-") or "team"
    if not Team.objects.filter(slug=base).exists():
        return base
    return f"{base}-{user_pk}"


def personal_teams_create(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Team = apps.get_model("teams", "Team")
    Membership = apps.get_model("teams", "Membership")
    for user in User.objects.filter(personal_team__isnull=True).order_by("pk").iterator():
        team = Team.objects.create(
            name=user.name or user.email.split("@", 1)[0],
            slug=_slug(Team, user.email, user.pk),
            email=user.email,
            personal_for=user,
        )
        Membership.objects.create(team=team, user=user, role="owner")


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0001_initial"),
        ("accounts", "0002_user_billing_version"),
    ]

    operations = [
        migrations.RunPython(personal_teams_create, migrations.RunPython.noop, elidable=False),
    ]
