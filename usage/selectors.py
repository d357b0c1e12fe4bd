"""Usage reads: a team's billing period, what it used in it, and what that costs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from subscriptions import selectors as billing
from subscriptions.catalog import MeteredPriceSpec, UsageLimitSpec, get_catalog
from subscriptions.status import LIVE as LIVE_STATUSES

from .models import UsageBucket, UsagePeriod

if TYPE_CHECKING:
    from teams.models import Team

# A team's period is looked up at most this often per billing version.
WINDOW_CACHE_SECONDS = 60
# Notifications go out at these shares of an included amount or a hard limit.
THRESHOLD_PERCENTS = (80, 100)


@dataclass(frozen=True)
class UsageWindow:
    """The team's current billing period and what its plan says about usage."""

    team_id: int
    period_start: datetime  # the customer's time (its test clock's, if any)
    period_end: datetime
    # Wall-clock time from which recorded buckets count in this period.
    counted_from: datetime
    plan_key: str
    # meter -> the metered price the subscription bills it with.
    metered: dict[str, MeteredPriceSpec] = field(default_factory=dict)
    subscription_id: str | None = None
    customer_id: str | None = None

    def limit(self, meter: str) -> UsageLimitSpec | None:
        return get_catalog().plan(self.plan_key).usage_limits.get(meter)

    def hard_limit(self, meter: str) -> int | None:
        limit = self.limit(meter)
        return limit.units if limit is not None and limit.kind == "hard" else None


def _month_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _counted_from(team_id: int, period_start: datetime, now: datetime) -> datetime:
    """The first bucket (a minute) that counts in the period starting ``period_start``."""
    if period_start <= now:
        # The bucket of the minute the period starts in counts, as the reporter
        # stamps its units with the minute's last second (inside the period).
        return period_start.replace(second=0, microsecond=0)
    # A test clock ahead of real time: count from the first time we see this period.
    row, _created = UsagePeriod.objects.get_or_create(
        team_id=team_id,
        period_start=period_start,
        defaults={"wall_start": now.replace(second=0, microsecond=0)},
    )
    return row.wall_start


def _metered_items(subscription: Any) -> dict[str, MeteredPriceSpec]:
    catalog = get_catalog()
    metered: dict[str, MeteredPriceSpec] = {}
    for item in ((subscription.stripe_data or {}).get("items") or {}).get("data") or []:
        price = item.get("price")
        if not isinstance(price, dict):
            continue
        spec = catalog.metered_price(price.get("lookup_key") or "")
        if spec is not None:
            metered[spec.meter] = spec
    return metered


def usage_window_compute(*, team: Team, now: datetime | None = None) -> UsageWindow:
    """The team's period from the mirror: its live subscription's, else the calendar month."""
    now = now or timezone.now()
    subscription = billing.subscription_current(team=team)
    state = billing.subscription_state(subscription) if subscription else None
    if (
        subscription is not None
        and state is not None
        and state.status in LIVE_STATUSES
        and state.current_period_start
        and state.current_period_end
    ):
        return UsageWindow(
            team_id=team.pk,
            period_start=state.current_period_start,
            period_end=state.current_period_end,
            counted_from=_counted_from(team.pk, state.current_period_start, now),
            plan_key=billing.plan_key_for_state(state) or get_catalog().free_plan.key,
            metered=_metered_items(subscription),
            subscription_id=state.id,
            customer_id=state.customer_id,
        )
    start, end = _month_window(now)
    customer = billing.customer_for_team(team=team)
    return UsageWindow(
        team_id=team.pk,
        period_start=start,
        period_end=end,
        counted_from=start,
        plan_key=get_catalog().free_plan.key,
        customer_id=customer.id if customer else None,
    )


class LocalCache:
    """A small time-limited cache in process memory (the hot path of limit checks)."""

    max_entries = 10_000

    def __init__(self) -> None:
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, key: Any, value: Any, ttl: float) -> None:
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        self._data.clear()


local_cache = LocalCache()


def usage_window(*, team: Team) -> UsageWindow:
    """``usage_window_compute``, cached per team and billing version (webhooks bump it)
    in this process, then in Redis."""
    key = f"usage:window:{team.pk}:{team.billing_version}"
    window = local_cache.get(key)
    if isinstance(window, UsageWindow) and window.period_end > timezone.now():
        return window
    window = cache.get(key)
    if not (isinstance(window, UsageWindow) and window.period_end > timezone.now()):
        window = usage_window_compute(team=team)
        cache.set(key, window, WINDOW_CACHE_SECONDS)
    local_cache.set(key, window, WINDOW_CACHE_SECONDS)
    return window


def usage_total(*, team_id: int, meter: str, since: datetime) -> int:
    """Units of ``meter`` the team recorded since ``since`` (wall clock)."""
    total = UsageBucket.objects.filter(team_id=team_id, meter=meter, minute__gte=since).aggregate(
        total=Sum("units")
    )["total"]
    return int(total or 0)


def usage_totals(*, team_id: int, since: datetime) -> dict[str, int]:
    """Units per meter since ``since`` (meters without usage are absent)."""
    rows = (
        UsageBucket.objects.filter(team_id=team_id, minute__gte=since)
        .values("meter")
        .annotate(total=Sum("units"))
    )
    return {row["meter"]: int(row["total"] or 0) for row in rows}


def usage_daily(*, team_id: int, meter: str, since: datetime) -> dict[Any, int]:
    """Units per UTC day since ``since``."""
    rows = (
        UsageBucket.objects.filter(team_id=team_id, meter=meter, minute__gte=since)
        .annotate(day=TruncDate("minute", tzinfo=UTC))
        .values("day")
        .annotate(total=Sum("units"))
        .order_by("day")
    )
    return {row["day"]: int(row["total"] or 0) for row in rows}


@dataclass(frozen=True)
class MeterUsage:
    key: str
    name: str
    used: int
    included: int | None  # None: the plan does not bill this meter
    limit: UsageLimitSpec | None
    price: MeteredPriceSpec | None
    overage_units: int
    overage_amount: Decimal  # minor units, before Stripe rounds the invoice line
    daily: dict[Any, int]

    @property
    def overage_minor(self) -> int:
        """The overage in whole minor units, rounded as Stripe rounds an invoice line."""
        return int(self.overage_amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def percent_of_limit(self) -> int | None:
        base = self.limit.units if self.limit else None
        return min(100, self.used * 100 // base) if base else None


def meter_usage(window: UsageWindow, meter: str, used: int) -> MeterUsage:
    """What ``used`` units of ``meter`` mean for the team's plan this period."""
    spec = get_catalog().meters[meter]
    price = window.metered.get(meter)
    if price is None:
        included, overage_units = None, 0
    else:
        # Pay as you go (unit_amount) bills every unit; tiers bill past the included ones.
        included = price.included
        overage_units = used if price.unit_amount is not None else max(0, used - included)
    return MeterUsage(
        key=meter,
        name=spec.name,
        used=used,
        included=included,
        limit=window.limit(meter),
        price=price,
        overage_units=overage_units,
        overage_amount=price.amount_for(used) if price else Decimal(0),
        daily=usage_daily(team_id=window.team_id, meter=meter, since=window.counted_from),
    )


def thresholds_reached(window: UsageWindow, meter: str, used: int) -> list[tuple[str, int, int]]:
    """(kind, percent, threshold) reached by ``used``: of the included units, of a hard limit."""
    bases: list[tuple[str, int]] = []
    price = window.metered.get(meter)
    if price is not None and price.included:
        bases.append(("included", price.included))
    hard = window.hard_limit(meter)
    if hard:
        bases.append(("hard_limit", hard))
    return [
        (kind, percent, base)
        for kind, base in bases
        for percent in THRESHOLD_PERCENTS
        if used * 100 >= base * percent
    ]


def buckets_to_report(*, settled_before: datetime, limit: int) -> list[UsageBucket]:
    """Buckets with unreported units: half-sent ones first (resume), then oldest first."""
    half_sent = UsageBucket.objects.filter(dirty=True, pending_units__isnull=False)
    resume = list(half_sent.order_by("minute", "pk")[:limit])
    rest = limit - len(resume)
    if rest <= 0:
        return resume
    fresh = UsageBucket.objects.filter(
        dirty=True, pending_units__isnull=True, minute__lt=settled_before
    ).order_by("minute", "pk")[:rest]
    return resume + list(fresh)


@dataclass(frozen=True)
class MeterHealth:
    key: str
    name: str
    units: int
    reported: int
    dropped: int
    unbilled: int

    @property
    def waiting(self) -> int:
        return self.units - self.reported


@dataclass(frozen=True)
class UsageHealth:
    since: datetime
    meters: list[MeterHealth]
    overage: int  # minor units, this period's usage charges of the teams with usage
    teams: int


def _metered_by_team(team_ids: set[int]) -> dict[int, dict[str, MeteredPriceSpec]]:
    """Each team's metered prices, from its newest live subscription (one query)."""
    from djstripe.models import Subscription

    found: dict[int, dict[str, MeteredPriceSpec]] = {}
    subscriptions = (
        Subscription.objects.filter(customer__subscriber_id__in=team_ids)
        .select_related("customer")
        .order_by("-created")
    )
    for subscription in subscriptions:
        team_id = subscription.customer.subscriber_id
        status = (subscription.stripe_data or {}).get("status")
        if team_id not in found and status in LIVE_STATUSES:
            found[team_id] = _metered_items(subscription)
    return found


def usage_health(*, now: datetime | None = None) -> UsageHealth:
    """Staff: this calendar month's units per meter (reported, waiting, dropped, not
    billed) and what that usage bills at each team's metered prices, all teams together.
    Two queries, whatever the number of teams."""
    now = now or timezone.now()
    since, _end = _month_window(now)
    rows = (
        UsageBucket.objects.filter(minute__gte=since)
        .values("team_id", "meter")
        .annotate(
            units=Sum("units"),
            reported=Sum("reported_units"),
            dropped=Sum("dropped_units"),
            unbilled=Sum("unbilled_units"),
        )
        .order_by()
    )
    sums: dict[str, dict[str, int]] = {}
    per_team: dict[int, dict[str, int]] = {}
    for row in rows:
        meter_sums = sums.setdefault(row["meter"], {})
        for name in ("units", "reported", "dropped", "unbilled"):
            meter_sums[name] = meter_sums.get(name, 0) + int(row[name] or 0)
        per_team.setdefault(row["team_id"], {})[row["meter"]] = int(row["units"] or 0)
    meters = [
        MeterHealth(
            key=key,
            name=spec.name,
            units=sums.get(key, {}).get("units", 0),
            reported=sums.get(key, {}).get("reported", 0),
            dropped=sums.get(key, {}).get("dropped", 0),
            unbilled=sums.get(key, {}).get("unbilled", 0),
        )
        for key, spec in get_catalog().meters.items()
    ]
    overage = Decimal(0)
    metered = _metered_by_team(set(per_team)) if per_team else {}
    for team_id, units in per_team.items():
        for meter, price in metered.get(team_id, {}).items():
            overage += price.amount_for(units.get(meter, 0))
    return UsageHealth(
        since=since,
        meters=meters,
        overage=int(overage.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
        teams=len(per_team),
    )
