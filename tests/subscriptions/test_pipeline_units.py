"""Pipeline services without a worker: claim, sweep, prune, replay, reconcile."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from djstripe.models import Subscription

from subscriptions import services
from subscriptions.models import StripeEvent
from subscriptions.reports.reconcile import billing_reconcile
from subscriptions.webhooks import pipeline
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = pytest.mark.django_db


def _event(stripe_id: str, **fields: Any) -> StripeEvent:
    payload = {
        "id": stripe_id,
        "object": "event",
        "type": "product.updated",
        "livemode": False,
        "created": 1,
        "data": {"object": {"id": "prod_x", "object": "product"}},
    }
    defaults: dict[str, Any] = {
        "type": "product.updated",
        "stripe_created": timezone.now(),
        "payload": payload,
    }
    defaults.update(fields)
    return StripeEvent.objects.create(stripe_id=stripe_id, **defaults)


def _age(event: StripeEvent, **delta: float) -> None:
    StripeEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(**delta))


def test_claim_lets_one_task_at_a_time() -> None:
    event = _event("evt_claim")
    assert pipeline._claim(event.pk, "task-a") is not None
    assert pipeline._claim(event.pk, "task-b") is None  # someone else holds it
    again = pipeline._claim(event.pk, "task-a")  # a redelivered task keeps its id
    assert again is not None
    assert again.attempts == 2
    StripeEvent.objects.filter(pk=event.pk).update(
        processing_started_at=timezone.now() - timedelta(hours=1)
    )
    assert pipeline._claim(event.pk, "task-b") is not None  # the old claim was abandoned


def test_sweeper_finds_unenqueued_and_stuck_events_only() -> None:
    fresh = _event("evt_fresh")
    old = _event("evt_old")
    _age(old, minutes=5)
    waiting_retry = _event("evt_retry", next_attempt_at=timezone.now() + timedelta(minutes=10))
    _age(waiting_retry, minutes=5)
    stuck = _event(
        "evt_stuck",
        status=StripeEvent.Status.PROCESSING,
        processing_started_at=timezone.now() - timedelta(hours=1),
    )
    busy = _event(
        "evt_busy", status=StripeEvent.Status.PROCESSING, processing_started_at=timezone.now()
    )
    done = _event("evt_done", status=StripeEvent.Status.PROCESSED, processed_at=timezone.now())
    _age(done, minutes=5)
    due = set(pipeline.stripe_events_due())
    assert due == {old.pk, stuck.pk}
    assert fresh.pk not in due
    assert busy.pk not in due
    assert waiting_retry.pk not in due


def test_retry_delay_grows_with_jitter_and_a_cap(settings: Any) -> None:
    settings.BILLING_WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.BILLING_WEBHOOK_RETRY_MAX_SECONDS = 300
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (6, 300), (20, 300)]:
        delays = {pipeline.retry_delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_prune_removes_old_processed_events_only(settings: Any) -> None:
    settings.BILLING_EVENT_RETENTION_DAYS = 30
    old = _event("evt_old_done", status=StripeEvent.Status.PROCESSED)
    StripeEvent.objects.filter(pk=old.pk).update(processed_at=timezone.now() - timedelta(days=31))
    recent = _event("evt_recent", status=StripeEvent.Status.PROCESSED, processed_at=timezone.now())
    failed = _event("evt_failed_old", status=StripeEvent.Status.FAILED)
    _age(failed, days=90)
    assert pipeline.stripe_events_prune() == 1
    assert set(StripeEvent.objects.values_list("stripe_id", flat=True)) == {
        recent.stripe_id,
        failed.stripe_id,
    }


def test_replay_command_needs_a_filter_and_replays_failed_inline(billing: Billing) -> None:
    with pytest.raises(CommandError):
        call_command("billing_replay")
    product_id = services.stripe_client().v1.products.list({"limit": 1}).data[0].id
    event = _event("evt_replay_me", status=StripeEvent.Status.FAILED, last_error="boom")
    payload = dict(event.payload)
    payload["data"] = {"object": {"id": product_id, "object": "product"}}
    StripeEvent.objects.filter(pk=event.pk).update(payload=payload)
    out = io.StringIO()
    call_command("billing_replay", "--failed", "--inline", stdout=out)
    assert "evt_replay_me" in out.getvalue()
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.PROCESSED
    assert event.last_error == ""


def test_a_handler_bug_fails_the_event_then_replay_after_the_fix(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from djstripe.models import Event

    product_id = services.stripe_client().v1.products.list({"limit": 1}).data[0].id
    event = _event("evt_bug")
    payload = dict(event.payload)
    payload["data"] = {"object": {"id": product_id, "object": "product"}}
    StripeEvent.objects.filter(pk=event.pk).update(payload=payload)

    def buggy(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a handler bug")

    monkeypatch.setattr(Event, "invoke_webhook_handlers", buggy)
    outcome = pipeline.stripe_event_process(event_pk=event.pk, task_id="t1", retries_left=True)
    assert outcome.status == "failed"  # not retried: a bug does not fix itself
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.FAILED
    assert event.attempts == 1
    assert "a handler bug" in event.last_error

    monkeypatch.undo()  # the fix is deployed
    assert pipeline.stripe_events_replay(event_ids=["evt_bug"], run_inline=True) == ["evt_bug"]
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.PROCESSED
    assert event.attempts == 2


def test_reconcile_fixes_drift(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly"))
    sub = Subscription.objects.get(customer__subscriber__personal_for=user)
    # Stripe changed behind our back (a webhook was lost).
    services.stripe_client().v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert billing_reconcile(dry_run=True).fixed
    assert Subscription.objects.get(id=sub.id).stripe_data["cancel_at_period_end"] is False
    report = billing_reconcile()
    assert len(report.fixed) == 1
    assert "cancel_at_period_end False -> True" in report.fixed[0]
    assert Subscription.objects.get(id=sub.id).stripe_data["cancel_at_period_end"] is True
    assert billing_reconcile().fixed == []
