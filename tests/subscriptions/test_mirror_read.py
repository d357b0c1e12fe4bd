"""A page that mirrors a read of Stripe is never undone by an event processed after it.

Pages mirror what they just read from Stripe (checkout success, the billing
page's actions, pay-now) outside the webhook pipeline, so that the user sees
the change at once. Payload-first processing orders states by the events'
``created``; a read of Stripe has no place in that order. The read clears the
object's watermark under its lock (``subscriptions.services.mirror_read``):
an event already being processed finishes first and is then overwritten by
the read, and the next event of the object reads Stripe instead of applying a
payload that may be older than what the page showed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from djstripe.models import Customer, Subscription

from subscriptions.models import MirrorWatermark
from subscriptions.services import stripe_client, subscription_sync, subscription_sync_data
from subscriptions.webhooks import mirror
from subscriptions.webhooks.pipeline import stripe_event_process
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_mirror_payload import _all_events, _lifecycle, _store

pytestmark = [pytest.mark.integration]


def _subscription_events(customer: Customer) -> list[dict[str, Any]]:
    events = [
        p
        for p in _all_events()
        if p["type"].startswith("customer.subscription.")
        and p["data"]["object"]["customer"] == customer.id
    ]
    return sorted(events, key=lambda p: p["created"])


def _process(payload: dict[str, Any]) -> None:
    event = _store(payload)
    outcome = stripe_event_process(event_pk=event.pk, task_id="t", retries_left=False)
    assert outcome.status == "processed"


@pytest.mark.django_db
def test_an_event_queued_before_a_page_read_does_not_undo_it(
    client: Client, billing: Billing
) -> None:
    customer = _lifecycle(client, billing)
    events = _subscription_events(customer)
    first = events[0]
    # Newer than the first event, older than the scheduled cancellation (the last change).
    queued = next(
        p
        for p in events
        if p["created"] > first["created"] and not p["data"]["object"]["cancel_at_period_end"]
    )
    sub_id = first["data"]["object"]["id"]
    _process(first)
    assert MirrorWatermark.objects.get(object_id=sub_id).event_created == first["created"]

    subscription_sync(subscription_id=sub_id)  # what a page does: Stripe's state, now
    assert Subscription.objects.get(id=sub_id).stripe_data["cancel_at_period_end"] is True
    assert MirrorWatermark.objects.get(object_id=sub_id).event_created == MirrorWatermark.NONE

    _process(queued)  # newer than the watermark was, older than the page's read
    assert Subscription.objects.get(id=sub_id).stripe_data["cancel_at_period_end"] is True
    # The event read Stripe, so the watermark is back and later events go by payload.
    assert MirrorWatermark.objects.get(object_id=sub_id).event_id == queued["id"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: PostgreSQL (SQLite runs one writing transaction at a time)",
)
def test_a_page_read_waits_for_the_event_being_processed(
    client: Client, billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race a browser journey hit: a page wrote between an event's plan and its commit.

    The worker has planned to mirror an older payload (nothing was mirrored
    yet) and is held there; the page then mirrors Stripe's current state. The
    page must wait for the worker's commit and write after it, not before.
    """
    customer = _lifecycle(client, billing)
    first = _subscription_events(customer)[0]
    sub_id = first["data"]["object"]["id"]
    event = _store(first)
    current = stripe_client().v1.subscriptions.retrieve(sub_id)
    assert current.cancel_at_period_end is True

    planned, release = threading.Event(), threading.Event()
    plan_for = mirror._plan_for

    def plan_then_hold(*args: Any) -> Any:
        plan = plan_for(*args)
        planned.set()
        release.wait(timeout=30)
        return plan

    monkeypatch.setattr(mirror, "_plan_for", plan_then_hold)
    outcomes: list[str] = []

    def worker() -> None:
        try:
            outcome = stripe_event_process(event_pk=event.pk, task_id="t", retries_left=False)
            outcomes.append(outcome.status)
        finally:
            connection.close()

    def page() -> None:
        try:
            subscription_sync_data(data=current)
        finally:
            connection.close()

    worker_thread = threading.Thread(target=worker)
    worker_thread.start()
    assert planned.wait(timeout=30)
    page_thread = threading.Thread(target=page)
    page_thread.start()
    page_thread.join(timeout=1.0)
    page_waited = page_thread.is_alive()  # blocked on the watermark row the worker holds
    release.set()
    worker_thread.join(timeout=60)
    page_thread.join(timeout=60)

    assert outcomes == ["processed"]
    assert page_waited
    assert Subscription.objects.get(id=sub_id).stripe_data["cancel_at_period_end"] is True
