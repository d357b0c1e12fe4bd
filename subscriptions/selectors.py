"""Reads of the local Stripe mirror. Nothing here calls Stripe.

These functions hide dj-stripe's ``stripe_data`` JSON from the rest of the
code: callers get typed values, not raw Stripe dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from djstripe.models import Customer, Invoice, Price, Subscription

from .catalog import get_catalog
from .models import CustomerEntitlements

# Most relevant first when a customer has several subscriptions.
_STATUS_RANK = {
    "active": 0,
    "trialing": 1,
    "past_due": 2,
    "unpaid": 3,
    "paused": 4,
    "incomplete": 5,
    "canceled": 6,
    "incomplete_expired": 7,
}


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


@dataclass(frozen=True)
class SubscriptionState:
    """What the app needs to know about one subscription, read from the mirror."""

    id: str
    customer_id: str
    status: str
    cancel_at_period_end: bool
    cancel_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_end: datetime | None
    ended_at: datetime | None
    price_id: str | None
    price_lookup_key: str | None
    product_id: str | None
    latest_invoice_id: str | None
    default_payment_method_id: str | None


def customer_for_user(*, user: Any) -> Customer | None:
    """The user's Stripe customer in the current mode (test or live), if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Customer.objects.filter(
            subscriber=user, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True
        )
        .order_by("-created")
        .first()
    )


def subscription_state(subscription: Subscription) -> SubscriptionState:
    data: dict[str, Any] = subscription.stripe_data or {}
    items = (data.get("items") or {}).get("data") or []
    # Item-level periods since API 2025-03-31.basil; the latest end wins.
    starts = [i.get("current_period_start") for i in items if i.get("current_period_start")]
    ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
    first = items[0] if items else {}
    price = first.get("price") or {}
    if isinstance(price, str):
        price = {"id": price}
    product = price.get("product")
    latest_invoice = data.get("latest_invoice")
    default_pm = data.get("default_payment_method")
    customer = data.get("customer")
    return SubscriptionState(
        id=subscription.id,
        customer_id=customer if isinstance(customer, str) else (customer or {}).get("id", ""),
        status=str(data.get("status") or ""),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        cancel_at=_ts(data.get("cancel_at")),
        current_period_start=_ts(max(starts)) if starts else None,
        current_period_end=_ts(max(ends)) if ends else None,
        trial_end=_ts(data.get("trial_end")),
        ended_at=_ts(data.get("ended_at")),
        price_id=price.get("id"),
        price_lookup_key=price.get("lookup_key"),
        product_id=product if isinstance(product, str) else (product or {}).get("id"),
        latest_invoice_id=latest_invoice
        if isinstance(latest_invoice, str) or latest_invoice is None
        else latest_invoice.get("id"),
        default_payment_method_id=default_pm
        if isinstance(default_pm, str) or default_pm is None
        else default_pm.get("id"),
    )


def subscriptions_for_customer(*, customer: Customer) -> list[Subscription]:
    subs = list(Subscription.objects.filter(customer=customer))
    return sorted(
        subs,
        key=lambda s: (
            _STATUS_RANK.get(str(s.stripe_data.get("status")), 9),
            -s.created.timestamp() if s.created else 0,
        ),
    )


def subscription_current(*, user: Any) -> Subscription | None:
    """The user's most relevant subscription (live ones before ended ones), or None."""
    customer = customer_for_user(user=user)
    if customer is None:
        return None
    subs = subscriptions_for_customer(customer=customer)
    return subs[0] if subs else None


def invoice_past_due_since(*, invoice_id: str | None) -> datetime | None:
    """When the unpaid invoice was first attempted: the start of a past_due grace period."""
    if not invoice_id:
        return None
    invoice = Invoice.objects.filter(id=invoice_id).only("stripe_data").first()
    if invoice is None:
        return None
    data = invoice.stripe_data or {}
    transitions = data.get("status_transitions") or {}
    return _ts(transitions.get("finalized_at")) or _ts(data.get("created"))


def entitlement_keys(*, customer_id: str) -> frozenset[str] | None:
    """Feature lookup keys Stripe last reported for the customer; None if never synced."""
    row = CustomerEntitlements.objects.filter(customer_id=customer_id).first()
    return None if row is None else frozenset(row.lookup_keys)


def price_lookup_key_for(*, price_id: str | None) -> str | None:
    if not price_id:
        return None
    price = Price.objects.filter(id=price_id).only("stripe_data").first()
    return None if price is None else price.stripe_data.get("lookup_key")


def plan_key_for_state(state: SubscriptionState) -> str | None:
    """The catalog plan of a subscription, by its price's lookup key."""
    lookup_key = state.price_lookup_key or price_lookup_key_for(price_id=state.price_id)
    if not lookup_key:
        return None
    plan = get_catalog().plan_for_lookup_key(lookup_key)
    return plan.key if plan else None
