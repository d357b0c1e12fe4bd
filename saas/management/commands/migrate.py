"""``migrate``, able to upgrade a database created before teams existed.

dj-stripe's ``0001_initial`` depends on the migration that creates the subscriber
model (``DJSTRIPE_SUBSCRIBER_MODEL_MIGRATION_DEPENDENCY``, ``teams.0001_initial``).
In a database migrated before the customer became the team, dj-stripe's migration
is recorded and ``teams.0001_initial`` is not, and Django's ``migrate`` refuses to
start (``InconsistentMigrationHistory``). ``teams.0001_initial`` only creates the
teams tables and depends on nothing but the user model, so applying it first
is what would have happened had teams existed from the start; then the usual
``migrate`` runs, and ``teams.0003_customers_to_teams`` moves the data.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

SUBSCRIBER_MIGRATION = ("teams", "0001_initial")
DEPENDENT_MIGRATION = ("djstripe", "0001_initial")


def subscriber_migration_apply_early(*, database: str = DEFAULT_DB_ALIAS) -> bool:
    """Apply ``teams.0001_initial`` when dj-stripe's first migration is already recorded
    without it. Returns whether it did."""
    connection = connections[database]
    executor = MigrationExecutor(connection)
    applied = executor.loader.applied_migrations
    if DEPENDENT_MIGRATION not in applied or SUBSCRIBER_MIGRATION in applied:
        return False
    # The state before teams.0001 is its ancestors only (the user model): the recorded
    # dj-stripe migrations refer to teams.Team, which does not exist until this runs.
    state = executor.loader.project_state(SUBSCRIBER_MIGRATION, at_end=False)
    executor.apply_migration(state, executor.loader.graph.nodes[SUBSCRIBER_MIGRATION])
    return True


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + (
        " Databases created before teams existed are upgraded too "
        "(teams.0001_initial is applied ahead of the consistency check)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        database = options.get("database") or DEFAULT_DB_ALIAS
        if subscriber_migration_apply_early(database=database) and options.get("verbosity", 1):
            self.stdout.write(
                "Applied teams.0001_initial ahead of dj-stripe's recorded 0001_initial "
                "(this database predates teams; its customers move to teams next)."
            )
        super().handle(*args, **options)
