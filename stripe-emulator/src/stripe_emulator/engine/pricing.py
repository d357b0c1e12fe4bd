"""Prices: per-unit and tiered amounts, plans, inline `price_data`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from .common import JSONDict


def price_product(price: JSONDict) -> str:
    product = price.get("product")
    return str(product["id"] if isinstance(product, dict) else product)


def product_name(ctx: Ctx, price: JSONDict) -> str:
    product = ctx.find("product", price_product(price))
    return str(product["name"]) if product else price_product(price)


def pricing_of(price: JSONDict) -> JSONDict:
    return {
        "price_details": {"price": price["id"], "product": price_product(price)},
        "type": "price_details",
        "unit_amount_decimal": price.get("unit_amount_decimal")
        or str(price.get("unit_amount") or 0),
    }


def item_quantity(item: JSONDict) -> int:
    """A licensed item's quantity (0 is a valid quantity; absent means 1)."""
    qty = item.get("quantity")
    return 1 if qty is None else int(qty)


def checked_quantity(value: Any, param: str) -> int:
    """A subscription item's quantity: 0 or more.

    Zero is a valid quantity (github.com/stripe/openapi/issues/93: the
    subscription item endpoints accept it); below the minimum Stripe answers
    `parameter_invalid_integer` "This value must be greater than or equal to
    N." with the parameter's name (the same issue quotes it for Checkout).
    """
    qty = int(value)
    if qty < 0:
        raise invalid_request(
            "This value must be greater than or equal to 0.",
            param=param,
            code="parameter_invalid_integer",
        )
    return qty


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def price_amount(price: JSONDict, quantity: int) -> int:
    """The amount in minor units of `quantity` units of a price for one period.

    Per-unit prices use `unit_amount_decimal` (fractions of a cent allowed)
    after `transform_quantity`; tiered prices sum their tiers (`graduated`)
    or price every unit at the tier the quantity falls in (`volume`), flat
    amounts included. Rounded half up at the end.
    """
    qty = quantity
    transform = price.get("transform_quantity")
    if transform and transform.get("divide_by"):
        whole, rest = divmod(qty, int(transform["divide_by"]))
        qty = whole + (1 if rest and transform.get("round") == "up" else 0)
    if price.get("billing_scheme") == "tiered":
        total = tiered_amount(price.get("_tiers") or [], str(price.get("tiers_mode")), qty)
    else:
        total = _decimal(price.get("unit_amount_decimal") or price.get("unit_amount")) * qty
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tiered_amount(tiers: list[JSONDict], mode: str, qty: int | Decimal) -> Decimal:
    """`qty` units at `graduated` or `volume` tiers (flat amounts included), unrounded."""
    if qty <= 0 or not tiers:
        return Decimal(0)

    def unit(tier: JSONDict) -> Decimal:
        return _decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount"))

    def flat(tier: JSONDict) -> Decimal:
        return _decimal(tier.get("flat_amount_decimal") or tier.get("flat_amount"))

    if mode == "volume":
        for tier in tiers:
            if tier.get("up_to") is None or qty <= int(tier["up_to"]):
                return unit(tier) * qty + flat(tier)
        return Decimal(0)
    total, below = Decimal(0), Decimal(0)
    for tier in tiers:
        upper = Decimal(qty if tier.get("up_to") is None else min(qty, int(tier["up_to"])))
        if upper <= below:
            break
        total += unit(tier) * (upper - below) + flat(tier)
        below = upper
    return total


def plan_of(price: JSONDict) -> JSONDict:
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": bool(price.get("active", True)),
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price.get("billing_scheme", "per_unit"),
        "created": price.get("created", 0),
        "currency": price["currency"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(price.get("metadata") or {}),
        "meter": recurring.get("meter"),
        "nickname": price.get("nickname"),
        "product": price_product(price),
        "tiers_mode": price.get("tiers_mode"),
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def recurring_price(ctx: Ctx, entry: JSONDict, param: str) -> JSONDict:
    if entry.get("price"):
        price = ctx.get("price", entry["price"], param=f"{param}[price]")
    elif entry.get("price_data"):
        from .catalog import price_create

        data = dict(entry["price_data"])
        price = price_create(ctx, data)
    else:
        raise invalid_request(
            "Missing required param: price.", param=f"{param}[price]", code="parameter_missing"
        )
    if not price.get("recurring"):
        raise invalid_request(
            f"The price specified is set to `type=one_time` but this field only accepts prices "
            f"with `type=recurring`: {price['id']}",
            param=f"{param}[price]",
        )
    if not price.get("active", True):
        raise invalid_request(
            "The price specified is inactive. This field only accepts active prices: "
            f"{price['id']}",
            param=f"{param}[price]",
        )
    # Embed the price as Stripe does, without includable-only fields; the
    # tiers ride along privately for the amount maths.
    embedded = {k: v for k, v in price.items() if k not in ("currency_options", "tiers")}
    if price.get("billing_scheme") == "tiered":
        embedded["_tiers"] = price.get("tiers") or []
    return embedded
