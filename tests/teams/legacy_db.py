"""Build a database as the kit made it before teams, with real mirrored Stripe data.

Run by ``test_migration.py`` in a subprocess with ``tests.teams.legacy_settings``:
migrates every app to its last migration before teams (dj-stripe's ``0001_initial``
with the user as the subscriber), then, through the emulator with the stock SDK,
creates a customer and a trialing subscription for a user and mirrors them with
dj-stripe, and stores a project, an API token and a notification the old way (SQL:
the models in the tree are the new ones). Prints the ids as JSON.
"""

from __future__ import annotations

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.teams.legacy_settings")
django.setup()

import stripe  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.utils import timezone  # noqa: E402

BEFORE_TEAMS = [
    # accounts' later migrations only add or drop user columns unrelated to teams (0004
    # drops the user's billing_version, unused since access is keyed on the team's);
    # they are applied because users are created through the model in the tree.
    ("accounts", "0004_remove_user_billing_version"),
    ("djstripe", "0003_2_11"),
    ("projects", "0001_initial"),
    ("notifications", "0002_notification_kind_duplicate_canceled"),
    ("subscriptions", "0007_forget_stripe_api_keys"),
]

NOTIFICATION_SQL = (
    "INSERT INTO notifications_notification (user_id, kind, title, body, link, data,"
    " stripe_event_id, livemode, created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# PostgreSQL's jsonb column takes the text "{}" only with a cast.
NOTIFICATION_SQL_POSTGRESQL = NOTIFICATION_SQL.replace("%s, %s, %s, %s)", "%s::jsonb, %s, %s, %s)")


def main() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_TEAMS)
    applied = MigrationExecutor(connection).loader.applied_migrations
    assert ("teams", "0001_initial") not in applied

    from djstripe.models import Customer, Subscription

    from accounts.models import User

    # A user id that differs from the team id the migration gives its owner (teams are
    # numbered from 1 in user order), so a user id left in place would show.
    bystander = User.objects.create_user("bystander@example.com", "pw")
    owner = User.objects.create_user("owner@example.com", "pw", id=bystander.pk + 6)

    client = stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE}
    )
    product = client.v1.products.create({"name": "Starter"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 900,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "starter_monthly",
        }
    )
    customer = client.v1.customers.create(
        {"email": owner.email, "metadata": {"djstripe_subscriber": str(owner.pk)}}
    )
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 14}
    )
    mirrored = Customer.sync_from_stripe_data(customer)
    assert mirrored.subscriber_id == owner.pk  # attached by the old metadata key
    Subscription.sync_from_stripe_data(sub)

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_project (owner_id, name, description, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [owner.pk, "Launch", "", now, now],
        )
        cursor.execute(
            "INSERT INTO projects_apitoken (owner_id, prefix, key_hash, created_at)"
            " VALUES (%s, %s, %s, %s)",
            [owner.pk, "saas_pat_abc", "0" * 64, now],
        )
        cursor.execute(
            NOTIFICATION_SQL_POSTGRESQL if connection.vendor == "postgresql" else NOTIFICATION_SQL,
            [owner.pk, "subscription_started", "Welcome", "", "", "{}", "evt_1", False, now],
        )
    print(
        json.dumps(
            {
                "owner": owner.pk,
                "bystander": bystander.pk,
                "customer": customer.id,
                "subscription": sub.id,
            }
        )
    )


if __name__ == "__main__":
    main()
