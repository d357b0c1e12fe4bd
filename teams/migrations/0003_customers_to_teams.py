"""The Stripe customer, projects, API tokens and notifications move to personal teams.

Databases created before teams existed have ``djstripe_customer.subscriber_id``
holding user ids, with a foreign key constraint to the user table (dj-stripe's
``0001_initial`` ran with the user as the subscriber). Forwards, each customer's
subscriber becomes its user's personal team and the constraint is re-pointed at
the team table with the schema editor (a table rebuild on SQLite, DROP/ADD
CONSTRAINT on PostgreSQL); in that order: constraint off, ids moved, constraint
on, so no check ever sees a half-moved column. A database created with teams
already has the constraint on the team table and no rows to move.

Backwards does the reverse: each team customer goes back to the owner of its
personal team (customers of shared teams go to their first owner), the
constraint points at the user table again, and projects, tokens and
notifications lose their team (``projects.0002`` reversed puts the creator back
as the owner).

The Stripe customers' metadata is not touched: dj-stripe now reads the team from
``djstripe_team`` (``DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY``), so the old
``djstripe_subscriber`` (a user id) can never attach a customer to a team.
"""

from django.conf import settings
from django.db import migrations

CUSTOMER_TABLE = "djstripe_customer"
SUBSCRIBER_COLUMN = "subscriber_id"


def _subscriber_fk_target(schema_editor) -> str | None:
    """The table ``djstripe_customer.subscriber_id``'s foreign key points at, if any."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, CUSTOMER_TABLE)
    for info in constraints.values():
        if info.get("foreign_key") and info.get("columns") == [SUBSCRIBER_COLUMN]:
            return info["foreign_key"][0]
    return None


def _subscriber_fields(apps, *, to_model):
    """(field as in the migration state, a copy pointing at ``to_model``, a copy with no
    constraint): what the schema editor compares to re-point the column."""
    Customer = apps.get_model("djstripe", "Customer")
    current = Customer._meta.get_field("subscriber")

    def copy(*, target, db_constraint):
        name, path, args, kwargs = current.deconstruct()
        kwargs["to"] = target
        kwargs["db_constraint"] = db_constraint
        field = type(current)(*args, **kwargs)
        field.set_attributes_from_name("subscriber")
        field.model = Customer
        field.remote_field.model = target
        return field

    return (
        Customer,
        copy(target=to_model, db_constraint=True),
        copy(target=to_model, db_constraint=False),
    )


def _repoint(apps, schema_editor, *, from_model, to_model, move_ids) -> None:
    """Constraint off, ``move_ids()``, constraint on ``to_model``'s table."""
    Customer, old_field, _unused = _subscriber_fields(apps, to_model=from_model)
    _c, new_field, loose = _subscriber_fields(apps, to_model=to_model)
    if _subscriber_fk_target(schema_editor) == from_model._meta.db_table:
        schema_editor.alter_field(Customer, old_field, loose)
    move_ids()
    if _subscriber_fk_target(schema_editor) != to_model._meta.db_table:
        schema_editor.alter_field(Customer, loose, new_field)


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("teams", "Team")
    Customer = apps.get_model("djstripe", "Customer")
    personal = dict(
        Team.objects.filter(personal_for__isnull=False).values_list("personal_for_id", "id")
    )

    def move_ids():
        if _subscriber_fk_target(schema_editor) == Team._meta.db_table:
            return  # created with teams, or already moved: ids are team ids
        for customer_id, user_id in Customer.objects.filter(subscriber__isnull=False).values_list(
            "id", "subscriber_id"
        ):
            Customer.objects.filter(id=customer_id).update(subscriber_id=personal.get(user_id))

    _repoint(apps, schema_editor, from_model=User, to_model=Team, move_ids=move_ids)

    Project = apps.get_model("projects", "Project")
    ApiToken = apps.get_model("projects", "ApiToken")
    Notification = apps.get_model("notifications", "Notification")
    for user_id, team_id in personal.items():
        Project.objects.filter(created_by_id=user_id, team__isnull=True).update(team_id=team_id)
        ApiToken.objects.filter(created_by_id=user_id, team__isnull=True).update(team_id=team_id)
        Notification.objects.filter(user_id=user_id, team__isnull=True).update(team_id=team_id)
    # Rows whose creator is gone have no team to go to (their owner row cascaded before).
    Project.objects.filter(team__isnull=True).delete()
    ApiToken.objects.filter(team__isnull=True).delete()


def backwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("teams", "Team")
    Membership = apps.get_model("teams", "Membership")
    Customer = apps.get_model("djstripe", "Customer")
    owner_of = dict(
        Team.objects.filter(personal_for__isnull=False).values_list("id", "personal_for_id")
    )
    for team_id, user_id in (
        Membership.objects.filter(role="owner").order_by("-created_at", "-id").values_list(
            "team_id", "user_id"
        )
    ):
        owner_of.setdefault(team_id, user_id)

    def move_ids():
        if _subscriber_fk_target(schema_editor) == User._meta.db_table:
            return
        for customer_id, team_id in Customer.objects.filter(subscriber__isnull=False).values_list(
            "id", "subscriber_id"
        ):
            Customer.objects.filter(id=customer_id).update(subscriber_id=owner_of.get(team_id))

    _repoint(apps, schema_editor, from_model=Team, to_model=User, move_ids=move_ids)
    Project = apps.get_model("projects", "Project")
    ApiToken = apps.get_model("projects", "ApiToken")
    Notification = apps.get_model("notifications", "Notification")
    # Backwards the creator becomes the owner again: a project or token without one
    # cannot go back (the old schema requires an owner), so it goes with its team.
    Project.objects.filter(created_by__isnull=True).delete()
    ApiToken.objects.filter(created_by__isnull=True).delete()
    # One token per user in the old schema: keep the newest.
    seen: set[int] = set()
    for token_id, user_id in ApiToken.objects.order_by("-created_at", "-id").values_list(
        "id", "created_by_id"
    ):
        if user_id in seen:
            ApiToken.objects.filter(id=token_id).delete()
        seen.add(user_id)
    Project.objects.update(team=None)
    ApiToken.objects.update(team=None)
    Notification.objects.update(team=None)


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0002_personal_teams"),
        ("djstripe", "0003_2_11"),
        ("projects", "0002_teams"),
        ("notifications", "0003_notification_team"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
