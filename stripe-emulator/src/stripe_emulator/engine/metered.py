"""Metered prices billed in arrears: a period's meter usage priced per unit or by tiers.

docs.stripe.com/billing/subscriptions/usage-based (meters, pricing models)
and docs.stripe.com/products-prices/pricing-models#tiered-pricing: the
usage aggregated by the price's meter for the subscription's customer over
the period is the line's quantity; `transform_quantity` divides it (rounding
`up` or `down`) before pricing; `graduated` tiers price each unit at the tier
it falls in, `volume` tiers price every unit at the tier the total falls in,
each tier adding its `flat_amount` (graduated: every tier reached; volume:
the one tier). `transform_quantity` cannot be combined with tiers.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from .common import DAY, JSONDict
from .pricing import tiered_amount
from .usage import meter_usage


def check_price_params(params: JSONDict) -> None:
    """POST /v1/prices: the 400s of tier and transform settings."""
    if params.get("transform_quantity") and params.get("tiers"):
        raise invalid_request(
            "You may only specify one of these parameters: tiers, transform_quantity.",
            param="transform_quantity",
        )
    tiers = params.get("tiers") or []
    if tiers and tiers[-1].get("up_to") != "inf":
        raise invalid_request(
            "The last tier must have `up_to` set to `inf`.",
            param=f"tiers[{len(tiers) - 1}][up_to]",
        )


def period_usage(ctx: Ctx, price: JSONDict, customer_id: str, start: int, end: int) -> Decimal:
    """The price's meter's aggregated usage for the customer in [start, end)."""
    meter = str((price.get("recurring") or {}).get("meter"))
    return Decimal(str(meter_usage(ctx, meter, customer_id, start, end)))


def billed_quantity(price: JSONDict, usage: Decimal) -> Decimal:
    """The usage after `transform_quantity` (divide, then round up or down)."""
    transform = price.get("transform_quantity")
    if not transform or not transform.get("divide_by"):
        return usage
    rounding = ROUND_CEILING if transform.get("round") == "up" else ROUND_FLOOR
    return (usage / Decimal(int(transform["divide_by"]))).quantize(Decimal(1), rounding=rounding)


def usage_amount(price: JSONDict, usage: Decimal) -> int:
    """What `usage` units of a metered price cost for one period, in minor units."""
    qty = billed_quantity(price, usage)
    if price.get("billing_scheme") == "tiered":
        total = tiered_amount(price.get("_tiers") or [], str(price.get("tiers_mode")), qty)
    else:
        unit: Any = price.get("unit_amount_decimal") or price.get("unit_amount") or 0
        total = qty * Decimal(str(unit))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# "Must be within the past 35 calendar days or up to 5 minutes in the future"
# (API reference, meter events: `timestamp`).
EVENT_MAX_AGE = 35 * DAY
EVENT_MAX_AHEAD = 5 * 60


def check_event_timestamp(ctx: Ctx, customer_id: str, timestamp: int) -> None:
    """A meter event's `timestamp` against Stripe's window, measured from the
    customer's business time (its test clock's `frozen_time`, if any)."""
    now = ctx.now_for_customer(customer_id)
    if timestamp < now - EVENT_MAX_AGE:
        raise invalid_request(
            f"The timestamp must be within the past 35 calendar days; {timestamp} is older.",
            param="timestamp",
        )
    if timestamp > now + EVENT_MAX_AHEAD:
        raise invalid_request(
            f"The timestamp must not be more than 5 minutes in the future; {timestamp} is later.",
            param="timestamp",
        )


def duplicate_identifier_error(identifier: str) -> Exception:
    """Stripe refuses an `identifier` it has already seen (it "will enforce
    uniqueness within a rolling period of at least 24 hours"); this is the
    message Stripe answers (quoted in langfuse/langfuse#16292)."""
    return invalid_request(
        f"An event already exists with identifier {identifier}.", param="identifier"
    )
