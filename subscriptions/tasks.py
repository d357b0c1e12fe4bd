"""Celery tasks of the billing pipeline. Thin: they take ids and call pipeline services."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from celery import shared_task
from django.conf import settings

from .services import StripeUnavailable
from .webhooks import pipeline

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="subscriptions.webhook_event_process",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    max_retries=None,  # bounded by BILLING_WEBHOOK_MAX_ATTEMPTS below
    ignore_result=True,  # the outcome lives on the StripeEvent row; nobody reads results
)
def webhook_event_process_task(self: Any, event_pk: int, rate_limited: int = 0) -> str:
    """Process one stored Stripe event; retry Stripe/network errors with backoff + jitter.

    ``rate_limited`` counts the runs Stripe rate-limited: they are retried too,
    but are not failed attempts, so they never use up the event's attempts.
    """
    attempts_so_far = self.request.retries - rate_limited
    retries_left = attempts_so_far + 1 < settings.BILLING_WEBHOOK_MAX_ATTEMPTS
    try:
        outcome = pipeline.stripe_event_process(
            event_pk=event_pk, task_id=self.request.id or "", retries_left=retries_left
        )
    except pipeline.EventBusy:
        # Another worker has it; look again later in case that worker dies.
        raise self.retry(countdown=settings.BILLING_WEBHOOK_PROCESSING_TIMEOUT) from None
    except stripe.RateLimitError as exc:
        raise self.retry(
            exc=exc,
            countdown=pipeline.rate_limited_delay(rate_limited + 1),
            kwargs={"rate_limited": rate_limited + 1},
        ) from exc
    except pipeline.RETRYABLE_ERRORS as exc:
        raise self.retry(exc=exc, countdown=pipeline.retry_delay(attempts_so_far + 1)) from exc
    return outcome.status


@shared_task(
    name="subscriptions.webhook_events_dispatch",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def webhook_events_dispatch_task() -> int:
    """Queue the processing of stored events (queued by the intake, once per burst)."""
    return pipeline.stripe_events_dispatch()


@shared_task(name="subscriptions.webhook_events_sweep", acks_late=True)
def webhook_events_sweep_task() -> int:
    """Beat, every minute: enqueue stored events never processed or stuck in processing."""
    return pipeline.stripe_events_sweep()


@shared_task(name="subscriptions.webhook_events_prune", acks_late=True)
def webhook_events_prune_task() -> int:
    """Beat, daily: delete processed events older than BILLING_EVENT_RETENTION_DAYS."""
    return pipeline.stripe_events_prune()


@shared_task(name="subscriptions.billing_reconcile", acks_late=True, soft_time_limit=1800)
def billing_reconcile_task() -> int:
    """Beat, daily: compare the mirror with Stripe and fix drift."""
    from .reports.reconcile import billing_reconcile

    return len(billing_reconcile().fixed)


@shared_task(
    name="subscriptions.seats.quantity_sync",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    # Stripe down, a 5xx or a network error: again after 1, 2, 4 ... s (jittered),
    # capped at 5 minutes, for about an hour before giving up. The daily seat
    # reconciliation catches a team whose every retry failed.
    autoretry_for=(StripeUnavailable, stripe.APIConnectionError, stripe.RateLimitError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=15,
    ignore_result=True,
)
def seats_quantity_sync_task(team_id: int, seat_version: int | None = None) -> str:
    """Make the team's paid seats follow its members (subscriptions/changes/seats.py)."""
    from django.core.exceptions import ObjectDoesNotExist

    from .changes.seats import seats_quantity_sync

    try:
        return seats_quantity_sync(team_id=team_id, seat_version=seat_version).status
    except ObjectDoesNotExist:
        logger.info("seats: team %s no longer exists", team_id)
        return "missing"


@shared_task(name="subscriptions.seats.reconcile", acks_late=True, soft_time_limit=1800)
def seats_reconcile_task() -> int:
    """Beat, daily: fix per-seat teams whose paid quantity drifted from their members."""
    from .reports.reconcile import seats_reconcile

    return len(seats_reconcile().fixed)
