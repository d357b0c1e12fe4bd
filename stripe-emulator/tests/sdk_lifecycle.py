"""A subscription lifecycle with whatever stripe-python is installed, no API version pinned.

    python sdk_lifecycle.py http://127.0.0.1:PORT

Run by tests/test_sdk_lifecycle.py with the project's pinned SDK and, in a
throwaway virtualenv, the current release from PyPI. It imports only `stripe`
(no emulator, no test code), so the same file runs unchanged under every SDK
release, and the SDK sends its own pinned `Stripe-Version`. It asserts what
does not depend on the version and prints one JSON document (statuses,
amounts, event types, the `Stripe-Version` of every response) for the test to
check against the version.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import stripe

T0 = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400
HOUR = 3600


class Recorder:
    """Keeps the `Stripe-Version` response header of every call made through it."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.calls = 0

    def __call__(self, obj: Any) -> Any:
        self.calls += 1
        response = obj.last_response
        version = response.headers.get("Stripe-Version", "") if response is not None else ""
        self.versions[version] = self.versions.get(version, 0) + 1
        return obj


def advance(client: stripe.StripeClient, seen: Recorder, clock_id: str, to: int) -> None:
    """Advance a test clock and wait until it is ready, as against Stripe."""
    seen(client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": to}))
    for _ in range(100):
        clock = seen(client.v1.test_helpers.test_clocks.retrieve(clock_id))
        if clock.status == "ready":
            return
        time.sleep(0.05)
    raise AssertionError(f"test clock {clock_id} still {clock.status}")


def invoice_summary(invoice: Any) -> dict[str, Any]:
    return {
        "status": invoice.status,
        "total": invoice.total,
        "amount_paid": invoice.amount_paid,
        "billing_reason": invoice.billing_reason,
        "lines": sorted(line.amount for line in invoice.lines.data),
    }


def run(base_url: str) -> dict[str, Any]:
    client = stripe.StripeClient(
        "sk_test_sdk_lifecycle", base_addresses={"api": base_url}, max_network_retries=2
    )
    seen = Recorder()
    out: dict[str, Any] = {"sdk": stripe.VERSION, "sdk_api_version": stripe.api_version}

    clock = seen(client.v1.test_helpers.test_clocks.create({"frozen_time": T0}))
    customer = seen(
        client.v1.customers.create({"email": "lifecycle@example.com", "test_clock": clock.id})
    )
    card = seen(client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}}))
    card = seen(client.v1.payment_methods.attach(card.id, {"customer": customer.id}))
    assert card.customer == customer.id
    customer = seen(
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
    )
    out["card"] = {"brand": card.card.brand, "last4": card.card.last4}

    product = seen(client.v1.products.create({"name": "Lifecycle plan"}))
    prices = {
        name: seen(
            client.v1.prices.create(
                {
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring": {"interval": "month"},
                    "lookup_key": f"lifecycle_{name}",
                }
            )
        )
        for name, amount in (("basic", 1000), ("pro", 3100))
    }

    # Create with a 7-day trial: trialing, a $0 invoice.
    sub = seen(
        client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": prices["basic"].id}],
                "trial_period_days": 7,
                "expand": ["latest_invoice"],
            }
        )
    )
    out["created"] = {
        "status": sub.status,
        "trial_end": sub.trial_end,
        "invoice": invoice_summary(sub.latest_invoice),
    }

    # The trial ends: the first paid invoice.
    trial_over = T0 + 7 * DAY
    advance(client, seen, clock.id, trial_over + HOUR)
    sub = seen(client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]}))
    item = sub["items"].data[0]
    out["after_trial"] = {
        "status": sub.status,
        "period": [item.current_period_start, item.current_period_end],
        "invoice": invoice_summary(sub.latest_invoice),
    }
    paid = seen(client.v1.invoices.list({"subscription": sub.id, "status": "paid"}))
    out["paid_invoices"] = len(paid.data)

    # Upgrade 10 days before the period ends, invoiced and charged at once.
    change_at = item.current_period_end - 10 * DAY
    advance(client, seen, clock.id, change_at)
    sub = seen(
        client.v1.subscriptions.update(
            sub.id,
            {
                "items": [{"id": item.id, "price": prices["pro"].id}],
                "proration_behavior": "always_invoice",
                "expand": ["latest_invoice"],
            },
        )
    )
    out["upgraded"] = {
        "status": sub.status,
        "price": sub["items"].data[0].price.lookup_key,
        "invoice": invoice_summary(sub.latest_invoice),
    }

    # Cancel at period end, then take it back.
    sub = seen(client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True}))
    out["cancel_at_period_end"] = {
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancel_at_is_period_end": sub.cancel_at == sub["items"].data[0].current_period_end,
    }
    sub = seen(client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False}))
    out["renewed"] = {
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancel_at": sub.cancel_at,
    }

    # Cancel now.
    sub = seen(client.v1.subscriptions.cancel(sub.id))
    out["canceled"] = {"status": sub.status, "ended_at_is_now": sub.ended_at == change_at}

    # A trial without a card pauses at its end; resume after adding one.
    cardless = seen(
        client.v1.customers.create({"email": "cardless@example.com", "test_clock": clock.id})
    )
    trial = seen(
        client.v1.subscriptions.create(
            {
                "customer": cardless.id,
                "items": [{"price": prices["basic"].id}],
                "trial_period_days": 3,
                "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
            }
        )
    )
    advance(client, seen, clock.id, change_at + 3 * DAY + HOUR)
    trial = seen(client.v1.subscriptions.retrieve(trial.id))
    out["paused"] = {
        "status": trial.status,
        # Rendered from 2026-09-30.endive on (versions.CHANGES).
        "has_status_details": "status_details" in trial,
    }
    card2 = seen(client.v1.payment_methods.attach("pm_card_mastercard", {"customer": cardless.id}))
    seen(client.v1.subscriptions.update(trial.id, {"default_payment_method": card2.id}))
    trial = seen(client.v1.subscriptions.resume(trial.id, {"expand": ["latest_invoice"]}))
    out["resumed"] = {"status": trial.status, "invoice": invoice_summary(trial.latest_invoice)}

    # Every event of the run, oldest first.
    page = seen(client.v1.events.list({"limit": 100}))
    events = list(page.auto_paging_iter())
    events.reverse()
    out["events"] = [event.type for event in events]
    out["event_api_versions"] = sorted({event.api_version for event in events})

    out["stripe_versions"] = seen.versions
    out["calls"] = seen.calls
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1])))
