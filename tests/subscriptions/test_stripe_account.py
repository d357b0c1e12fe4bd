"""dj-stripe finds the Stripe account of our key without storing the key."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client
from djstripe.models import Account, APIKey, Subscription, WebhookEndpoint

from subscriptions.models import StripeEvent
from subscriptions.services import stripe_client
from subscriptions.webhooks import pipeline
from tests.billing_helpers import access_now
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.webhook_helpers import signature

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _tables_holding(text: str) -> list[str]:
    """Every database table with a row that contains ``text`` in any column."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            if any(text in str(value) for row in cursor.fetchall() for value in row):
                found.append(table)
    return found


def _deliver_every_event(client: Client) -> None:
    """What Stripe does: each event the emulator emitted, signed, to our webhook intake."""
    endpoint = WebhookEndpoint.objects.get()
    for event in stripe_client().v1.events.list({"limit": 100}).data:
        body = json.dumps(json.loads(str(event)))
        response = client.post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature(body, endpoint.secret),
        )
        assert response.status_code == 200, response.content


def test_bootstrap_checkout_and_webhook_sync_store_no_secret_key(
    client: Client, billing: Billing, settings: Any
) -> None:
    secret_key = settings.STRIPE_SECRET_KEY
    assert secret_key.startswith("sk_test_")
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly"))  # the success page syncs too
    _deliver_every_event(client)
    stored = list(StripeEvent.objects.order_by("pk"))
    assert stored
    for event in stored:  # what the worker does with each stored event
        outcome = pipeline.stripe_event_process(
            event_pk=event.pk, task_id=f"test-{event.pk}", retries_left=False
        )
        assert outcome.status == "processed", outcome.detail

    assert access_now(user).plan_key == "pro"
    # dj-stripe still knows whose objects these are...
    account = Account.objects.get()
    subscription = Subscription.objects.get(customer__subscriber__personal_for=user)
    assert subscription.djstripe_owner_account_id == account.id
    # ... and the key it used for that is nowhere in the database.
    assert not APIKey.objects.exists()
    assert _tables_holding(secret_key) == []
    assert _tables_holding(secret_key[len("sk_test_") :]) == []


def test_the_migration_forgets_stored_secret_keys() -> None:
    migration = importlib.import_module("subscriptions.migrations.0007_forget_stripe_api_keys")
    APIKey.objects.create(
        secret="sk_test_" + "a" * 30, type="secret", livemode=False, id="djstripe_mk_sk"
    )
    APIKey.objects.create(
        secret="rk_live_" + "b" * 30, type="restricted", livemode=True, id="djstripe_mk_rk"
    )
    APIKey.objects.create(
        secret="pk_test_" + "c" * 30, type="publishable", livemode=False, id="djstripe_mk_pk"
    )
    migration.forget_secret_keys(apps, None)
    assert list(APIKey.objects.values_list("secret", flat=True)) == ["pk_test_" + "c" * 30]


def test_staff_cannot_add_a_key_in_the_admin() -> None:
    assert not admin.site.is_registered(APIKey)
