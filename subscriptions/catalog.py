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
TAX_BEHAVIORS = frozenset({"inclusive", "exclusive", "unspecified"})


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

    @property
    def is_free(self) -> bool:
        return not self.prices

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
        return min(candidates, key=lambda p: min(x.amount for x in p.prices), default=None)


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
