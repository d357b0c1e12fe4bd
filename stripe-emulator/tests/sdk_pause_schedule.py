"""Pause on demand and a deferred downgrade with a stripe-python that has `pause` (16+).

    python sdk_pause_schedule.py http://127.0.0.1:PORT

Run by tests/test_subscription_pause.py in the cached virtualenv of the
current stripe release (see test_sdk_lifecycle.py). Imports only `stripe`
and sets no API version, so the SDK sends its own pin. Prints one JSON
document for the test to check.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import stripe

T0 = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400


def run(base: str) -> dict[str, Any]:
    # Any: typed against the project's stripe-python 15, which has no `pause`.
    client: Any = stripe.StripeClient("sk_test_sdk_pause", base_addresses={"api": base})
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = client.v1.customers.create({"email": "p@example.com", "test_clock": clock.id})
    card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    product = client.v1.products.create({"name": "Pro"})
    pro, starter = (
        client.v1.prices.create(
            {
                "product": product.id,
                "unit_amount": amount,
                "currency": "usd",
                "recurring": {"interval": "month"},
            }
        )
        for amount in (4900, 1900)
    )
    out: dict[str, Any] = {"sdk": stripe.VERSION, "sdk_api_version": stripe.api_version}

    paused_sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": starter.id}]}
    )
    paused = client.v1.subscriptions.pause(
        paused_sub.id, {"bill_for": {"unused_time_from": {"type": "none"}}}
    )
    out["paused"] = {
        "status": paused.status,
        "reason": paused.status_details.paused.subscription.type,
    }
    resumed = client.v1.subscriptions.resume(
        paused_sub.id, {"billing_cycle_anchor": {"type": "unchanged"}}
    )
    out["resumed"] = {"status": resumed.status, "anchor_kept": resumed.billing_cycle_anchor == T0}

    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": pro.id}]})
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    phase = schedule.phases[0]
    client.v1.subscription_schedules.update(
        schedule.id,
        {
            "phases": [
                {
                    "items": [{"price": pro.id, "quantity": 1}],
                    "start_date": phase.start_date,
                    "end_date": phase.end_date,
                },
                {"items": [{"price": starter.id}], "duration": {"interval": "month"}},
            ]
        },
    )
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": phase.end_date + 7200})
    sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    schedule = client.v1.subscription_schedules.retrieve(schedule.id)
    out["after_period_end"] = {
        "prices": [item.price.id == starter.id for item in sub["items"].data],
        "renewal_amount": sub.latest_invoice.amount_due,
        "schedule_status": schedule.status,
        "pause_schedules": schedule.pause_schedules,
    }
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1])))
