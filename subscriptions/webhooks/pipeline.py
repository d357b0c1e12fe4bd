"""Processing of stored Stripe events: claim, sync, notify, retry, fail, replay.

The intake view stores each verified event once (``StripeEvent``) and
enqueues ``webhook_event_process_task``. Here one worker at a time claims an
event (a conditional UPDATE, so two workers never process it together),
hands it to dj-stripe, which mirrors the event's object from the payload when
it is newer than the mirror and re-reads it from Stripe when the order cannot
be decided (subscriptions.webhooks.mirror; so the order in which events arrive does not
matter), then drops the user's
cached access and creates notifications. Stripe and network errors are
retried with exponential backoff and jitter; after the last retry the event
is ``failed``, reported to Sentry, shown in the admin, and can be replayed.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from djstripe.models import Customer, Event, WebhookEventTrigger
from djstripe.settings import djstripe_settings

from ..access.access import access_invalidate
from ..models import StripeEvent, returning_supported
from ..services import StripeUnavailable
from ..signals import billing_event_processed, staff_billing_event_processed
from .customers import customer_lookups_shared, customer_shared
from .mirror import MirrorPlan, payload_first, stripe_prefetch

logger = logging.getLogger(__name__)

# Rate-limited runs back off at most this long: they are not failures, and never give up.
RATE_LIMITED_MAX_DELAY_SECONDS = 300.0
# Errors worth retrying: Stripe unreachable, rate limited, or failing on its side
# (also as our services report it: StripeUnavailable), and the database refusing
# for a moment (a deadlock between two events of one object, a dropped connection).
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
    StripeUnavailable,
    OperationalError,
)
STAFF_EVENT_TYPES = frozenset(
    {"charge.dispute.created", "charge.dispute.closed", "charge.refunded"}
)
# A refund's later outcome, recorded on the staff refund's audit row.
REFUND_OUTCOME_EVENT_TYPES = frozenset({"refund.updated", "refund.failed"})
# Events after which a customer may have one live subscription too many.
DUPLICATE_CHECK_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.resumed",
    }
)
# An update can add a live subscription only by changing one of these.
_DUPLICATE_CHECK_FIELDS = frozenset({"status", "cancel_at_period_end", "cancel_at"})


def processing_timeout() -> timedelta:
    """After this long a 'processing' claim is considered abandoned (worker died)."""
    return timedelta(seconds=settings.BILLING_WEBHOOK_PROCESSING_TIMEOUT)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: up to base * 2^(attempt-1), capped."""
    base = float(settings.BILLING_WEBHOOK_RETRY_BASE_SECONDS)
    cap = float(settings.BILLING_WEBHOOK_RETRY_MAX_SECONDS)
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def rate_limited_delay(times: int) -> float:
    """When to try an event again after its n-th run that Stripe rate-limited (jittered)."""
    base = float(settings.BILLING_WEBHOOK_RETRY_BASE_SECONDS)
    ceiling = min(RATE_LIMITED_MAX_DELAY_SECONDS, base * (2 ** max(0, times - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class EventBusy(Exception):
    """Another worker holds the claim on this event."""


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str = ""


def _claim(event_pk: int, task_id: str) -> StripeEvent | None:
    """Atomically take the event for this task; None if it is done or someone else has it."""
    now = timezone.now()
    stale = now - processing_timeout()
    claimable = Q(status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED]) | Q(
        status=StripeEvent.Status.PROCESSING
    ) & (Q(claimed_by=task_id) | Q(processing_started_at__lt=stale))
    # The attempt is counted in the claiming UPDATE itself: one statement, no
    # read-modify-write between two workers.
    claimed = StripeEvent.objects.filter(Q(pk=event_pk) & claimable)
    values = {
        "status": StripeEvent.Status.PROCESSING,
        "claimed_by": task_id,
        "processing_started_at": now,
        "next_attempt_at": None,
        "attempts": F("attempts") + 1,
    }
    if returning_supported(claimed.db):
        # The claimed row comes back from the UPDATE itself: one query less per event.
        rows = list(StripeEvent.objects.raw(*_update_returning_sql(claimed, values)))
        return rows[0] if rows else None
    if not claimed.update(**values):
        return None
    return StripeEvent.objects.get(pk=event_pk)


def _update_returning_sql(
    queryset: QuerySet[StripeEvent], values: dict[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE that ``queryset.update(**values)`` runs, returning the updated rows."""
    query = queryset.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    return f"{sql} RETURNING *", tuple(params)


def _team_id_for(customer_id: str) -> int | None:
    if not customer_id:
        return None
    customer = customer_shared(customer_id)
    if customer is None:
        customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
    return customer.subscriber_id if customer is not None else None


def _apply(event: StripeEvent, prefetched: MirrorPlan | None = None) -> int | None:
    """The work for one event: dj-stripe sync, then our own reactions."""
    from .. import services
    from ..stripe_account import account_lookups_shared
    from . import duplicates

    # dj-stripe's handlers read the event's object from the payload when it is
    # newer than the mirror, from Stripe otherwise (subscriptions.webhooks.mirror).
    with payload_first(event, prefetched), account_lookups_shared():
        # What Event.process does, without its second existence check and
        # savepoint: this transaction and the claim already cover both. A replay
        # gets dj-stripe's row of the event from before (this call returns an
        # existing row as it is); its handlers run again all the same.
        djstripe_event = Event._create_from_stripe_object(
            event.payload, api_key=djstripe_settings.STRIPE_SECRET_KEY
        )
        djstripe_event.invoke_webhook_handlers()
    obj: dict[str, Any] = (event.payload.get("data") or {}).get("object") or {}
    previous = (event.payload.get("data") or {}).get("previous_attributes")
    team_id = _team_id_for(event.customer_id or _dispute_customer_id(event, obj))
    if event.type == "entitlements.active_entitlement_summary.updated" and event.customer_id:
        services.entitlements_sync(customer_id=event.customer_id)
    if _may_add_live_subscription(event, previous):
        duplicates.subscription_duplicates_resolve(
            customer_id=event.customer_id,
            stripe_event_id=event.stripe_id,
            livemode=event.livemode,
        )
    if team_id is not None:
        # In this transaction: the new version is visible only with the new mirror state.
        access_invalidate(team_id=team_id)
        _notify(event, team_id=team_id, obj=obj, previous=previous)
    if event.type in STAFF_EVENT_TYPES:
        _notify_staff(event, obj=obj)
    if event.type in REFUND_OUTCOME_EVENT_TYPES:
        from ..disputes.refunds import staff_refund_status_sync

        staff_refund_status_sync(refund=obj)
    if event.trigger_id:
        WebhookEventTrigger.objects.filter(pk=event.trigger_id).update(
            processed=True, event=djstripe_event
        )
    return team_id


def _dispute_customer_id(event: StripeEvent, obj: dict[str, Any]) -> str:
    """A dispute names its charge, not its customer: the charge's mirror does."""
    if not event.type.startswith("charge.dispute."):
        return ""
    from ..disputes.disputes import dispute_customer_id

    return dispute_customer_id(obj)


def _may_add_live_subscription(event: StripeEvent, previous: dict[str, Any] | None) -> bool:
    if event.type not in DUPLICATE_CHECK_EVENT_TYPES or not event.customer_id:
        return False
    if event.type == "customer.subscription.updated":
        return bool(_DUPLICATE_CHECK_FIELDS & set(previous or {}))
    return True


def _notify(
    event: StripeEvent, *, team_id: int, obj: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    billing_event_processed.send(
        sender=StripeEvent,
        team_id=team_id,
        stripe_event_id=event.stripe_id,
        event_type=event.type,
        obj=obj,
        previous=previous,
        livemode=event.livemode,
    )


def _notify_staff(event: StripeEvent, *, obj: dict[str, Any]) -> None:
    staff_billing_event_processed.send(
        sender=StripeEvent,
        stripe_event_id=event.stripe_id,
        event_type=event.type,
        obj=obj,
        livemode=event.livemode,
    )


_TEAM_UNKNOWN = -1  # failure paths: look the team up for the log line


def _log(
    event: StripeEvent,
    outcome: str,
    started: float,
    team_id: int | None = _TEAM_UNKNOWN,
    **extra: Any,
) -> None:
    if team_id == _TEAM_UNKNOWN:  # the success path already knows it (None: no team)
        team_id = _team_id_for(event.customer_id)
    logger.info(
        "event %s type=%s object=%s customer=%s team=%s attempt=%s %s in %.0f ms %s",
        event.stripe_id,
        event.type,
        event.object_id,
        event.customer_id,
        team_id,
        event.attempts,
        outcome,
        (time.perf_counter() - started) * 1000,
        " ".join(f"{k}={v}" for k, v in extra.items()),
    )


def stripe_event_process(*, event_pk: int, task_id: str, retries_left: bool) -> Outcome:
    """Process one stored event. Raises a retryable error when the caller should retry."""
    event = _claim(event_pk, task_id)
    if event is None:
        current = StripeEvent.objects.filter(pk=event_pk).values_list("status", flat=True).first()
        if current == StripeEvent.Status.PROCESSING:
            raise EventBusy(str(event_pk))
        return Outcome("skipped", f"status {current}")
    started = time.perf_counter()
    try:
        # Stripe is read before the transaction: see mirror.stripe_prefetch.
        prefetched = stripe_prefetch(event)
        with transaction.atomic(), customer_lookups_shared():
            team_id = _apply(event, prefetched)
            # In the same transaction as the mirror: one commit per event, and the
            # event is marked processed exactly when its effects are committed.
            StripeEvent.objects.filter(pk=event.pk).update(
                status=StripeEvent.Status.PROCESSED,
                processed_at=timezone.now(),
                claimed_by="",
                last_error="",
            )
    except stripe.RateLimitError as exc:
        _defer_rate_limited(event, exc, started)
        raise
    except RETRYABLE_ERRORS as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:2000]
        if retries_left:
            delay = retry_delay(event.attempts)
            StripeEvent.objects.filter(pk=event.pk).update(
                status=StripeEvent.Status.RECEIVED,
                claimed_by="",
                last_error=error,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            _log(event, "will retry", started, delay=f"{delay:.1f}s", error=exc.__class__.__name__)
            raise
        _fail(event, error, exc)
        _log(event, "failed", started, error=exc.__class__.__name__)
        return Outcome("failed", error)
    except Exception as exc:
        # A bug or bad data: retrying will not help; keep it for a fix and a replay.
        error = f"{exc.__class__.__name__}: {exc}"[:2000]
        _fail(event, error, exc)
        _log(event, "failed", started, error=exc.__class__.__name__)
        return Outcome("failed", error)
    _log(event, "processed", started, team_id=team_id)
    return Outcome("processed")


def _defer_rate_limited(event: StripeEvent, exc: Exception, started: float) -> None:
    """Stripe's rate limit outlasted the HTTP client's patience (stripe_budget.py).

    Not a failure of the event: the attempt is given back, so however often it
    happens the event is never marked failed; the task tries again later.
    """
    delay = rate_limited_delay(1)
    StripeEvent.objects.filter(pk=event.pk).update(
        status=StripeEvent.Status.RECEIVED,
        claimed_by="",
        attempts=F("attempts") - 1,
        last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    _log(event, "rate limited, will retry", started, error=exc.__class__.__name__)


def _fail(event: StripeEvent, error: str, exc: Exception) -> None:
    StripeEvent.objects.filter(pk=event.pk).update(
        status=StripeEvent.Status.FAILED, claimed_by="", last_error=error, next_attempt_at=None
    )
    logger.error(
        "stripe event %s (%s) failed after %s attempt(s): %s",
        event.stripe_id,
        event.type,
        event.attempts,
        error,
        exc_info=exc,
        extra={"stripe_event_id": event.stripe_id, "stripe_event_type": event.type},
    )
    try:
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            scope.set_tag("stripe_event_type", event.type)
            scope.set_tag("stripe_event_id", event.stripe_id)
            sentry_sdk.capture_exception(exc)
    except Exception:  # pragma: no cover - reporting must never break processing
        logger.debug("sentry capture failed", exc_info=True)


# --- Dispatch, sweeper, replay, prune --------------------------------------------------

DISPATCH_BATCH = 500


def stripe_events_dispatch(*, batch: int = DISPATCH_BATCH) -> int:
    """Queue a processing task for every stored event not queued yet (the dispatch task).

    The intake sets a flag and queues this once per burst, not once per event
    (webhooks.request_dispatch). The flag is cleared first: a delivery that
    commits after this point sets it again and queues another dispatch, and one
    that committed before is read below. Two dispatches at once may queue an
    event twice; processing claims each event under a row lock, so the second
    task finds it done.
    """
    from .intake import dispatch_flag_clear, enqueue_many, request_dispatch

    dispatch_flag_clear()
    rows = list(
        StripeEvent.objects.filter(
            status=StripeEvent.Status.RECEIVED, enqueued_at=None, next_attempt_at=None
        )
        .order_by("pk")
        .values_list("pk", "customer_id", "object_id")[:batch]
    )
    if not rows:
        return 0
    sent = enqueue_many(interleaved_by_customer(rows))
    if len(rows) == batch:
        request_dispatch(rows[-1][0])  # more are waiting: another round after these
    return sent


def interleaved_by_customer(rows: list[tuple[int, str, str]]) -> list[int]:
    """Event pks in an order where neighbours belong to different customers.

    Stripe sends a customer's renewal events together (invoice created,
    finalized, paid, payment succeeded, charge, ...). Queued in that order, the
    workers would take neighbouring events of one object at the same time and
    one would wait for the other on the object's watermark row lock
    (subscriptions.webhooks.mirror). Round-robin over customers (or objects, for events
    without a customer) keeps each customer's events in arrival order and puts
    other customers' events between them. Rows are (pk, customer id, object id)
    in arrival order.
    """
    queues: dict[str, list[int]] = {}
    for pk, customer_id, object_id in rows:
        queues.setdefault(customer_id or object_id or f"pk{pk}", []).append(pk)
    ordered: list[int] = []
    depth = 0
    while len(ordered) < len(rows):
        ordered.extend(pks[depth] for pks in queues.values() if depth < len(pks))
        depth += 1
    return ordered


def enqueue_lease() -> timedelta:
    """How long the sweeper trusts a queued task to reach a worker before queuing another.

    A task not started by then is presumed lost (e.g. Redis lost its data). Long
    on purpose: a task waits in the queue for as long as the workers are down or
    behind, and every extra copy only adds to the backlog.
    """
    return timedelta(seconds=settings.BILLING_WEBHOOK_ENQUEUE_LEASE_SECONDS)


def stripe_events_due(*, now: datetime | None = None) -> list[int]:
    """Stored events that no task is taking care of: never enqueued, or stuck.

    An event whose task is still in the queue is not due: it was enqueued after
    its last claim (a claim is what a worker does with the task it takes) and
    the lease on that task has not run out. So while the workers are down,
    each sweep leaves the queued tasks alone instead of adding a copy of each.
    """
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.BILLING_WEBHOOK_SWEEP_GRACE_SECONDS)
    waiting = Q(status=StripeEvent.Status.RECEIVED, received_at__lt=grace) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace)
    )
    stuck = Q(
        status=StripeEvent.Status.PROCESSING, processing_started_at__lt=now - processing_timeout()
    )
    not_queued = (
        Q(enqueued_at__isnull=True)
        | Q(enqueued_at__lt=now - enqueue_lease())
        | Q(processing_started_at__gte=F("enqueued_at"))
    )
    return list(
        StripeEvent.objects.filter((waiting | stuck) & not_queued)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )


def stripe_events_sweep() -> int:
    """Enqueue what is due (beat, every minute). Returns how many were enqueued."""
    from .intake import enqueue_many

    due = stripe_events_due()
    sent = enqueue_many(due)
    if due:
        logger.info("sweeper: %s stored event(s) due, %s enqueued", len(due), sent)
    return sent


def stripe_events_replay(
    *,
    failed_only: bool = False,
    since: datetime | None = None,
    event_type: str | None = None,
    event_ids: list[str] | None = None,
    run_inline: bool = False,
) -> list[str]:
    """Put matching events back to 'received' and process them again."""
    qs = StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSING)
    if failed_only:
        qs = qs.filter(status=StripeEvent.Status.FAILED)
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if event_type:
        qs = qs.filter(type=event_type)
    if event_ids:
        qs = qs.filter(stripe_id__in=event_ids)
    picked = list(qs.order_by("stripe_created").values_list("pk", "stripe_id"))
    StripeEvent.objects.filter(pk__in=[pk for pk, _ in picked]).update(
        status=StripeEvent.Status.RECEIVED, claimed_by="", next_attempt_at=None
    )
    from .intake import enqueue

    for pk, stripe_id in picked:
        logger.info("replaying stripe event %s", stripe_id)
        if run_inline:
            stripe_event_process(event_pk=pk, task_id=f"replay-{stripe_id}", retries_left=False)
        else:
            enqueue(pk)
    return [stripe_id for _, stripe_id in picked]


def stripe_events_prune(*, older_than_days: int | None = None) -> int:
    """Delete processed events (and their raw requests) older than the retention."""
    days = older_than_days if older_than_days is not None else settings.BILLING_EVENT_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    old = StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED, processed_at__lt=cutoff)
    trigger_ids = list(old.exclude(trigger=None).values_list("trigger_id", flat=True))
    deleted, _ = old.delete()
    WebhookEventTrigger.objects.filter(pk__in=trigger_ids).delete()
    if deleted:
        logger.info("pruned %s processed stripe event(s) older than %s days", deleted, days)
    return deleted
