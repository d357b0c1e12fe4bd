"""The plan catalog, loaded from ``catalog.toml`` and validated once.

Plans, prices (by lookup key), features and quotas are declared in that file;
``billing_bootstrap`` makes Stripe match it and the access policy reads quotas
from it. Nothing here talks to Stripe or the database.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
FREE_PLAN_KEY = "free"
INTERVALS = ("day", "week", "month", "year")
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
class Catalog:
    currency: str
    features: dict[str, FeatureSpec]
    plans: tuple[PlanSpec, ...]

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
                seats=_seats(raw.get("seats"), key, bool(prices)),
            )
        )
    keys = [p.key for p in plans]
    if len(keys) != len(set(keys)):
        raise CatalogError("plan keys must be unique")
    if FREE_PLAN_KEY not in keys:
        raise CatalogError(f"the catalog needs a {FREE_PLAN_KEY!r} plan without prices")
    return Catalog(
        currency=str(data.get("currency", "usd")).lower(), features=features, plans=tuple(plans)
    )


@cache
def get_catalog() -> Catalog:
    """The project's catalog (parsed once per process)."""
    with CATALOG_PATH.open("rb") as fh:
        return parse_catalog(tomllib.load(fh))
