"""A customer has one live subscription: the duplicates are canceled, exactly once.

Checkout already refuses a second subscription and expires a customer's other
open sessions (services.checkout_session_create). A duplicate can still appear
(two tabs paid within a second, the API, the dashboard); the webhook pipeline
calls ``subscription_duplicates_resolve`` for every event that can add a live
subscription, and this module keeps one by a rule that does not depend on the
order events arrive in, settles the money of the others and cancels them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import stripe
from django.db import IntegrityError, transaction
from djstripe.models import Customer

from .. import selectors
from .. import status as subscription_status
from ..models import DuplicateSubscription
from ..services import _as_dict, _key, stripe_client, subscription_sync_data
from ..signals import subscription_duplicates_canceled
from ..status import SubscriptionStatus

logger = logging.getLogger(__name__)

DUPLICATE_CANCELLATION_COMMENT = selectors.DUPLICATE_CANCELLATION_COMMENT
_PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}


def _yearly_amount(sub: dict[str, Any]) -> Fraction:
    """What the subscription costs per year before discounts (minor units)."""
    total = Fraction(0)
    for item in (sub.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        recurring = price.get("recurring") or {}
        per_year = _PER_YEAR.get(str(recurring.get("interval")), 0)
        count = int(recurring.get("interval_count") or 1)
        unit = price.get("unit_amount_decimal") or price.get("unit_amount")
        amount = Fraction(Decimal(str(unit))) if unit is not None else Fraction(0)
        quantity = item.get("quantity")
        total += amount * (quantity if quantity is not None else 1) * Fraction(per_year, count)
    return total


def subscription_keeper_key(sub: dict[str, Any]) -> tuple[bool, Fraction, int, str]:
    """The order that decides which of a customer's live subscriptions stays (smallest).

    In good standing (active or trialing) before past_due, unpaid or paused;
    then the most valuable (price x quantity per year, before discounts); then
    the oldest (the later one is the duplicate); then the smaller id. It reads
    only the subscriptions themselves, so every worker, whatever event it
    processes and in whatever order the events arrive, picks the same one.
    """
    return (
        # In good standing (ACCESS) is kept over past_due, unpaid and paused.
        sub.get("status") not in subscription_status.ACCESS,
        -_yearly_amount(sub),
        int(sub.get("created") or 0),
        str(sub.get("id") or ""),
    )


def _is_duplicate_candidate(sub: dict[str, Any]) -> bool:
    # One already scheduled to end will not bill again: not a duplicate to cancel.
    return (
        sub.get("status") in subscription_status.DUPLICATE_CANDIDATES
        and not sub.get("cancel_at_period_end")
        and not sub.get("cancel_at")
    )


def _lookup_key(sub: dict[str, Any]) -> str:
    items = (sub.get("items") or {}).get("data") or []
    price = items[0].get("price") if items else None
    return str((price or {}).get("lookup_key") or "") if isinstance(price, dict) else ""


def _customer_now(client: stripe.StripeClient, sub: dict[str, Any]) -> int:
    """The subscription's "now": its test clock's time, else the wall clock."""
    clock = sub.get("test_clock")
    clock_id = clock.get("id") if isinstance(clock, dict) else clock
    if clock_id:
        return int(client.v1.test_helpers.test_clocks.retrieve(str(clock_id)).frozen_time)
    return int(time.time())


def _unused_share(sub: dict[str, Any], now: int, amount: int) -> int:
    """``amount`` times the unused share of the current period, rounded half up."""
    items = (sub.get("items") or {}).get("data") or []
    starts = [int(i["current_period_start"]) for i in items if i.get("current_period_start")]
    ends = [int(i["current_period_end"]) for i in items if i.get("current_period_end")]
    if not starts or not ends or max(ends) <= min(starts):
        return amount
    start, end = min(starts), max(ends)
    unused = Fraction(min(max(end - now, 0), end - start), end - start)
    return min(amount, int(amount * unused + Fraction(1, 2)))


@dataclass(frozen=True)
class _Money:
    refund_id: str = ""
    refunded_amount: int = 0
    currency: str = ""
    voided_invoice_id: str = ""


def _duplicate_settle_money(
    client: stripe.StripeClient, sub: dict[str, Any], *, kept_id: str
) -> _Money:
    """Refund the unused part of the duplicate's latest paid invoice, or void its open one.

    Runs before the cancellation, so a failure here leaves the subscription live
    and the next attempt starts again. A refund this service already made for
    the subscription (found by its metadata) is not made twice, even after
    Stripe forgot the idempotency key.
    """
    invoice = sub.get("latest_invoice")
    if isinstance(invoice, str):
        invoice = _as_dict(client.v1.invoices.retrieve(invoice))
    if not isinstance(invoice, dict):
        return _Money()
    currency = str(invoice.get("currency") or "")
    if invoice.get("status") == "open":
        client.v1.invoices.void_invoice(
            str(invoice["id"]), {}, {"idempotency_key": _key("duplicate-void", invoice["id"])}
        )
        return _Money(currency=currency, voided_invoice_id=str(invoice["id"]))
    amount_paid = int(invoice.get("amount_paid") or 0)
    if invoice.get("status") != "paid" or amount_paid <= 0:
        return _Money(currency=currency)  # a trial's 0 invoice: nothing was paid
    payments = client.v1.invoice_payments.list({"invoice": str(invoice["id"]), "status": "paid"})
    intent_ids = [
        str(payment["payment"]["payment_intent"])
        for payment in map(_as_dict, payments.auto_paging_iter())
        if (payment.get("payment") or {}).get("payment_intent")
    ]
    if not intent_ids:
        logger.warning("duplicate %s: paid invoice %s has no payment", sub["id"], invoice["id"])
        return _Money(currency=currency)
    intent_id = intent_ids[0]
    for earlier in client.v1.refunds.list({"payment_intent": intent_id, "limit": 100}).data:
        if (_as_dict(earlier).get("metadata") or {}).get("duplicate_subscription") == sub["id"]:
            return _Money(earlier.id, int(earlier.amount), currency)
    amount = _unused_share(sub, _customer_now(client, sub), amount_paid)
    if amount <= 0:
        return _Money(currency=currency)
    refund = client.v1.refunds.create(
        {
            "payment_intent": intent_id,
            "amount": amount,
            "reason": "duplicate",
            "metadata": {"duplicate_subscription": str(sub["id"]), "kept_subscription": kept_id},
        },
        {"idempotency_key": _key("duplicate-refund", sub["id"], invoice["id"])},
    )
    return _Money(refund.id, int(refund.amount), currency)


def _duplicate_cancel(client: stripe.StripeClient, sub_id: str, *, kept_id: str) -> Any:
    """Cancel now, without a proration credit (the refund above returns the money)."""
    try:
        return client.v1.subscriptions.cancel(
            sub_id,
            {
                "prorate": False,
                "invoice_now": False,
                "cancellation_details": {
                    "comment": f"{DUPLICATE_CANCELLATION_COMMENT} {kept_id}",
                },
            },
        )
    except stripe.InvalidRequestError:
        # Canceled meanwhile (by the customer, or an earlier attempt of ours): done.
        current = client.v1.subscriptions.retrieve(sub_id)
        if current.status not in subscription_status.ENDED:
            raise
        return current


def _record_canceled_duplicate(
    *,
    customer_id: str,
    kept: dict[str, Any],
    duplicate: dict[str, Any],
    stripe_event_id: str,
    livemode: bool,
) -> DuplicateSubscription | None:
    """Insert the row that makes this worker the one resolving ``duplicate``.

    None when it exists: another delivery resolved it, or another worker is
    resolving it now (on PostgreSQL the insert waits for that worker's
    transaction, then fails on the unique constraint).
    """
    try:
        with transaction.atomic():
            return DuplicateSubscription.objects.create(
                customer_id=customer_id,
                kept_subscription_id=str(kept["id"]),
                canceled_subscription_id=str(duplicate["id"]),
                kept_lookup_key=_lookup_key(kept),
                canceled_lookup_key=_lookup_key(duplicate),
                status_before=str(duplicate.get("status") or ""),
                stripe_event_id=stripe_event_id,
                livemode=livemode,
            )
    except IntegrityError:
        logger.info(
            "duplicate %s of customer %s already resolved (event %s)",
            duplicate["id"],
            customer_id,
            stripe_event_id,
        )
        return None


def subscription_duplicates_resolve(
    *, customer_id: str, stripe_event_id: str, livemode: bool = False
) -> list[DuplicateSubscription]:
    """Keep one live subscription of the customer; cancel the others at once.

    Called by the webhook pipeline for every event that can add a live
    subscription. Reads the customer's subscriptions from Stripe (not from
    the mirror, which a concurrent worker may not have committed yet), keeps
    the best by ``subscription_keeper_key`` and, for each other live one:
    records it (a unique row: exactly once), refunds the unused part of its
    latest paid invoice or voids its open invoice, cancels it without a
    proration credit, and mirrors it. Then ``subscription_duplicates_canceled``
    is sent once for all of them (notifications tell the user and staff).

    A subscription that an earlier attempt canceled as a duplicate but did not
    record (the worker died between Stripe and the commit) is recorded and
    announced now, without calling Stripe again.
    """
    client = stripe_client()
    try:
        page = client.v1.subscriptions.list(
            {
                "customer": customer_id,
                "status": "all",
                "limit": 100,
                "expand": ["data.latest_invoice"],
            }
        )
        subs = [_as_dict(s) for s in page.auto_paging_iter()]
    except stripe.StripeError:
        logger.warning("listing subscriptions of customer %s failed", customer_id)
        raise
    live = [s for s in subs if _is_duplicate_candidate(s)]
    orphans = _canceled_unrecorded(subs)
    if len(live) < 2 and not orphans:
        return []
    kept = min(live or subs, key=subscription_keeper_key)
    duplicates = sorted((s for s in live if s["id"] != kept["id"]), key=lambda s: str(s["id"]))
    created: list[DuplicateSubscription] = []
    for duplicate in duplicates:
        row = _record_canceled_duplicate(
            customer_id=customer_id,
            kept=kept,
            duplicate=duplicate,
            stripe_event_id=stripe_event_id,
            livemode=livemode,
        )
        if row is None:
            continue
        money = _duplicate_settle_money(client, duplicate, kept_id=str(kept["id"]))
        canceled = _duplicate_cancel(client, str(duplicate["id"]), kept_id=str(kept["id"]))
        row.refund_id = money.refund_id
        row.refunded_amount = money.refunded_amount
        row.currency = money.currency
        row.voided_invoice_id = money.voided_invoice_id
        row.save(update_fields=["refund_id", "refunded_amount", "currency", "voided_invoice_id"])
        subscription_sync_data(data=canceled)
        logger.warning(
            "duplicate subscription %s of customer %s canceled (kept %s, was %s, refunded %s %s,"
            " voided %s) event=%s",
            duplicate["id"],
            customer_id,
            kept["id"],
            row.status_before,
            row.refunded_amount,
            row.currency,
            row.voided_invoice_id or "-",
            stripe_event_id,
        )
        created.append(row)
    for orphan in orphans:
        kept_id = (
            str((orphan.get("cancellation_details") or {}).get("comment") or "")
            .removeprefix(DUPLICATE_CANCELLATION_COMMENT)
            .strip()
        )
        kept_sub = next((s for s in subs if s["id"] == kept_id), kept)
        row = _record_canceled_duplicate(
            customer_id=customer_id,
            kept=kept_sub,
            duplicate=orphan,
            stripe_event_id=stripe_event_id,
            livemode=livemode,
        )
        if row is not None:
            row.status_before = SubscriptionStatus.CANCELED
            row.save(update_fields=["status_before"])
            created.append(row)
    if created:
        customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
        subscription_duplicates_canceled.send(
            sender=DuplicateSubscription,
            resolutions=created,
            team_id=customer.subscriber_id if customer is not None else None,
            stripe_event_id=stripe_event_id,
            livemode=livemode,
        )
    return created


def _canceled_unrecorded(subs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Subscriptions we canceled as duplicates (by their comment) that have no row yet."""
    marked = [
        s
        for s in subs
        if s.get("status") == SubscriptionStatus.CANCELED
        and str((s.get("cancellation_details") or {}).get("comment") or "").startswith(
            DUPLICATE_CANCELLATION_COMMENT
        )
    ]
    if not marked:
        return []
    recorded = set(
        DuplicateSubscription.objects.filter(
            canceled_subscription_id__in=[s["id"] for s in marked]
        ).values_list("canceled_subscription_id", flat=True)
    )
    return [s for s in marked if s["id"] not in recorded]
