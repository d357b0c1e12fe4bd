"""Print, as JSON, where the billing data of ``test_migration.py``'s database points.

Run in a subprocess with the current settings, after ``migrate`` (forwards or back).
"""

from __future__ import annotations

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.test")
django.setup()

from django.db import connection  # noqa: E402


def subscriber_fk_target() -> str | None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "djstripe_customer")
    for info in constraints.values():
        target = info.get("foreign_key")
        if target and info.get("columns") == ["subscriber_id"]:
            return str(target[0])
    return None


def main(customer_id: str) -> None:
    tables = connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT subscriber_id FROM djstripe_customer WHERE id = %s", [customer_id])
        (subscriber_id,) = cursor.fetchone()
    result: dict[str, object] = {"subscriber_id": subscriber_id, "fk": subscriber_fk_target()}
    if "teams_team" in tables:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, personal_for_id FROM teams_team")
            result["teams"] = {str(user): team for team, user in cursor.fetchall()}
            cursor.execute("SELECT name, team_id FROM projects_project")
            result["projects"] = dict(cursor.fetchall())
            cursor.execute("SELECT prefix, team_id FROM projects_apitoken")
            result["tokens"] = dict(cursor.fetchall())
            cursor.execute("SELECT title, team_id FROM notifications_notification")
            result["notifications"] = dict(cursor.fetchall())
        if result["fk"] == "teams_team":
            # The app's own reads on the migrated mirror: the team has the plan.
            from subscriptions.access.access import access_compute
            from teams.models import Team

            team = Team.objects.get(pk=subscriber_id)
            access = access_compute(team=team)
            result["access"] = {"plan": access.plan_key, "status": access.status}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
