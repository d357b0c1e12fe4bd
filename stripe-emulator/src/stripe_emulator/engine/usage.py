"""Metered usage: what a customer reported to a meter in a period."""

from __future__ import annotations

from ..context import Ctx


def meter_usage(ctx: Ctx, meter_id: str, customer_id: str, start: int, end: int) -> float:
    """Aggregated usage in [start, end) per the meter's formula (sum/count/last)."""
    meter = ctx.get("billing.meter", meter_id)
    events = ctx.store.all(
        "billing.meter_event",
        lambda e: (
            e["_meter"] == meter_id
            and e["_customer"] == customer_id
            and start <= e["timestamp"] < end
        ),
    )
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return float(len(events))
    if formula == "last":
        return float(max(events, key=lambda e: e["timestamp"])["_value"]) if events else 0.0
    return float(sum(e["_value"] for e in events))
