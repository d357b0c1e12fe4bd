"""Metered prices on Billing Meters, billed at period end (stock SDK over HTTP).

Tiered pricing as docs.stripe.com/products-prices/pricing-models documents it
(graduated: each unit at its tier's price plus every reached tier's flat fee;
volume: all units at the price of the tier the total falls in, plus that
tier's flat fee), `transform_quantity` (divide, round up or down), the meter
event timestamp window (35 days back, 5 minutes ahead) and identifiers.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import DAY, T0, advance, clock_customer, invoices_of, ts

GRADUATED = [
    {"up_to": 1000, "unit_amount": 0},  # 1,000 calls included
    {"up_to": 5000, "unit_amount_decimal": "0.5"},  # then half a cent each
    {"up_to": "inf", "unit_amount_decimal": "0.2", "flat_amount": 100},
]
VOLUME = [
    {"up_to": 100, "unit_amount": 10},
    {"up_to": "inf", "unit_amount": 8, "flat_amount": 500},
]


def _meter(event_name: str = "api_call") -> stripe.billing.Meter:
    return stripe.billing.Meter.create(
        display_name="API calls", event_name=event_name, default_aggregation={"formula": "sum"}
    )


def _metered_price(meter: stripe.billing.Meter, **pricing: Any) -> stripe.Price:
    product = stripe.Product.create(name="API")
    return stripe.Price.create(
        product=product.id,
        currency="usd",
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
        **pricing,
    )


def _report(customer: str, value: int, when: int, identifier: str | None = None) -> None:
    extra = {"identifier": identifier} if identifier else {}
    stripe.billing.MeterEvent.create(
        event_name="api_call",
        payload={"stripe_customer_id": customer, "value": str(value)},
        timestamp=when,
        **extra,
    )


def _usage_line(inv: stripe.Invoice, price_id: str) -> stripe.InvoiceLineItem:
    return next(
        ln
        for ln in inv.lines.data
        if ln.pricing and ln.pricing.price_details and ln.pricing.price_details.price == price_id
    )


def _january_usage_billed(pricing: dict[str, Any], usage: list[int]) -> stripe.InvoiceLineItem:
    """Subscribe from Jan 1, report `usage` in January, renew on Feb 1: the usage line."""
    clock, cus, _pm = clock_customer()
    usage_price = _metered_price(_meter(), **pricing)
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": usage_price.id}])
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_due == 0
    advance(clock, ts(2026, 1, 20))
    for i, value in enumerate(usage):
        _report(cus.id, value, ts(2026, 1, 2) + i * DAY)
    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.status == "paid"
    line = _usage_line(renewal, usage_price.id)
    assert (line.period.start, line.period.end) == (T0, ts(2026, 2, 1))
    assert renewal.amount_paid == line.amount
    return line


def test_graduated_tiers_bill_each_unit_at_its_tier(emulator: EmulatorServer) -> None:
    # 6,200 calls: 1,000 x 0 + 4,000 x 0.5 + (1,200 x 0.2 + 100) = 2,340
    line = _january_usage_billed(
        {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": GRADUATED},
        [2000, 4200],
    )
    assert line.quantity == 6200
    assert line.amount == 2340


def test_graduated_tiers_within_the_included_amount_cost_nothing(
    emulator: EmulatorServer,
) -> None:
    line = _january_usage_billed(
        {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": GRADUATED}, [400, 600]
    )
    assert line.quantity == 1000
    assert line.amount == 0


@pytest.mark.parametrize(("usage", "amount"), [([60, 40], 1000), ([100, 50], 1700)])
def test_volume_tiers_price_all_units_at_the_reached_tier(
    emulator: EmulatorServer, usage: list[int], amount: int
) -> None:
    # 100 calls: 100 x 10 = 1,000; 150 calls: 150 x 8 + 500 = 1,700
    line = _january_usage_billed(
        {"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": VOLUME}, usage
    )
    assert line.amount == amount


@pytest.mark.parametrize(("rounding", "amount"), [("up", 600), ("down", 400)])
def test_transform_quantity_packages_usage(
    emulator: EmulatorServer, rounding: str, amount: int
) -> None:
    # $2 per started (up) or complete (down) 1,000 calls; 2,500 calls -> 3 or 2 packages
    line = _january_usage_billed(
        {"unit_amount": 200, "transform_quantity": {"divide_by": 1000, "round": rounding}},
        [1500, 1000],
    )
    assert line.amount == amount


def test_create_preview_shows_usage_so_far(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    usage_price = _metered_price(
        _meter(), billing_scheme="tiered", tiers_mode="graduated", tiers=GRADUATED
    )
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": usage_price.id}])
    advance(clock, ts(2026, 1, 15))
    _report(cus.id, 3000, ts(2026, 1, 14))
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    line = _usage_line(preview, usage_price.id)
    assert line.quantity == 3000
    assert line.amount == 1000  # 2,000 billable calls x 0.5
    _report(cus.id, 1000, ts(2026, 1, 15))
    line = _usage_line(stripe.Invoice.create_preview(subscription=sub.id), usage_price.id)
    assert line.amount == 1500


def test_tiered_metered_price_needs_a_last_infinite_tier(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        _metered_price(
            _meter(),
            billing_scheme="tiered",
            tiers_mode="volume",
            tiers=[{"up_to": 100, "unit_amount": 10}],
        )
    assert exc.value.param == "tiers[0][up_to]"


def test_transform_quantity_cannot_go_with_tiers(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        _metered_price(
            _meter(),
            billing_scheme="tiered",
            tiers_mode="volume",
            tiers=VOLUME,
            transform_quantity={"divide_by": 10, "round": "up"},
        )
    assert exc.value.http_status == 400
    assert exc.value.param == "transform_quantity"


def test_meter_event_timestamp_window(emulator: EmulatorServer) -> None:
    """Within the past 35 calendar days or up to 5 minutes ahead of the
    customer's time (its test clock's here)."""
    now = ts(2026, 3, 1)
    _clock, cus, _pm = clock_customer(frozen_time=now)
    _meter()
    _report(cus.id, 1, now - 35 * DAY)
    _report(cus.id, 1, now + 300)
    for when in (now - 35 * DAY - 1, now + 301):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            _report(cus.id, 1, when)
        assert exc.value.http_status == 400
        assert exc.value.param == "timestamp"
    meter_id = stripe.billing.Meter.list().data[0].id
    summary = stripe.billing.Meter.list_event_summaries(
        meter_id, customer=cus.id, start_time=now - 40 * DAY, end_time=now + DAY
    )
    assert [s.aggregated_value for s in summary.data] == [2.0]


def test_meter_event_identifier_is_used_once(emulator: EmulatorServer) -> None:
    now = ts(2026, 3, 1)
    _clock, cus, _pm = clock_customer(frozen_time=now)
    meter = _meter()
    _report(cus.id, 5, now, identifier="req_42")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        _report(cus.id, 5, now, identifier="req_42")
    assert exc.value.http_status == 400
    assert exc.value.param == "identifier"
    assert "An event already exists with identifier req_42" in str(exc.value.user_message)
    summary = stripe.billing.Meter.list_event_summaries(
        meter.id, customer=cus.id, start_time=now - DAY, end_time=now + DAY
    )
    assert [s.aggregated_value for s in summary.data] == [5.0]  # counted once
