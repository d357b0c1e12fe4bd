"""Selectors for the staff billing-health page. Pure reads: nothing here writes.

Two sources: our own ``StripeEvent`` rows (the webhook pipeline) and dj-stripe's
mirror of subscriptions (``stripe_data`` JSON, dahlia shapes: price and quantity
live on ``items.data[]``). Each function documents exactly what its number
means; the page repeats that in its help text. All counts are computed in the
database except the lag percentiles (a bounded sample) and MRR (items are a
JSON list, summed in Python in one pass over a single query).

Times are measured against ``now`` (a parameter so tests can pin it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import redis
from django.conf import settings
from django.db.models import BigIntegerField, Count, Min, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncHour
from django.utils import timezone
from djstripe.models import Subscription

from .. import status as subscription_status
from ..catalog import get_catalog
from ..models import StripeEvent
from ..status import SubscriptionStatus

# At most this many processed events (the most recent) feed the lag percentiles.
LAG_SAMPLE_LIMIT = 10_000
# Dispute and refund events listed on the page.
MONEY_EVENT_TYPES = ("charge.dispute.created", "charge.dispute.closed", "charge.refunded")
MONEY_EVENT_LIMIT = 10
CHURN_WINDOW_DAYS = 30
# Subscription statuses whose recurring amount counts as MRR. past_due is kept
# (the customer has not left; Stripe is still retrying the payment) and shown
# separately as "at risk"; trialing pays nothing yet; unpaid and paused do not pay.
# Never paid, so never part of the churn base.
# Recurring interval -> months per interval.
MONTHS_PER_INTERVAL: dict[str, Fraction] = {
    "day": Fraction(12, 365),
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "year": Fraction(12),
}
UNPROCESSED_STATUSES = (StripeEvent.Status.RECEIVED, StripeEvent.Status.PROCESSING)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


# --- Webhook events ---------------------------------------------------------------


@dataclass(frozen=True)
class LastEvent:
    stripe_id: str
    type: str
    received_at: datetime


def event_last_received() -> LastEvent | None:
    """The most recently received stored event (by ``received_at``), or None."""
    row = (
        StripeEvent.objects.order_by("-received_at", "-pk")
        .values_list("stripe_id", "type", "received_at")
        .first()
    )
    if row is None:
        return None
    return LastEvent(stripe_id=row[0], type=row[1], received_at=row[2])


@dataclass(frozen=True)
class HourBucket:
    start: datetime  # the hour's first instant (UTC)
    count: int


def events_per_hour(*, now: datetime | None = None, hours: int = 24) -> list[HourBucket]:
    """Events received per clock hour, oldest first: ``hours`` buckets in all.

    The last bucket is the current (partial) hour, so with the default the
    window is the current hour plus the 23 full hours before it (UTC hours,
    by ``received_at``). Hours without events are present with a count of 0.
    """
    current_hour = _now(now).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour = current_hour - timedelta(hours=hours - 1)
    counts: dict[datetime, int] = {}
    rows = (
        StripeEvent.objects.filter(received_at__gte=first_hour)
        .annotate(hour=TruncHour("received_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by("hour")
    )
    for row in rows:
        counts[row["hour"].astimezone(UTC)] = row["n"]
    return [
        HourBucket(
            start=first_hour + timedelta(hours=i),
            count=counts.get(first_hour + timedelta(hours=i), 0),
        )
        for i in range(hours)
    ]


@dataclass(frozen=True)
class EventStatusCounts:
    """Stored events per pipeline status, over all stored events (not only 24 h)."""

    received: int = 0
    processing: int = 0
    processed: int = 0
    failed: int = 0
    # received_at of the oldest event still received or processing.
    oldest_unprocessed_at: datetime | None = None

    @property
    def total(self) -> int:
        return self.received + self.processing + self.processed + self.failed

    @property
    def unprocessed(self) -> int:
        """Stored and not finished yet: status received or processing."""
        return self.received + self.processing


def event_status_counts() -> EventStatusCounts:
    """Counts of every stored event by status, and the oldest unprocessed receipt.

    "Unprocessed" means status ``received`` (waiting for a worker or the
    sweeper) or ``processing`` (a worker has it, or died holding it). ``failed``
    events are terminal: they wait for a replay, not in the queue.
    """
    counts: dict[str, int] = {}
    oldest: datetime | None = None
    rows = (
        StripeEvent.objects.order_by()
        .values("status")
        .annotate(n=Count("pk"), oldest=Min("received_at"))
    )
    for row in rows:
        counts[row["status"]] = row["n"]
        if row["status"] in UNPROCESSED_STATUSES and row["oldest"] is not None:
            oldest = row["oldest"] if oldest is None else min(oldest, row["oldest"])
    return EventStatusCounts(
        received=counts.get(StripeEvent.Status.RECEIVED, 0),
        processing=counts.get(StripeEvent.Status.PROCESSING, 0),
        processed=counts.get(StripeEvent.Status.PROCESSED, 0),
        failed=counts.get(StripeEvent.Status.FAILED, 0),
        oldest_unprocessed_at=oldest,
    )


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``pct``% of values <= it.

    ``sorted_values`` must be ascending; None when it is empty.
    """
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class ProcessingLag:
    """Lag = processed_at - received_at, in seconds, of events processed in the window."""

    p50: float | None
    p95: float | None
    sample_size: int
    # True when more events were processed in the window than the sample holds.
    truncated: bool


def processing_lag(
    *, now: datetime | None = None, hours: int = 24, limit: int = LAG_SAMPLE_LIMIT
) -> ProcessingLag:
    """p50 and p95 of ``processed_at - received_at`` over processed events.

    The sample: events with status ``processed`` whose ``processed_at`` is in
    the last ``hours`` hours, the ``limit`` most recently processed of them.
    Percentiles are nearest-rank (see ``percentile``). Failed events and events
    still in flight are not in the sample: their lag shows as the oldest
    unprocessed age instead.
    """
    since = _now(now) - timedelta(hours=hours)
    rows = list(
        StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED, processed_at__gte=since)
        .order_by("-processed_at")
        .values_list("received_at", "processed_at")[: limit + 1]
    )
    truncated = len(rows) > limit
    lags = sorted(
        max(0.0, (processed - received).total_seconds())
        for received, processed in rows[:limit]
        if processed is not None
    )
    return ProcessingLag(
        p50=percentile(lags, 50),
        p95=percentile(lags, 95),
        sample_size=len(lags),
        truncated=truncated,
    )


def broker_queue_length(*, broker_url: str, queue_name: str = "celery") -> int | None:
    """``LLEN`` of the Celery queue list in the Redis broker; None when Redis does not answer.

    Messages a worker has already taken (prefetched or running) are not in the
    list. Timeouts are one second, so a dead Redis delays the page by at most ~2 s.
    """
    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return int(client.llen(queue_name))
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class MoneyEvent:
    """A dispute or refund event, with the fields staff need read from its payload."""

    stripe_id: str
    type: str
    received_at: datetime
    charge_id: str
    amount: int | None
    currency: str
    status: str
    reason: str

    @property
    def status_label(self) -> str:
        """``needs_response`` -> ``needs response`` (wraps on narrow screens)."""
        return self.status.replace("_", " ")

    @property
    def reason_label(self) -> str:
        return self.reason.replace("_", " ")


def _money_event(stripe_id: str, type_: str, received_at: datetime, payload: Any) -> MoneyEvent:
    obj = ((payload or {}).get("data") or {}).get("object") or {}
    if type_ == "charge.refunded":
        # data.object is the charge: the amount is what has been refunded so far.
        refunds = (obj.get("refunds") or {}).get("data") or []
        latest = refunds[0] if refunds and isinstance(refunds[0], dict) else {}
        refunded_all = obj.get("refunded") is True
        return MoneyEvent(
            stripe_id=stripe_id,
            type=type_,
            received_at=received_at,
            charge_id=str(obj.get("id") or ""),
            amount=obj.get("amount_refunded"),
            currency=str(obj.get("currency") or ""),
            status="refunded" if refunded_all else "partially refunded",
            reason=str(latest.get("reason") or ""),
        )
    # data.object is the dispute.
    charge = obj.get("charge")
    return MoneyEvent(
        stripe_id=stripe_id,
        type=type_,
        received_at=received_at,
        charge_id=str((charge.get("id") if isinstance(charge, dict) else charge) or ""),
        amount=obj.get("amount"),
        currency=str(obj.get("currency") or ""),
        status=str(obj.get("status") or ""),
        reason=str(obj.get("reason") or ""),
    )


def money_events_latest(*, limit: int = MONEY_EVENT_LIMIT) -> list[MoneyEvent]:
    """The ``limit`` newest stored dispute and refund events, newest first.

    Types ``charge.dispute.created``, ``charge.dispute.closed`` and
    ``charge.refunded``, whatever their processing status. Amount is the
    dispute amount, or for a refund the charge's ``amount_refunded``.
    """
    rows = (
        StripeEvent.objects.filter(type__in=MONEY_EVENT_TYPES)
        .order_by("-received_at", "-pk")
        .values_list("stripe_id", "type", "received_at", "payload")[:limit]
    )
    return [_money_event(*row) for row in rows]


# --- Subscriptions (dj-stripe mirror) ------------------------------------------------


def _current_mode_subscriptions() -> Any:
    return Subscription.objects.filter(livemode=settings.STRIPE_LIVE_MODE).order_by()


@dataclass(frozen=True)
class SubscriptionCounts:
    active: int = 0
    trialing: int = 0
    past_due: int = 0
    # Every other status, by name (canceled, unpaid, paused, incomplete, ...).
    others: dict[str, int] = field(default_factory=dict)

    @property
    def other_total(self) -> int:
        return sum(self.others.values())


def subscription_status_counts() -> SubscriptionCounts:
    """Mirrored subscriptions in the current mode (``STRIPE_LIVE_MODE``) by ``status``."""
    counts: dict[str, int] = {}
    rows = (
        _current_mode_subscriptions()
        .annotate(sub_status=KT("stripe_data__status"))
        .values("sub_status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["sub_status"] or "unknown"] = row["n"]
    return SubscriptionCounts(
        active=counts.pop(SubscriptionStatus.ACTIVE, 0),
        trialing=counts.pop(SubscriptionStatus.TRIALING, 0),
        past_due=counts.pop(SubscriptionStatus.PAST_DUE, 0),
        others=dict(sorted(counts.items())),
    )


def monthly_amount(item: dict[str, Any]) -> Fraction | None:
    """One subscription item's recurring amount per month, in minor units (exact).

    ``unit_amount * quantity / (interval_count * months_per_interval)``: a
    yearly price counts 1/12 per month, weekly 52/12, daily 365/12. None for
    items we cannot normalise: metered usage, tiered prices (no
    ``unit_amount``), or an unknown interval.
    """
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    unit_amount = price.get("unit_amount")
    interval = recurring.get("interval")
    if unit_amount is None or interval not in MONTHS_PER_INTERVAL:
        return None
    if recurring.get("usage_type") == "metered":
        return None
    quantity = item.get("quantity")
    quantity = 1 if quantity is None else int(quantity)
    interval_count = int(recurring.get("interval_count") or 1)
    return Fraction(int(unit_amount) * quantity) / (interval_count * MONTHS_PER_INTERVAL[interval])


@dataclass
class MrrLine:
    """MRR of one plan in one currency. Amounts in minor units, rounded half up."""

    plan_key: str
    plan_name: str
    currency: str
    amount: int
    past_due_amount: int  # the part of ``amount`` from past_due subscriptions
    subscriptions: int


@dataclass(frozen=True)
class MrrReport:
    lines: list[MrrLine]
    # currency -> total MRR in minor units (sum of the exact line amounts, rounded).
    totals: dict[str, int]
    # Items in MRR-counted subscriptions that could not be normalised (metered, tiered).
    skipped_items: int


def _round_minor(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def mrr_by_plan() -> MrrReport:
    """Monthly recurring revenue by catalog plan and currency, current mode.

    Counted: subscriptions with status ``active`` or ``past_due`` (see
    ``status.MRR``); trialing, unpaid, paused, incomplete and canceled ones
    are not. Each item contributes ``monthly_amount`` (list price: discounts,
    coupons, taxes and credits are ignored). Items are grouped by the catalog
    plan of their price's ``lookup_key``; prices outside the catalog are
    grouped under their lookup key (or price id).
    """
    catalog = get_catalog()
    exact: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    exact_past_due: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    subscriptions: dict[tuple[str, str], set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    skipped = 0
    rows: Iterable[tuple[str, str, Any]] = (
        _current_mode_subscriptions()
        .filter(stripe_data__status__in=subscription_status.MRR)
        .values_list("id", "stripe_data__status", "stripe_data__items__data")
        .iterator(chunk_size=2000)
    )
    for sub_id, status, items in rows:
        for item in items or []:
            amount = monthly_amount(item)
            if amount is None:
                skipped += 1
                continue
            price = item.get("price") or {}
            lookup_key = price.get("lookup_key") or ""
            plan = catalog.plan_for_lookup_key(lookup_key) if lookup_key else None
            if plan is not None:
                plan_key, names[plan.key] = plan.key, plan.name
            else:
                plan_key = lookup_key or str(price.get("id") or "?")
                names.setdefault(plan_key, plan_key)
            key = (plan_key, str(price.get("currency") or catalog.currency).lower())
            exact[key] += amount
            if status == SubscriptionStatus.PAST_DUE:
                exact_past_due[key] += amount
            subscriptions[key].add(sub_id)
    lines = [
        MrrLine(
            plan_key=plan_key,
            plan_name=names[plan_key],
            currency=currency,
            amount=_round_minor(value),
            past_due_amount=_round_minor(exact_past_due[(plan_key, currency)]),
            subscriptions=len(subscriptions[(plan_key, currency)]),
        )
        for (plan_key, currency), value in exact.items()
    ]
    lines.sort(key=lambda line: (line.currency, -line.amount, line.plan_key))
    totals: dict[str, Fraction] = defaultdict(Fraction)
    for (_, currency), value in exact.items():
        totals[currency] += value
    return MrrReport(
        lines=lines,
        totals={currency: _round_minor(value) for currency, value in sorted(totals.items())},
        skipped_items=skipped,
    )


@dataclass(frozen=True)
class Churn:
    """Subscription churn over the window (see ``subscription_churn``)."""

    window_days: int
    base: int  # subscriptions that were live at the window start (approximation)
    churned: int  # of those, the ones that ended within the window
    ended_in_window: int  # every subscription that ended in the window, new ones included

    @property
    def rate(self) -> float | None:
        """churned / base, as a fraction (0.05 = 5 %); None when the base is empty."""
        return self.churned / self.base if self.base else None


def subscription_churn(*, now: datetime | None = None, days: int = CHURN_WINDOW_DAYS) -> Churn:
    """Churn of the current mode's subscriptions over the last ``days`` days.

    With ``start = now - days`` and ``end_time = ended_at``, or ``canceled_at``
    when ``ended_at`` is missing (both Stripe timestamps in ``stripe_data``):

    - base: ``created < start``, status not ``incomplete``/``incomplete_expired``,
      and no end_time or ``end_time >= start`` — an approximation of "live 30
      days ago" (a subscription trialing then is counted);
    - churned: in the base, status ``canceled`` and ``start <= end_time <= now``;
    - ended_in_window: status ``canceled`` and ``start <= end_time <= now``,
      whenever it was created (includes subscriptions started inside the window).

    Rate = churned / base. Cancellations scheduled for the period end
    (``cancel_at_period_end``) count only once the subscription has ended.
    """
    current = _now(now)
    start_ts = int((current - timedelta(days=days)).timestamp())
    now_ts = int(current.timestamp())
    created = Cast(KT("stripe_data__created"), BigIntegerField())
    end_time = Coalesce(
        Cast(KT("stripe_data__ended_at"), BigIntegerField()),
        Cast(KT("stripe_data__canceled_at"), BigIntegerField()),
    )
    ended = Q(
        stripe_data__status=SubscriptionStatus.CANCELED,
        end_time__gte=start_ts,
        end_time__lte=now_ts,
    )
    base = (
        Q(created_ts__lt=start_ts)
        & ~Q(stripe_data__status__in=subscription_status.NEVER_STARTED)
        & (Q(end_time__isnull=True) | Q(end_time__gte=start_ts))
    )
    result = (
        _current_mode_subscriptions()
        .annotate(created_ts=created, end_time=end_time)
        .aggregate(
            base=Count("pk", filter=base),
            churned=Count("pk", filter=base & ended),
            ended_in_window=Count("pk", filter=ended),
        )
    )
    return Churn(
        window_days=days,
        base=result["base"],
        churned=result["churned"],
        ended_in_window=result["ended_in_window"],
    )


# --- The whole page -----------------------------------------------------------------


@dataclass(frozen=True)
class BillingHealth:
    now: datetime
    last_event: LastEvent | None
    per_hour: list[HourBucket]
    statuses: EventStatusCounts
    lag: ProcessingLag
    broker_queue: int | None  # None: Redis unavailable
    queue_name: str
    money_events: list[MoneyEvent]
    subscriptions: SubscriptionCounts
    mrr: MrrReport
    churn: Churn

    @property
    def oldest_unprocessed_age(self) -> timedelta | None:
        if self.statuses.oldest_unprocessed_at is None:
            return None
        return self.now - self.statuses.oldest_unprocessed_at


def billing_health(
    *, broker_url: str, queue_name: str = "celery", now: datetime | None = None
) -> BillingHealth:
    """Everything the billing-health page shows, read at ``now``."""
    current = _now(now)
    return BillingHealth(
        now=current,
        last_event=event_last_received(),
        per_hour=events_per_hour(now=current),
        statuses=event_status_counts(),
        lag=processing_lag(now=current),
        broker_queue=broker_queue_length(broker_url=broker_url, queue_name=queue_name),
        queue_name=queue_name,
        money_events=money_events_latest(),
        subscriptions=subscription_status_counts(),
        mrr=mrr_by_plan(),
        churn=subscription_churn(now=current),
    )
