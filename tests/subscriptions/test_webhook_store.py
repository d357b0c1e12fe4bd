"""Storing a delivery: once per event id, the same rows on either path, dropped connections."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import DataError, IntegrityError, connection
from django.forms.models import model_to_dict
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from subscriptions.models import StripeEvent
from subscriptions.webhooks import store as webhook_store
from tests.webhook_helpers import end_database_connection, webhook_endpoint

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"
)


def delivery(event_id: str, endpoint_id: str = "we_store") -> dict[str, Any]:
    payload = {"id": event_id, "object": "event", "type": "invoice.paid", "data": {"object": {}}}
    return {
        "event": {
            "stripe_id": event_id,
            "type": "invoice.paid",
            "livemode": False,
            "api_version": "2026-05-27.dahlia",
            "stripe_created": datetime(2026, 11, 1, tzinfo=UTC),
            "object_id": "in_1",
            "customer_id": "cus_1",
            "payload": payload,
        },
        "trigger": {
            "headers": {"Stripe-Signature": "t=1,v1=abc"},
            "body": f'{{"id": "{event_id}"}}',
            "remote_ip": "10.0.0.7",
            "valid": True,
            "processed": False,
            "webhook_endpoint_id": endpoint_id,
        },
    }


@pytest.mark.django_db
def test_an_event_is_stored_once_and_redeliveries_are_counted() -> None:
    webhook_endpoint(stripe_id="we_store", secret="whsec_store")
    pk = webhook_store.store(**delivery("evt_store_1"))
    assert pk is not None
    assert webhook_store.store(**delivery("evt_store_1")) is None
    assert webhook_store.store(**delivery("evt_store_1")) is None
    event = StripeEvent.objects.get()
    assert (event.pk, event.deliveries, event.status) == (pk, 3, StripeEvent.Status.RECEIVED)
    trigger = WebhookEventTrigger.objects.get()  # a redelivery adds no raw request either
    assert event.trigger_id == trigger.pk
    assert trigger.body == '{"id": "evt_store_1"}'
    assert trigger.webhook_endpoint_id == "we_store"
    assert str(trigger.remote_ip) == "10.0.0.7"


@postgresql_only
@pytest.mark.django_db
def test_the_one_statement_stores_the_rows_the_orm_would() -> None:
    webhook_endpoint(stripe_id="we_store", secret="whsec_store")
    before = timezone.now()
    fast_pk = webhook_store._store_in_one_statement(**delivery("evt_fast"))
    orm_pk = webhook_store._store_with_orm(**delivery("evt_orm"))
    assert fast_pk is not None
    assert orm_pk is not None
    fast, orm = (
        StripeEvent.objects.select_related("trigger").get(pk=pk) for pk in (fast_pk, orm_pk)
    )
    assert fast.trigger is not None
    assert orm.trigger is not None

    def fields(row: Any, *differ: str) -> dict[str, Any]:
        return {k: v for k, v in model_to_dict(row).items() if k not in differ}

    # Everything but ids, the event id itself and the moment of storing is the same.
    assert fields(fast, "id", "stripe_id", "payload", "trigger", "received_at") == fields(
        orm, "id", "stripe_id", "payload", "trigger", "received_at"
    )
    assert fields(fast.trigger, "id", "body", "created", "updated") == fields(
        orm.trigger, "id", "body", "created", "updated"
    )
    assert fast.payload["id"] == "evt_fast"
    assert fast.trigger.djstripe_version  # dj-stripe's default, filled in
    for stamp in (fast.received_at, fast.trigger.created, fast.trigger.updated):
        assert before <= stamp <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_conflict_other_than_the_event_id_raises_and_stores_nothing() -> None:
    # The endpoint row is gone: the deferred foreign key fails at commit.
    with pytest.raises(IntegrityError):
        webhook_store.store(**delivery("evt_no_endpoint", endpoint_id="we_deleted"))
    assert not StripeEvent.objects.exists()
    assert not WebhookEventTrigger.objects.exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_without_an_error() -> None:
    webhook_endpoint(stripe_id="we_store", secret="whsec_store")
    assert webhook_store.store(**delivery("evt_before")) is not None
    end_database_connection()  # what a database restart does to every persistent connection
    assert webhook_store.store(**delivery("evt_after")) is not None
    assert set(StripeEvent.objects.values_list("stripe_id", flat=True)) == {
        "evt_before",
        "evt_after",
    }


@pytest.mark.django_db
def test_the_payload_is_stored_from_the_text_received() -> None:
    """The body's JSON text is the payload: what is stored equals what was parsed."""
    webhook_endpoint(stripe_id="we_store", secret="whsec_store")
    given = delivery("evt_text")
    payload = {**given["event"]["payload"], "data": {"object": {"name": "Café ☕", "n": 10**20}}}
    text = json.dumps(payload, indent=2, ensure_ascii=False)  # not how we would write it
    pk = webhook_store.store(
        event={**given["event"], "payload": payload}, trigger=given["trigger"], payload_text=text
    )
    assert pk is not None
    assert StripeEvent.objects.get(pk=pk).payload == payload


@postgresql_only
@pytest.mark.django_db
def test_text_the_database_cannot_keep_is_a_data_error() -> None:
    # The intake answers 400 on DataError (Stripe would retry a 5xx for days).
    webhook_endpoint(stripe_id="we_store", secret="whsec_store")
    given = delivery("evt_nul")
    text = json.dumps({**given["event"]["payload"], "data": {"object": {"name": "a\x00b"}}})
    with pytest.raises(DataError):
        webhook_store.store(**given, payload_text=text)
    assert not StripeEvent.objects.exists()
