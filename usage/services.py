"""Usage writes: recording units, enforcing hard limits, reporting to Stripe Billing Meters.

Recording (``usage_record``) is on the request path of every API call, so it
is one UPDATE (``units = units + n`` on the team's bucket of this minute) and
an INSERT only for the first unit of a minute; it commits with the request's
own statement, so a recorded unit is durable before anything reports it.

Reporting (``usage_report_pending``, run by the ``usage.report`` task on the
"usage" queue) sends each bucket's new units as one meter event
(docs.stripe.com/api/billing/meter-event/create). The identifier is
``<prefix>-<bucket id>-<from>-<to>``: the same delta always gets the same
identifier, and Stripe refuses an identifier it has already seen ("We will
enforce uniqueness within a rolling period of at least 24 hours"), so a
resend after a crash counts once. Stripe accepts a ``timestamp`` "within the
past 35 calendar days or up to 5 minutes in the future"; older units are
dropped with a warning and counted on the bucket, never silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache as cache_in_process
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from djstripe.models import Customer

from subscriptions.catalog import get_catalog
from subscriptions.services import stripe_client

from . import selectors
from .models import UsageBucket
from .signals import usage_threshold_reached

if TYPE_CHECKING:
    from teams.models import Team

logger = logging.getLogger(__name__)

# Stripe: a meter event's timestamp must be "within the past 35 calendar days".
STRIPE_EVENT_MAX_AGE = timedelta(days=35)
# Units this close to the edge are dropped rather than sent and refused in flight.
EVENT_AGE_MARGIN = timedelta(hours=1)
# The period total a hard limit is checked against is cached this long, but only
# while the team is below this share of its limit (near it, every check counts).
LIMIT_TOTAL_CACHE_SECONDS = 10
LIMIT_TOTAL_CACHE_BELOW = 0.8
# Stripe's answer to an identifier it has already accepted.
DUPLICATE_IDENTIFIER_MESSAGE = "An event already exists with identifier"


class UnknownMeter(ValueError):
    """A meter that the catalog does not declare."""


class UsageLimitReached(Exception):
    """The team's plan caps ``meter`` at ``limit`` units a period and they are used."""

    def __init__(self, *, meter: str, limit: int, used: int, period_end: datetime) -> None:
        super().__init__(f"{meter}: {used} of {limit} used")
        self.meter = meter
        self.limit = limit
        self.used = used
        self.period_end = period_end

    @property
    def user_message(self) -> str:
        name = get_catalog().meters[self.meter].name
        return _(
            "Your plan includes %(limit)s %(name)s per billing period and they are all used. "
            "The limit resets on %(date)s; upgrade to raise it."
        ) % {"limit": f"{self.limit:,}", "name": name, "date": f"{self.period_end:%Y-%m-%d}"}


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@cache_in_process
def _increment_sql() -> str:
    q = connection.ops.quote_name
    table = q(UsageBucket._meta.db_table)
    units, dirty, team, meter, minute = (
        q(str(getattr(UsageBucket._meta.get_field(name), "column", name)))
        for name in ("units", "dirty", "team", "meter", "minute")
    )
    # Only the model's own table and column names are formatted in; values are parameters.
    return (
        f"UPDATE {table} SET {units} = {units} + %s, {dirty} = %s"  # noqa: S608
        f" WHERE {team} = %s AND {meter} = %s AND {minute} = %s"
    )


def _increment(team_id: int, meter: str, minute: datetime, units: int) -> bool:
    """``units = units + n`` on the bucket, if it exists. Plain SQL: on the request path
    the ORM's query building cost more than the statement (bench/usage_bench.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _increment_sql(),
            [units, True, team_id, meter, connection.ops.adapt_datetimefield_value(minute)],
        )
        return bool(cursor.rowcount)


def usage_record(
    team: Team | int, meter: str, units: int = 1, *, at: datetime | None = None
) -> None:
    """Record ``units`` of ``meter`` for ``team``: durable when this returns."""
    if meter not in get_catalog().meters:
        raise UnknownMeter(meter)
    if units <= 0:
        raise ValueError("usage units must be positive")
    team_id = team if isinstance(team, int) else team.pk
    minute = _minute(at or timezone.now())
    if _increment(team_id, meter, minute, units):
        return
    try:
        with transaction.atomic():
            UsageBucket.objects.create(team_id=team_id, meter=meter, minute=minute, units=units)
    except IntegrityError:
        # Another request created this minute's bucket first.
        _increment(team_id, meter, minute, units)


def _period_total_for_limit(window: selectors.UsageWindow, meter: str, limit: int) -> int:
    # In process memory, not Redis: a Redis round trip cost more than the check.
    key = (window.team_id, meter, window.counted_from)
    cached = selectors.local_cache.get(key)
    if cached is not None:
        return int(cached)
    total = selectors.usage_total(team_id=window.team_id, meter=meter, since=window.counted_from)
    if total < limit * LIMIT_TOTAL_CACHE_BELOW:
        selectors.local_cache.set(key, total, LIMIT_TOTAL_CACHE_SECONDS)
    return total


def usage_limit_check(team: Team, meter: str, units: int = 1) -> None:
    """Raise ``UsageLimitReached`` when ``units`` more would pass the plan's hard limit."""
    window = selectors.usage_window(team=team)
    limit = window.hard_limit(meter)
    if limit is None:
        return
    used = _period_total_for_limit(window, meter, limit)
    if used + units > limit:
        raise UsageLimitReached(meter=meter, limit=limit, used=used, period_end=window.period_end)


def usage_limit_reached(team: Team, meter: str) -> bool:
    """Whether one more unit of ``meter`` would pass the plan's hard limit (for pages)."""
    try:
        usage_limit_check(team, meter, 1)
    except UsageLimitReached:
        return True
    return False


def usage_consume(team: Team, meter: str, units: int = 1) -> None:
    """Check the hard limit, then record: what a metered action calls before it runs."""
    usage_limit_check(team, meter, units)
    usage_record(team, meter, units)


# --- Reporting ---------------------------------------------------------------------


@dataclass
class ReportResult:
    events_sent: int = 0
    units_sent: int = 0
    duplicates: int = 0  # resends Stripe already had: counted once, as intended
    units_dropped: int = 0
    units_unbilled: int = 0
    failed: int = 0  # buckets Stripe refused for another reason (left to retry)
    rate_limited: bool = False
    stripe_unavailable: bool = False
    more: bool = False  # a full batch: call again
    team_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Target:
    """Where a team's units go: its customer, the meters it is billed for, its time."""

    customer_id: str | None
    billed: dict[str, str]  # meter -> Stripe event_name
    clock_now: datetime | None  # the customer's test-clock time, if on one


def _customer_clock_now(client: stripe.StripeClient, customer_id: str) -> datetime | None:
    customer = Customer.objects.filter(id=customer_id).only("stripe_data").first()
    clock_id = (customer.stripe_data or {}).get("test_clock") if customer else None
    if not clock_id:
        return None
    clock = client.v1.test_helpers.test_clocks.retrieve(str(clock_id))
    return datetime.fromtimestamp(clock.frozen_time, tz=UTC)


def _target_for(client: stripe.StripeClient, team_id: int) -> _Target:
    from teams.models import Team

    team = Team.objects.get(pk=team_id)
    window = selectors.usage_window_compute(team=team)
    meters = get_catalog().meters
    billed = {meter: meters[meter].event_name for meter in window.metered}
    if not billed or not window.customer_id:
        return _Target(customer_id=None, billed={}, clock_now=None)
    return _Target(
        customer_id=window.customer_id,
        billed=billed,
        clock_now=_customer_clock_now(client, window.customer_id),
    )


def _event_timestamp(bucket: UsageBucket, target: _Target, now: datetime) -> datetime:
    """When the units happened, in the customer's time.

    The last second of the bucket's minute: at a period boundary inside the
    minute the units land in the open period rather than one already invoiced.
    A customer on a test clock lives at the clock's time, so its units are
    stamped with the clock's "now".
    """
    if target.clock_now is not None:
        return target.clock_now
    return min(bucket.minute + timedelta(seconds=59), now)


def _freeze_delta(bucket: UsageBucket) -> UsageBucket | None:
    """Fix the delta to send (``pending_units``) unless a previous run already did."""
    if bucket.pending_units is None:
        UsageBucket.objects.filter(pk=bucket.pk, pending_units__isnull=True).update(
            pending_units=F("units")
        )
    return UsageBucket.objects.filter(pk=bucket.pk).first()


def _settle(bucket: UsageBucket, *, dropped: bool = False) -> None:
    """The pending delta is done with (accepted, or dropped): never send it again."""
    pending = bucket.pending_units
    extra: dict[str, Any] = {}
    if dropped:
        extra["dropped_units"] = F("dropped_units") + (pending or 0) - bucket.reported_units
    UsageBucket.objects.filter(pk=bucket.pk, pending_units=pending).update(
        reported_units=pending, pending_units=None, **extra
    )
    # A recording that landed meanwhile set dirty again with its increment: keep it.
    UsageBucket.objects.filter(pk=bucket.pk, units=F("reported_units")).update(dirty=False)


def _mark_unbilled(bucket: UsageBucket) -> int:
    """Units of a meter the team's plan does not bill: kept for the usage page only."""
    delta = bucket.units - bucket.reported_units
    UsageBucket.objects.filter(pk=bucket.pk, pending_units__isnull=True).update(
        unbilled_units=F("unbilled_units") + F("units") - F("reported_units"),
        reported_units=F("units"),
    )
    UsageBucket.objects.filter(pk=bucket.pk, units=F("reported_units")).update(dirty=False)
    return delta


def meter_event_identifier(bucket: UsageBucket) -> str:
    """Deterministic: the bucket and the bounds of the delta (``reported``, ``pending``]."""
    prefix = settings.USAGE_IDENTIFIER_PREFIX
    return f"{prefix}-{bucket.pk}-{bucket.reported_units}-{bucket.pending_units}"


def _send(client: stripe.StripeClient, bucket: UsageBucket, target: _Target, ts: datetime) -> bool:
    """Send the bucket's pending delta; True when Stripe has it (now or from before)."""
    assert target.customer_id is not None
    assert bucket.pending_units is not None
    try:
        client.v1.billing.meter_events.create(
            {
                "event_name": target.billed[bucket.meter],
                "identifier": meter_event_identifier(bucket),
                "timestamp": int(ts.timestamp()),
                "payload": {
                    "stripe_customer_id": target.customer_id,
                    "value": str(bucket.pending_units - bucket.reported_units),
                },
            }
        )
    except stripe.InvalidRequestError as exc:
        if DUPLICATE_IDENTIFIER_MESSAGE in str(exc.user_message or exc):
            return False
        raise
    return True


class _StopBatch(Exception):
    """Stripe is rate limiting or unavailable: stop and let the task retry later."""


def _report_bucket(
    client: stripe.StripeClient, bucket: UsageBucket, target: _Target, result: ReportResult
) -> None:
    if bucket.meter not in target.billed:
        result.units_unbilled += _mark_unbilled(bucket)
        return
    frozen = _freeze_delta(bucket)
    if frozen is None or frozen.pending_units is None:
        return
    delta = frozen.pending_units - frozen.reported_units
    now = target.clock_now or timezone.now()
    ts = _event_timestamp(frozen, target, timezone.now())
    if delta <= 0:
        _settle(frozen)
        return
    if ts < now - STRIPE_EVENT_MAX_AGE + EVENT_AGE_MARGIN:
        logger.warning(
            "usage dropped: %s units of %s for team %s (customer %s) recorded %s are older "
            "than Stripe's 35-day window",
            delta, frozen.meter, frozen.team_id, target.customer_id, frozen.minute,
        )  # fmt: skip
        _settle(frozen, dropped=True)
        result.units_dropped += delta
        return
    try:
        fresh = _send(client, frozen, target, ts)
    except stripe.RateLimitError as exc:
        result.rate_limited = True
        raise _StopBatch from exc
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        result.stripe_unavailable = True
        logger.warning("usage report: Stripe unavailable (%s); will retry", exc.__class__.__name__)
        raise _StopBatch from exc
    except stripe.StripeError as exc:
        result.failed += 1
        logger.error(
            "usage report refused for bucket %s (team %s, customer %s): %s",
            frozen.pk, frozen.team_id, target.customer_id, exc,
        )  # fmt: skip
        return
    _settle(frozen)
    if fresh:
        result.events_sent += 1
        result.units_sent += delta
    else:
        result.duplicates += 1
    logger.info(
        "usage reported: %s %s for customer %s (bucket %s, identifier %s%s)",
        delta, frozen.meter, target.customer_id, frozen.pk, meter_event_identifier(frozen),
        "" if fresh else ", already accepted",
    )  # fmt: skip


def usage_report_pending(*, batch_size: int | None = None) -> ReportResult:
    """Send one batch of unreported units to Stripe; see the module docstring."""
    batch_size = batch_size or settings.USAGE_REPORT_BATCH_SIZE
    # With the default 60 s a bucket waits for its minute to end; 0 reports it at once
    # (units recorded after that make the next delta).
    settled_before = timezone.now() - timedelta(seconds=settings.USAGE_REPORT_SETTLE_SECONDS)
    buckets = selectors.buckets_to_report(settled_before=settled_before, limit=batch_size)
    result = ReportResult(more=len(buckets) >= batch_size)
    client = stripe_client()
    targets: dict[int, _Target] = {}
    try:
        for bucket in buckets:
            if bucket.team_id not in targets:
                targets[bucket.team_id] = _target_for(client, bucket.team_id)
            _report_bucket(client, bucket, targets[bucket.team_id], result)
            result.team_ids.add(bucket.team_id)
    except _StopBatch:
        result.more = False
    return result


def usage_thresholds_check(*, team_ids: set[int]) -> int:
    """Send ``usage_threshold_reached`` for each threshold a team has reached this period.

    Receivers act once per ``key`` (notifications: a unique constraint), so
    this may run after every report; returns how many signals went out.
    """
    from teams.models import Team

    sent = 0
    for team in Team.objects.filter(pk__in=team_ids):
        window = selectors.usage_window_compute(team=team)
        totals = selectors.usage_totals(team_id=team.pk, since=window.counted_from)
        for meter, used in totals.items():
            for kind, percent, threshold in selectors.thresholds_reached(window, meter, used):
                period = f"{window.period_start:%Y%m%dT%H%M%S}"
                key = f"usage:{team.pk}:{meter}:{period}:{kind}:{percent}"
                if cache.get(key):
                    continue
                usage_threshold_reached.send(
                    sender=UsageBucket,
                    team_id=team.pk,
                    meter=meter,
                    percent=percent,
                    used=used,
                    threshold=threshold,
                    threshold_kind=kind,
                    period_start=window.period_start,
                    key=key,
                )
                cache.set(key, True, 86400)
                sent += 1
    return sent


# --- Invoice preview -----------------------------------------------------------------

PREVIEW_CACHE_SECONDS = 60


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int


@dataclass(frozen=True)
class InvoicePreview:
    total: int
    currency: str
    lines: tuple[PreviewLine, ...]
    period_end: datetime | None


def invoice_preview(*, window: selectors.UsageWindow) -> InvoicePreview | None:
    """The team's next invoice as Stripe previews it (``POST /v1/invoices/create_preview``),
    cached briefly; None when there is no subscription or Stripe fails (logged)."""
    if not window.subscription_id or not window.customer_id:
        return None
    key = f"usage:preview:{window.subscription_id}"
    cached = cache.get(key)
    if isinstance(cached, InvoicePreview):
        return cached
    try:
        invoice = stripe_client().v1.invoices.create_preview(
            {"customer": window.customer_id, "subscription": window.subscription_id}
        )
    except stripe.StripeError as exc:
        logger.warning(
            "invoice preview unavailable for subscription %s: %s", window.subscription_id, exc
        )
        return None
    preview = InvoicePreview(
        total=int(invoice.total or 0),
        currency=str(invoice.currency),
        lines=tuple(
            PreviewLine(description=str(line.description or ""), amount=int(line.amount or 0))
            for line in invoice.lines.data
        ),
        period_end=datetime.fromtimestamp(invoice.period_end, tz=UTC)
        if invoice.period_end
        else None,
    )
    cache.set(key, preview, PREVIEW_CACHE_SECONDS)
    return preview
