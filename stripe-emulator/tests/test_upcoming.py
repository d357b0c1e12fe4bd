"""`invoice.upcoming`: days before a renewal, the invoice it will make, without an id.

Monthly subscriptions from 2026-01-01: the renewal is Feb 1, so with the
default 3 days the event comes on Jan 29, then Feb 26 for Mar 1.
"""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer
from stripe_emulator.engine import clocks

from .billing_helpers import DAY, HOUR, T0, advance, clock_customer, helper, price, ts


def _upcoming(sub_id: str) -> list[stripe.Event]:
    found = list(stripe.Event.list(type="invoice.upcoming", limit=100).auto_paging_iter())
    return [
        e
        for e in reversed(found)
        if e.data.object["parent"]["subscription_details"]["subscription"] == sub_id
    ]


def test_sent_three_days_before_each_renewal_once(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1500).id}])
    advance(clock, ts(2026, 1, 28, 23))
    assert _upcoming(sub.id) == []
    advance(clock, ts(2026, 1, 29, 1))
    [event] = _upcoming(sub.id)
    assert event.created == ts(2026, 1, 29)
    assert event["request"]["id"] is None  # automatic
    inv = event.data.object
    assert "id" not in inv.to_dict()  # "will not have an invoice ID"
    assert inv.object == "invoice"
    assert inv.billing_reason == "upcoming"
    assert inv.amount_due == 1500
    assert inv.customer == cus.id
    [line] = inv.lines.data
    assert (line.period.start, line.period.end) == (ts(2026, 2, 1), ts(2026, 3, 1))
    # Still exactly one after the renewal; the next comes on Feb 26 for Mar 1.
    advance(clock, ts(2026, 2, 25))
    assert len(_upcoming(sub.id)) == 1
    advance(clock, ts(2026, 3, 5))
    events = _upcoming(sub.id)
    assert [e.created for e in events] == [ts(2026, 1, 29), ts(2026, 2, 26)]
    assert stripe.Invoice.list(subscription=sub.id).data[0].amount_paid == 1500


def test_days_before_is_a_setting(emulator: EmulatorServer) -> None:
    assert helper(emulator, "GET", "/_emulator/billing/config")["upcoming_renewal_days"] == 3
    helper(emulator, "POST", "/_emulator/billing/config", {"upcoming_renewal_days": 7})
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1500).id}])
    advance(clock, ts(2026, 1, 26))
    assert [e.created for e in _upcoming(sub.id)] == [ts(2026, 1, 25)]


def test_setting_zero_turns_it_off(emulator: EmulatorServer) -> None:
    helper(emulator, "POST", "/_emulator/billing/config", {"upcoming_renewal_days": 0})
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1500).id}])
    advance(clock, ts(2026, 2, 2))
    assert _upcoming(sub.id) == []


def test_not_sent_for_send_invoice_or_ending_subscriptions(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    invoiced = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1500).id}],
        collection_method="send_invoice",
        days_until_due=30,
    )
    ending = stripe.Subscription.create(customer=cus.id, items=[{"price": price(900).id}])
    stripe.Subscription.modify(ending.id, cancel_at_period_end=True)
    advance(clock, ts(2026, 1, 31))
    assert _upcoming(invoiced.id) == []
    assert _upcoming(ending.id) == []


def test_trial_end_is_announced(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(2000).id}], trial_period_days=14
    )
    advance(clock, T0 + 12 * DAY)
    [event] = _upcoming(sub.id)
    assert event.created == T0 + 11 * DAY
    assert event.data.object.amount_due == 2000


def test_shows_metered_usage_so_far(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    meter = stripe.billing.Meter.create(
        display_name="API calls", event_name="api_call", default_aggregation={"formula": "sum"}
    )
    product = stripe.Product.create(name="API")
    usage = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=2,
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
    )
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": usage.id}])
    advance(clock, ts(2026, 1, 20))
    stripe.billing.MeterEvent.create(
        event_name="api_call",
        payload={"stripe_customer_id": cus.id, "value": "300"},
        timestamp=ts(2026, 1, 19),
    )
    advance(clock, ts(2026, 1, 29, 12))
    [event] = _upcoming(sub.id)
    assert event.data.object.amount_due == 600


def test_real_time_pass_sends_it_once(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a test clock the background billing pass sends it on real time
    (here `real_now` is moved 28 days ahead for the billing pass)."""
    cus = stripe.Customer.create(email="real@example.com")
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1500).id}], default_payment_method=pm.id
    )
    end = sub["items"].data[0].current_period_end
    later = end - 3 * DAY + HOUR
    monkeypatch.setattr(clocks, "real_now", lambda: later)
    helper(emulator, "POST", "/_emulator/billing/tick", {})
    helper(emulator, "POST", "/_emulator/billing/tick", {})
    [event] = _upcoming(sub.id)
    assert event.created == end - 3 * DAY
    assert stripe.Subscription.retrieve(sub.id).status == "active"
