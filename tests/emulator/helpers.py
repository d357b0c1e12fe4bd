"""Small helpers for driving the emulator with the stock SDK (test clocks, prices)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import stripe
from stripe_emulator import EmulatorServer

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def helper(emulator: EmulatorServer, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST to a `/_emulator/...` test helper; (status, JSON body)."""
    req = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def price(amount: int, interval: str = "month", name: str = "Plan") -> stripe.Price:
    product = stripe.Product.create(name=name)
    return stripe.Price.create(
        product=product.id, unit_amount=amount, currency="usd", recurring={"interval": interval}
    )


def clock_customer(
    frozen_time: int = T0, card: str = "pm_card_visa"
) -> tuple[stripe.test_helpers.TestClock, stripe.Customer, str]:
    """A test clock, a customer on it and a default card."""
    clock = stripe.test_helpers.TestClock.create(frozen_time=frozen_time)
    customer = stripe.Customer.create(email="a@example.com", test_clock=clock.id)
    pm = stripe.PaymentMethod.attach(card, customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    return clock, customer, pm.id


def advance(clock: stripe.test_helpers.TestClock, to: int) -> None:
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to)
    assert stripe.test_helpers.TestClock.retrieve(clock.id).status == "ready"
