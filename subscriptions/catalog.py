"""The plan catalog, loaded from ``catalog.toml`` and validated once.

Plans, prices (by lookup key), features and quotas are declared in that file;
``billing_bootstrap`` makes Stripe match it and the access policy reads quotas
from it. Nothing here talks to Stripe or the database.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
FREE_PLAN_KEY = "free"
INTERVALS = ("day", "week", "month", "year")
TAX_BEHAVIORS = frozenset({"inclusive", "exclusive", "unspecified"})
# Stripe's proration_behavior values for a subscription item update
# (https://docs.stripe.com/api/subscription_items/update).
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
SEAT_KEYS = frozenset({"minimum", "maximum", "proration_on_add", "proration_on_remove"})


# metadata.source of every Stripe object billing_bootstrap creates from this file.
CATALOG_TAG = "saas-catalog"


class CatalogError(ValueError):
    """The catalog file is inconsistent."""


@dataclass(frozen=True)
class FeatureSpec:
    key: str  # the Stripe entitlement feature lookup_key
    name: str


@dataclass(frozen=True)
class PriceSpec:
    lookup_key: str
    amount: int  # minor units
    interval: str
    interval_count: int = 1
    # Stripe's price tax_behavior: whether the amount includes tax ("inclusive") or tax is
    # added on top ("exclusive"); Stripe Tax needs one of the two on every price it taxes.
    tax_behavior: str = "unspecified"
    # Lookup keys of the metered prices Checkout adds beside this one.
    metered: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeterSpec:
    key: str  # what app code records: usage_record(team, "api_calls", 1)
    event_name: str  # the Stripe Billing Meter's event_name
    name: str


@dataclass(frozen=True)
class MeteredPriceSpec:
    """A price on a meter, billed in arrears: graduated tiers (``included`` units at 0,
    then ``overage_per_1000``) or ``unit_amount`` per unit (pay as you go)."""

    lookup_key: str
    meter: str
    interval: str
    included: int = 0
    overage_per_1000: int | None = None  # minor units per 1,000 units past `included`
    unit_amount: int | None = None  # minor units per unit, no units included
    tax_behavior: str = "unspecified"  # as PriceSpec's; the catalog's default unless set

    def amount_for(self, units: int) -> Decimal:
        """What ``units`` cost in one period, in minor units (Stripe rounds the line)."""
        if self.unit_amount is not None:
            return Decimal(self.unit_amount) * units
        over = max(0, units - self.included)
        return Decimal(self.overage_per_1000 or 0) * over / 1000

    def stripe_pricing(self) -> dict[str, Any]:
        """The ``billing_scheme`` / ``tiers`` / ``unit_amount`` params of Prices.create."""
        if self.unit_amount is not None:
            return {"billing_scheme": "per_unit", "unit_amount": self.unit_amount}
        # Tiers take a per-unit price: "per 1,000" is that amount / 1,000 (decimal cents).
        per_unit = Decimal(self.overage_per_1000 or 0) / 1000
        return {
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": self.included, "unit_amount": 0},
                {"up_to": "inf", "unit_amount_decimal": format(per_unit.normalize(), "f")},
            ],
        }


@dataclass(frozen=True)
class CreditPackSpec:
    """Prepaid credits sold once (Checkout in payment mode, a one-time price)."""

    lookup_key: str
    name: str
    credits: int  # credits granted when the payment succeeds
    amount: int  # minor units, one-time
    tax_behavior: str = "unspecified"  # as PriceSpec's; the catalog's default unless set


@dataclass(frozen=True)
class UsageLimitSpec:
    meter: str
    units: int  # per billing period
    kind: str  # "hard": refuse past `units`; "soft": allow, bill, warn


@dataclass(frozen=True)
class SeatSpec:
    """A per-seat plan: its price is per unit and the quantity follows the team's members."""

    minimum: int = 1
    maximum: int | None = None  # None: no limit
    # proration_behavior of the quantity update when a seat is added / removed.
    proration_on_add: str = "always_invoice"
    proration_on_remove: str = "create_prorations"

    def clamp(self, seats: int) -> int:
        """``seats`` within the plan's minimum and maximum."""
        seats = max(seats, self.minimum)
        return min(seats, self.maximum) if self.maximum is not None else seats

    def proration_for(self, *, old: int, new: int) -> str:
        return self.proration_on_add if new > old else self.proration_on_remove


@dataclass(frozen=True)
class PlanSpec:
    key: str
    name: str
    description: str
    features: tuple[str, ...]
    # None means unlimited.
    quotas: dict[str, int | None] = field(default_factory=dict)
    prices: tuple[PriceSpec, ...] = ()
    trial_days: int = 0
    trial_requires_payment_method: bool = True
    highlight: bool = False
    usage_limits: dict[str, UsageLimitSpec] = field(default_factory=dict)
    # Set on a per-seat plan (``[plans.seats]`` in the file).
    seats: SeatSpec | None = None

    @property
    def is_free(self) -> bool:
        return not self.prices

    @property
    def is_per_seat(self) -> bool:
        return self.seats is not None

    def quota(self, name: str) -> int | None:
        return self.quotas.get(name)


@dataclass(frozen=True)
class RetentionSpec:
    """The coupon the in-app cancel page offers once (``[retention]`` in the catalog)."""

    coupon: str  # the Stripe coupon id billing_bootstrap creates
    name: str
    percent_off: int
    duration: str  # once | repeating | forever (Stripe's coupon durations)
    duration_in_months: int | None = None


@dataclass(frozen=True)
class Catalog:
    currency: str
    features: dict[str, FeatureSpec]
    plans: tuple[PlanSpec, ...]
    retention: RetentionSpec | None = None
    meters: dict[str, MeterSpec] = field(default_factory=dict)
    metered_prices: dict[str, MeteredPriceSpec] = field(default_factory=dict)
    credit_packs: dict[str, CreditPackSpec] = field(default_factory=dict)

    def credit_pack(self, lookup_key: str) -> CreditPackSpec | None:
        return self.credit_packs.get(lookup_key)

    def metered_price(self, lookup_key: str) -> MeteredPriceSpec | None:
        return self.metered_prices.get(lookup_key)

    @property
    def free_plan(self) -> PlanSpec:
        return self.plan(FREE_PLAN_KEY)

    @property
    def paid_plans(self) -> tuple[PlanSpec, ...]:
        return tuple(p for p in self.plans if not p.is_free)

    def plan(self, key: str) -> PlanSpec:
        for plan in self.plans:
            if plan.key == key:
                return plan
        raise KeyError(key)

    def plan_for_lookup_key(self, lookup_key: str) -> PlanSpec | None:
        for plan in self.plans:
            if any(p.lookup_key == lookup_key for p in plan.prices):
                return plan
        return None

    def price(self, lookup_key: str) -> PriceSpec | None:
        for plan in self.plans:
            for price in plan.prices:
                if price.lookup_key == lookup_key:
                    return price
        return None

    def cheapest_plan_with(self, feature: str) -> PlanSpec | None:
        """The plan to suggest when a user lacks ``feature``."""
        candidates = [p for p in self.paid_plans if feature in p.features]
        # A per-seat plan only after the others: the user who lacks a feature may be
        # alone in a personal team, which cannot take members.
        return min(
            candidates,
            key=lambda p: (p.is_per_seat, min(x.amount for x in p.prices)),
            default=None,
        )


def _quotas(raw: dict[str, Any], plan_key: str) -> dict[str, int | None]:
    quotas: dict[str, int | None] = {}
    for name, value in raw.items():
        if value == "unlimited":
            quotas[name] = None
        elif isinstance(value, int) and value >= 0:
            quotas[name] = value
        else:
            raise CatalogError(f"plan {plan_key}: quota {name} must be >= 0 or 'unlimited'")
    return quotas


def _tax_behavior(value: Any, where: str) -> str:
    if value not in TAX_BEHAVIORS:
        raise CatalogError(f"{where}: tax_behavior must be one of {sorted(TAX_BEHAVIORS)}")
    return str(value)


def _usage_limits(raw: dict[str, Any], plan_key: str) -> dict[str, UsageLimitSpec]:
    limits = {}
    for meter, spec in raw.items():
        kind = spec.get("kind")
        units = spec.get("units")
        if kind not in ("hard", "soft") or not isinstance(units, int) or units < 0:
            raise CatalogError(
                f"plan {plan_key}: usage limit {meter} needs units >= 0 and kind hard or soft"
            )
        limits[meter] = UsageLimitSpec(meter=str(meter), units=units, kind=kind)
    return limits


def _metered_price(raw: dict[str, Any], default_tax_behavior: str) -> MeteredPriceSpec:
    key = str(raw["lookup_key"])
    if raw.get("interval") not in INTERVALS:
        raise CatalogError(f"metered price {key}: bad interval {raw.get('interval')!r}")
    if ("unit_amount" in raw) == ("overage_per_1000" in raw):
        raise CatalogError(f"metered price {key}: give unit_amount or overage_per_1000")
    return MeteredPriceSpec(
        lookup_key=key,
        meter=str(raw["meter"]),
        interval=str(raw["interval"]),
        included=int(raw.get("included", 0)),
        overage_per_1000=int(raw["overage_per_1000"]) if "overage_per_1000" in raw else None,
        unit_amount=int(raw["unit_amount"]) if "unit_amount" in raw else None,
        tax_behavior=_tax_behavior(raw.get("tax_behavior", default_tax_behavior), key),
    )


def _usage_catalog(
    data: dict[str, Any],
) -> tuple[dict[str, MeterSpec], dict[str, MeteredPriceSpec]]:
    meters = {
        key: MeterSpec(key=key, event_name=str(spec["event_name"]), name=str(spec["name"]))
        for key, spec in (data.get("meters") or {}).items()
    }
    prices: dict[str, MeteredPriceSpec] = {}
    for raw in data.get("metered_prices") or []:
        price = _metered_price(
            raw, _tax_behavior(data.get("tax_behavior", "unspecified"), "catalog")
        )
        if price.meter not in meters:
            raise CatalogError(f"metered price {price.lookup_key}: unknown meter {price.meter!r}")
        if price.lookup_key in prices:
            raise CatalogError(f"duplicate metered price lookup_key {price.lookup_key!r}")
        prices[price.lookup_key] = price
    return meters, prices


def _check_usage_references(
    plans: list[PlanSpec], meters: dict[str, MeterSpec], prices: dict[str, MeteredPriceSpec]
) -> None:
    for plan in plans:
        for meter in plan.usage_limits:
            if meter not in meters:
                raise CatalogError(f"plan {plan.key}: usage limit on unknown meter {meter!r}")
        for price in plan.prices:
            for key in price.metered:
                metered = prices.get(key)
                if metered is None:
                    raise CatalogError(f"price {price.lookup_key}: unknown metered price {key!r}")
                # Stripe bills a subscription's items on one cycle.
                if metered.interval != price.interval:
                    raise CatalogError(
                        f"price {price.lookup_key}: {key} bills per {metered.interval}"
                    )


def _credit_packs(
    data: dict[str, Any], default_tax_behavior: str, taken: set[str]
) -> dict[str, CreditPackSpec]:
    packs: dict[str, CreditPackSpec] = {}
    for raw in data.get("credit_packs") or []:
        key = str(raw.get("lookup_key") or "")
        where = f"credit pack {key or '?'}"
        if not key or key in packs or key in taken:
            raise CatalogError(f"{where}: lookup_key missing or used twice")
        if "recurring" in raw or "interval" in raw:
            raise CatalogError(f"{where}: credit packs are sold once (no interval)")
        credits = _int_at_least(raw, "credits", 1, where)
        amount = _int_at_least(raw, "amount", 1, where)
        if credits is None or amount is None:
            raise CatalogError(f"{where}: needs credits >= 1 and amount >= 1")
        packs[key] = CreditPackSpec(
            lookup_key=key,
            name=str(raw.get("name") or f"{credits:,} credits"),
            credits=credits,
            amount=amount,
            tax_behavior=_tax_behavior(raw.get("tax_behavior", default_tax_behavior), key),
        )
    return packs


def _int_at_least(raw: dict[str, Any], name: str, low: int, where: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise CatalogError(f"{where}: {name} must be a whole number >= {low}, not {value!r}")
    return value


def _seats(raw: Any, plan_key: str, has_prices: bool) -> SeatSpec | None:
    """The ``seats`` table of a plan: limits and the proration of seat changes."""
    if raw is None:
        return None
    where = f"plan {plan_key}: seats"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a table, e.g. seats = {{ minimum = 1 }}")
    if not has_prices:
        raise CatalogError(f"{where} need prices: a free plan is not sold per seat")
    unknown = set(raw) - SEAT_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SEAT_KEYS)}")
    minimum = _int_at_least(raw, "minimum", 1, where) or 1
    maximum = _int_at_least(raw, "maximum", 1, where)
    if maximum is not None and maximum < minimum:
        raise CatalogError(f"{where}: maximum {maximum} is below minimum {minimum}")
    spec = SeatSpec(minimum=minimum, maximum=maximum)
    for name in ("proration_on_add", "proration_on_remove"):
        value = raw.get(name, getattr(spec, name))
        if value not in PRORATION_BEHAVIORS:
            raise CatalogError(
                f"{where}: {name} must be one of {', '.join(PRORATION_BEHAVIORS)}, not {value!r}"
            )
    return SeatSpec(
        minimum=minimum,
        maximum=maximum,
        proration_on_add=str(raw.get("proration_on_add", spec.proration_on_add)),
        proration_on_remove=str(raw.get("proration_on_remove", spec.proration_on_remove)),
    )


def parse_catalog(data: dict[str, Any]) -> Catalog:
    features = {
        key: FeatureSpec(key=key, name=str(spec["name"]))
        for key, spec in (data.get("features") or {}).items()
    }
    plans: list[PlanSpec] = []
    seen_lookup_keys: set[str] = set()
    default_tax_behavior = _tax_behavior(data.get("tax_behavior", "unspecified"), "catalog")
    for raw in data.get("plans") or []:
        key = str(raw["key"])
        unknown = set(raw.get("features", [])) - set(features)
        if unknown:
            raise CatalogError(f"plan {key}: unknown features {sorted(unknown)}")
        prices = []
        for p in raw.get("prices", []):
            if p["interval"] not in INTERVALS:
                raise CatalogError(f"plan {key}: bad interval {p['interval']!r}")
            if p["lookup_key"] in seen_lookup_keys:
                raise CatalogError(f"duplicate price lookup_key {p['lookup_key']!r}")
            seen_lookup_keys.add(p["lookup_key"])
            prices.append(
                PriceSpec(
                    lookup_key=str(p["lookup_key"]),
                    amount=int(p["amount"]),
                    interval=str(p["interval"]),
                    interval_count=int(p.get("interval_count", 1)),
                    tax_behavior=_tax_behavior(
                        p.get("tax_behavior", default_tax_behavior), p["lookup_key"]
                    ),
                    metered=tuple(str(k) for k in p.get("metered", [])),
                )
            )
        plans.append(
            PlanSpec(
                key=key,
                name=str(raw["name"]),
                description=str(raw.get("description", "")),
                features=tuple(raw.get("features", [])),
                quotas=_quotas(raw.get("quotas") or {}, key),
                prices=tuple(prices),
                trial_days=int(raw.get("trial_days", 0)),
                trial_requires_payment_method=bool(raw.get("trial_requires_payment_method", True)),
                highlight=bool(raw.get("highlight", False)),
                usage_limits=_usage_limits(raw.get("usage_limits") or {}, key),
                seats=_seats(raw.get("seats"), key, bool(prices)),
            )
        )
    keys = [p.key for p in plans]
    if len(keys) != len(set(keys)):
        raise CatalogError("plan keys must be unique")
    if FREE_PLAN_KEY not in keys:
        raise CatalogError(f"the catalog needs a {FREE_PLAN_KEY!r} plan without prices")
    meters, metered_prices = _usage_catalog(data)
    _check_usage_references(plans, meters, metered_prices)
    credit_packs = _credit_packs(data, default_tax_behavior, seen_lookup_keys | set(metered_prices))
    return Catalog(
        currency=str(data.get("currency", "usd")).lower(),
        features=features,
        plans=tuple(plans),
        meters=meters,
        metered_prices=metered_prices,
        credit_packs=credit_packs,
        retention=_retention(data.get("retention")),
    )


def _retention(raw: dict[str, Any] | None) -> RetentionSpec | None:
    if not raw or not raw.get("coupon"):
        return None
    percent_off = int(raw.get("percent_off", 0))
    duration = str(raw.get("duration", "once"))
    if not 0 < percent_off <= 100:
        raise CatalogError("retention: percent_off must be from 1 to 100")
    if duration not in ("once", "repeating", "forever"):
        raise CatalogError("retention: duration must be once, repeating or forever")
    months = raw.get("duration_in_months")
    if (duration == "repeating") != (months is not None):
        raise CatalogError("retention: duration_in_months goes with duration = 'repeating' only")
    return RetentionSpec(
        coupon=str(raw["coupon"]),
        name=str(raw.get("name") or raw["coupon"]),
        percent_off=percent_off,
        duration=duration,
        duration_in_months=int(months) if months is not None else None,
    )


@cache
def get_catalog() -> Catalog:
    """The project's catalog (parsed once per process)."""
    with CATALOG_PATH.open("rb") as fh:
        return parse_catalog(tomllib.load(fh))
