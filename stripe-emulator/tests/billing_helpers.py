"""Shared helpers for the billing-engine tests (real SDK over HTTP)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import stripe

from stripe_emulator import EmulatorServer

# 2026-01-01T00:00:00Z: a 31-day January makes period maths easy to check.
T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
DAY = 86400
HOUR = 3600


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def helper(emulator: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        emulator.url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def price(amount: int, interval: str = "month", name: str = "Plan") -> stripe.Price:
    product = stripe.Product.create(name=name)
    return stripe.Price.create(
        product=product.id,
        unit_amount=amount,
        currency="usd",
        recurring={"interval": interval},
    )


def clock_customer(
    frozen_time: int = T0, card: str | None = "pm_card_visa"
) -> tuple[stripe.test_helpers.TestClock, stripe.Customer, str | None]:
    """A test clock, a customer on it and (optionally) a default card."""
    clock = stripe.test_helpers.TestClock.create(frozen_time=frozen_time)
    customer = stripe.Customer.create(email="a@example.com", test_clock=clock.id)
    pm_id = None
    if card:
        pm = stripe.PaymentMethod.attach(card, customer=customer.id)
        pm_id = pm.id
        stripe.Customer.modify(
            customer.id,
            invoice_settings={"default_payment_method": pm.id},
        )
    return clock, customer, pm_id


def advance(clock: stripe.test_helpers.TestClock, to: int) -> None:
    done = stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to)
    assert done.id == clock.id
    assert stripe.test_helpers.TestClock.retrieve(clock.id).status == "ready"


def event_types(since: int = 0, customer: str | None = None) -> list[str]:
    """Event types in causal (creation) order."""
    events = list(stripe.Event.list(limit=100).auto_paging_iter())
    events.reverse()
    out: list[str] = []
    for evt in events:
        obj = evt.data.object
        if customer is not None:
            owner = getattr(obj, "customer", None)
            if owner is not None and owner != customer:
                continue
        if evt.created >= since:
            out.append(evt.type)
    return out


def invoices_of(sub_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    found = list(stripe.Invoice.list(subscription=sub_id, limit=100).auto_paging_iter())
    return list(reversed(found))
