"""Dahlia-shaped ``data.object`` payloads built from Stripe's own sample objects.

``fixtures3.json`` (shipped in the emulator package,
``stripe-emulator/src/stripe_emulator/reference/``) gives the field set and nesting
(item periods, ``invoice.parent``); its placeholder values are replaced with coherent
ones here.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.conformance import fixtures

NOW = 1_790_000_000  # 2026-09-21
DAY = 86_400


def _sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(fixtures()[name])


def price(lookup_key: str | None, *, amount: int = 900, interval: str = "month") -> dict[str, Any]:
    obj = _sample("price")
    obj.update(
        id=f"price_{lookup_key or 'adhoc'}",
        lookup_key=lookup_key,
        nickname=None,
        unit_amount=amount,
        unit_amount_decimal=str(amount),
        currency="usd",
        recurring={
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
    )
    return obj


def subscription(
    *,
    status: str = "active",
    lookup_key: str | None = "starter_monthly",
    period_end: int = NOW + 30 * DAY,
    **fields: Any,
) -> dict[str, Any]:
    obj = _sample("subscription")
    item = obj.get("items", {}).get("data", [{}])[0]
    item.update(
        id="si_test",
        subscription="sub_test",
        price=price(lookup_key),
        quantity=1,
        current_period_start=period_end - 30 * DAY,
        current_period_end=period_end,
    )
    item.pop("plan", None)  # not in dahlia subscription items
    obj.update(
        id="sub_test",
        customer="cus_test",
        status=status,
        items={"object": "list", "data": [item], "has_more": False},
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        trial_start=None,
        trial_end=None,
        pause_collection=None,
        pending_update=None,
        latest_invoice="in_test",
        start_date=NOW - DAY,
        created=NOW - DAY,
        livemode=False,
    )
    obj.update(fields)
    return obj


def items_of(sub: dict[str, Any]) -> dict[str, Any]:
    """``previous_attributes.items`` as Stripe sends it: the whole list as it was."""
    return copy.deepcopy(sub["items"])


def invoice(
    *,
    status: str = "paid",
    amount_due: int = 900,
    amount_paid: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    obj = _sample("invoice")
    paid = amount_due if amount_paid is None and status == "paid" else (amount_paid or 0)
    obj.update(
        id="in_test",
        customer="cus_test",
        status=status,
        currency="usd",
        number="ACME-0001",
        amount_due=amount_due,
        amount_paid=paid,
        amount_remaining=amount_due - paid,
        billing_reason="subscription_cycle",
        collection_method="charge_automatically",
        hosted_invoice_url="https://invoice.stripe.com/i/acct_test/in_test",
        invoice_pdf="https://pay.stripe.com/invoice/acct_test/in_test/pdf",
        next_payment_attempt=None,
        attempt_count=1,
        attempted=True,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": "sub_test"},
        },
        livemode=False,
    )
    obj.update(fields)
    return obj


def dispute(*, status: str = "warning_needs_response", **fields: Any) -> dict[str, Any]:
    obj = _sample("dispute")
    obj.update(id="dp_test", charge="ch_test", amount=2900, currency="usd", reason="fraudulent")
    obj["status"] = status
    obj.update(fields)
    return obj


def refunded_charge(*, amount: int = 2900, amount_refunded: int = 2900) -> dict[str, Any]:
    obj = _sample("charge")
    obj.update(
        id="ch_test",
        customer="cus_test",
        amount=amount,
        amount_captured=amount,
        amount_refunded=amount_refunded,
        currency="usd",
        refunded=amount_refunded >= amount,
        refunds={
            "object": "list",
            "has_more": False,
            "data": [
                {
                    **_sample("refund"),
                    "id": "re_test",
                    "amount": amount_refunded,
                    "charge": "ch_test",
                    "reason": "requested_by_customer",
                    "created": NOW,
                }
            ],
        },
    )
    obj.pop("source", None)
    return obj
