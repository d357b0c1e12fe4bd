"""Billing writes. Every Stripe API call of the app lives in this module.

Stripe calls happen outside database transactions; their results are then
mirrored locally with dj-stripe's ``sync_from_stripe_data``. Every create
carries an idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from djstripe.models import Customer, Price, Subscription

from . import selectors
from .access import access_invalidate
from .catalog import get_catalog
from .models import CustomerEntitlements, DuplicateSubscription, TestClockTime
from .signals import subscription_duplicates_canceled

logger = logging.getLogger(__name__)

# A double click inside this window re-uses the first Checkout Session.
CHECKOUT_IDEMPOTENCY_WINDOW_SECONDS = 600


class BillingError(Exception):
    """A billing action could not be done; ``user_message`` is safe to show."""

    user_message = "Billing is unavailable right now. Please try again in a minute."


class UnknownPrice(BillingError):
    user_message = "That plan does not exist or is no longer sold."


class SessionNotFound(BillingError):
    user_message = "Checkout session not found."


class NoCustomer(BillingError):
    user_message = "You have no billing account yet. Choose a plan first."


class StripeUnavailable(BillingError):
    """Network failure, rate limit or a Stripe-side error: worth a retry."""


class AlreadySubscribed(BillingError):
    user_message = "You have just subscribed. Your plan is on the billing page."


def stripe_client() -> stripe.StripeClient:
    """A client on the configured key, pinned API version and base (emulator or Stripe)."""
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses={"api": base} if base else {},
        max_network_retries=2,
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    """A StripeObject as the JSON Stripe sent (stripe-python 15 objects are not dicts).

    The SDK turns decimal strings into ``Decimal``; they go back to strings so
    the dict can be stored in dj-stripe's JSON columns.
    """
    if isinstance(obj, dict):
        return obj
    result: dict[str, Any] = json.loads(str(obj))  # StripeObject's str() is its JSON
    return result


def _key(*parts: object) -> str:
    """An idempotency key (Stripe allows 255 characters) from stable parts."""
    raw = ":".join(str(p) for p in parts)
    return f"saas-{hashlib.sha256(raw.encode()).hexdigest()[:48]}"


def _translate(exc: stripe.StripeError) -> BillingError:
    if isinstance(exc, stripe.InvalidRequestError):
        error = BillingError(str(exc.user_message or exc))
        error.user_message = "Stripe rejected the request. Please try again or contact support."
        return error
    return StripeUnavailable(str(exc))


# --- Customers -----------------------------------------------------------------


def customer_get_or_create(*, user: Any) -> Customer:
    """The user's Stripe customer, created once (email and user id in metadata).

    With the emulator the customer is attached to a test clock of its own, so
    the developer page can move that customer's time forward.
    """
    existing = selectors.customer_for_user(user=user)
    if existing is not None:
        return existing
    client = stripe_client()
    params: dict[str, Any] = {
        "email": user.email,
        "metadata": {"user_id": str(user.pk), "djstripe_subscriber": str(user.pk)},
    }
    try:
        if settings.STRIPE_EMULATOR:
            clock = client.v1.test_helpers.test_clocks.create(
                {"frozen_time": int(time.time()), "name": f"user {user.pk}"},
                {"idempotency_key": _key("clock", user.pk, settings.STRIPE_SECRET_KEY)},
            )
            params["test_clock"] = clock.id
        stripe_customer = client.v1.customers.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": _key("customer", user.pk, settings.STRIPE_LIVE_MODE)},
        )
    except stripe.StripeError as exc:
        logger.warning("customer create failed for user %s: %s", user.pk, exc)
        raise _translate(exc) from exc
    try:
        with transaction.atomic():
            customer = Customer.sync_from_stripe_data(stripe_customer)
            customer.subscriber = user
            customer.save(update_fields=["subscriber"])
    except IntegrityError:
        # A concurrent request synced the same customer first.
        customer = Customer.objects.get(id=stripe_customer.id)
    logger.info("stripe customer %s ready for user %s", customer.id, user.pk)
    return customer


# --- Checkout -----------------------------------------------------------------------


def price_for_checkout(*, lookup_key: str) -> Price:
    """The active, recurring catalog price with ``lookup_key`` from the mirror."""
    if not lookup_key or get_catalog().price(lookup_key) is None:
        raise UnknownPrice(lookup_key)
    price = (
        Price.objects.filter(stripe_data__lookup_key=lookup_key, livemode=settings.STRIPE_LIVE_MODE)
        .order_by("-created")
        .first()
    )
    if (
        price is None
        or not price.stripe_data.get("active")
        or not price.stripe_data.get("recurring")
    ):
        raise UnknownPrice(lookup_key)
    return price


def checkout_session_create(*, user: Any, price_lookup_key: str) -> str:
    """Create a subscription Checkout Session for ``user``; returns its URL."""
    price = price_for_checkout(lookup_key=price_lookup_key)
    plan = get_catalog().plan_for_lookup_key(price_lookup_key)
    assert plan is not None  # price_for_checkout checked the catalog
    customer = customer_get_or_create(user=user)
    metadata = {"user_id": str(user.pk), "price_lookup_key": price_lookup_key}
    subscription_data: dict[str, Any] = {"metadata": metadata}
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer.id,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": f"{settings.SITE_URL}/billing/success/?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{settings.SITE_URL}/pricing/",
        "metadata": metadata,
        "allow_promotion_codes": True,
        "subscription_data": subscription_data,
    }
    if plan.trial_days and not _had_subscription(customer):
        subscription_data["trial_period_days"] = plan.trial_days
        if not plan.trial_requires_payment_method:
            params["payment_method_collection"] = "if_required"
            subscription_data["trial_settings"] = {
                "end_behavior": {"missing_payment_method": "cancel"}
            }
    window = int(time.time()) // CHECKOUT_IDEMPOTENCY_WINDOW_SECONDS
    idempotency_key = _key("checkout", user.pk, customer.id, price.id, window)
    client = stripe_client()
    try:
        session = client.v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )
        # One open Checkout per customer: the newest one wins, the others expire
        # (a second tab can then no longer be paid).
        if not _checkout_sessions_expire_others(client, customer_id=customer.id, keep=session.id):
            # A double click inside the idempotency window replays the first
            # session, which a checkout in another tab may have expired since.
            replayed = client.v1.checkout.sessions.retrieve(session.id)
            if replayed.status == "complete":
                raise AlreadySubscribed(session.id)
            session = client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": _key("checkout", idempotency_key, "after", session.id)},
            )
            _checkout_sessions_expire_others(client, customer_id=customer.id, keep=session.id)
    except stripe.StripeError as exc:
        logger.warning(
            "checkout session create failed: user=%s customer=%s price=%s error=%s",
            user.pk,
            customer.id,
            price.id,
            exc.__class__.__name__,
        )
        raise _translate(exc) from exc
    logger.info(
        "checkout session %s created: user=%s customer=%s price=%s (%s)",
        session.id,
        user.pk,
        customer.id,
        price.id,
        price_lookup_key,
    )
    if not session.url:
        raise BillingError("Stripe returned a Checkout Session without a URL")
    return session.url


def _checkout_sessions_expire_others(
    client: stripe.StripeClient, *, customer_id: str, keep: str
) -> bool:
    """Expire the customer's open Checkout Sessions other than ``keep``.

    Stripe lets only ``open`` sessions be expired, and an expired one can no
    longer be completed. A session that completes or expires between the list
    and the expire answers an error, which is fine: it is not open any more.
    Returns whether ``keep`` itself is still open.
    """
    kept_open = False
    sessions = client.v1.checkout.sessions.list(
        {"customer": customer_id, "status": "open", "limit": 100}
    )
    for other in sessions.auto_paging_iter():
        if other.id == keep:
            kept_open = True
            continue
        try:
            client.v1.checkout.sessions.expire(other.id)
        except stripe.InvalidRequestError as exc:
            logger.info(
                "checkout session %s of customer %s not expired: %s", other.id, customer_id, exc
            )
            continue
        logger.info(
            "checkout session %s of customer %s expired: %s replaces it",
            other.id,
            customer_id,
            keep,
        )
    return kept_open


def _had_subscription(customer: Customer) -> bool:
    """One trial per customer: anyone who subscribed before pays from day one."""
    return Subscription.objects.filter(customer=customer).exists()


@dataclass(frozen=True)
class CheckoutOutcome:
    state: Literal["ready", "action_required", "processing", "unpaid"]
    subscription_status: str | None = None
    # Where the customer finishes a payment that needs action (3-D Secure).
    action_url: str | None = None


def checkout_success_sync(*, user: Any, session_id: str) -> CheckoutOutcome:
    """Sync the session's subscription now, so access is immediate.

    Raises ``SessionNotFound`` when the session does not exist or belongs to
    someone else (the caller answers 404 without saying which).
    """
    if not session_id.startswith("cs_") or len(session_id) > 255:
        raise SessionNotFound(session_id)
    customer = selectors.customer_for_user(user=user)
    if customer is None:
        raise SessionNotFound(session_id)
    client = stripe_client()
    try:
        session = client.v1.checkout.sessions.retrieve(
            session_id, {"expand": ["subscription", "subscription.latest_invoice"]}
        )
    except stripe.InvalidRequestError as exc:
        raise SessionNotFound(session_id) from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    session_customer = session.customer if isinstance(session.customer, str) else None
    if session_customer != customer.id or session.client_reference_id != str(user.pk):
        logger.warning(
            "user %s opened checkout session %s of customer %s",
            user.pk,
            session_id,
            session_customer,
        )
        raise SessionNotFound(session_id)
    sub = session.subscription
    if sub is None or isinstance(sub, str):
        state: Literal["processing", "unpaid"] = (
            "processing" if session.status == "complete" else "unpaid"
        )
        return CheckoutOutcome(state=state)
    try:
        # dj-stripe wants the SDK's objects (it pages through nested lists itself).
        subscription_sync_data(data=sub)
        _mirror_related(client, sub)
        entitlements_sync(customer_id=customer.id)
    except Exception:
        # The webhooks will bring the same state; the page asks again in a moment.
        logger.exception("syncing subscription %s after checkout failed", sub.id)
        return CheckoutOutcome(state="processing", subscription_status=sub.status)
    finally:
        access_invalidate(user=user)  # this request's page shows the new plan too
    status = sub.status
    if status in ("active", "trialing"):
        return CheckoutOutcome(state="ready", subscription_status=status)
    if status == "incomplete":
        invoice = sub.latest_invoice
        url = getattr(invoice, "hosted_invoice_url", None) if invoice else None
        return CheckoutOutcome(state="action_required", subscription_status=status, action_url=url)
    return CheckoutOutcome(state="processing", subscription_status=status)


# --- Mirror sync --------------------------------------------------------------------


def _mirror_related(client: stripe.StripeClient, sub: Any) -> None:
    """Mirror the subscription's latest invoice and payment method for the billing page."""
    from djstripe.models import Invoice, PaymentMethod

    invoice = getattr(sub, "latest_invoice", None)
    pm = getattr(sub, "default_payment_method", None)
    try:
        if isinstance(invoice, str):
            invoice = client.v1.invoices.retrieve(invoice)
        if invoice is not None:
            Invoice.sync_from_stripe_data(invoice)
        if isinstance(pm, str):
            pm = client.v1.payment_methods.retrieve(pm)
        if pm is not None:
            PaymentMethod.sync_from_stripe_data(pm)
    except stripe.StripeError as exc:
        # The webhooks bring these too; the page shows what is there.
        logger.warning("mirroring invoice/payment method of %s failed: %s", sub.id, exc)


def subscription_sync_data(*, data: Any) -> Subscription:
    """Mirror a subscription (an SDK object) and refresh its owner's access."""
    subscription = Subscription.sync_from_stripe_data(data)
    user_id = subscription.customer.subscriber_id if subscription.customer_id else None
    if user_id:
        access_invalidate(user_id=user_id)
    return subscription


def subscription_sync(*, subscription_id: str) -> Subscription:
    """Re-read a subscription from Stripe and mirror it."""
    try:
        data = stripe_client().v1.subscriptions.retrieve(subscription_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return subscription_sync_data(data=data)


def entitlements_sync(*, customer_id: str) -> frozenset[str]:
    """List the customer's active entitlements in Stripe and store their lookup keys."""
    client = stripe_client()
    try:
        page = client.v1.entitlements.active_entitlements.list(
            {"customer": customer_id, "limit": 100}
        )
        keys = frozenset(e.lookup_key for e in page.auto_paging_iter())
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    CustomerEntitlements.objects.update_or_create(
        customer_id=customer_id,
        defaults={"lookup_keys": sorted(keys), "synced_at": timezone.now()},
    )
    customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
    if customer is not None and customer.subscriber_id:
        access_invalidate(user_id=customer.subscriber_id)
    return keys


def customer_sync_all(*, user: Any) -> None:
    """Re-read the user's customer, subscriptions and invoices from Stripe."""
    customer = selectors.customer_for_user(user=user)
    if customer is None:
        return
    client = stripe_client()
    try:
        subs = client.v1.subscriptions.list(
            {"customer": customer.id, "status": "all", "limit": 100}
        )
        for sub in subs.auto_paging_iter():
            subscription_sync_data(data=sub)
        invoices = client.v1.invoices.list({"customer": customer.id, "limit": 24})
        from djstripe.models import Invoice

        for invoice in invoices.data:
            Invoice.sync_from_stripe_data(invoice)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    entitlements_sync(customer_id=customer.id)


# --- Duplicate subscriptions ---------------------------------------------------------

# Statuses of a subscription that bills (or will bill) the customer: two of these
# at once are a duplicate. ``incomplete`` is left out until its first payment
# succeeds (it may never, and then it expires by itself).
DUPLICATE_CANDIDATE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})
# In good standing: preferred as the one to keep over past_due, unpaid and paused.
_GOOD_STANDING = frozenset({"active", "trialing"})
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
        sub.get("status") not in _GOOD_STANDING,
        -_yearly_amount(sub),
        int(sub.get("created") or 0),
        str(sub.get("id") or ""),
    )


def _is_duplicate_candidate(sub: dict[str, Any]) -> bool:
    # One already scheduled to end will not bill again: not a duplicate to cancel.
    return (
        sub.get("status") in DUPLICATE_CANDIDATE_STATUSES
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
        if current.status not in ("canceled", "incomplete_expired"):
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
            row.status_before = "canceled"
            row.save(update_fields=["status_before"])
            created.append(row)
    if created:
        customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
        subscription_duplicates_canceled.send(
            sender=DuplicateSubscription,
            resolutions=created,
            user_id=customer.subscriber_id if customer is not None else None,
            stripe_event_id=stripe_event_id,
            livemode=livemode,
        )
    return created


def _canceled_unrecorded(subs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Subscriptions we canceled as duplicates (by their comment) that have no row yet."""
    marked = [
        s
        for s in subs
        if s.get("status") == "canceled"
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


# --- Portal and plan management ---------------------------------------------------

PortalFlow = Literal["payment_method_update", "subscription_cancel"]


def portal_session_create(*, user: Any, flow: PortalFlow | None = None) -> str:
    """A Customer Portal session for the user's own customer; returns its URL."""
    customer = selectors.customer_for_user(user=user)
    if customer is None:
        raise NoCustomer()
    return_url = f"{settings.SITE_URL}/billing/"
    params: dict[str, Any] = {"customer": customer.id, "return_url": return_url}
    if flow == "payment_method_update":
        params["flow_data"] = {"type": "payment_method_update"}
    elif flow == "subscription_cancel":
        current = selectors.subscription_current(user=user)
        if current is not None and current.stripe_data.get("status") not in (
            "canceled",
            "incomplete_expired",
        ):
            params["flow_data"] = {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": current.id},
                "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
            }
    try:
        session = stripe_client().v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        logger.warning("portal session failed for customer %s: %s", customer.id, exc)
        raise _translate(exc) from exc
    logger.info("portal session for customer %s (user %s, flow %s)", customer.id, user.pk, flow)
    return session.url


def subscription_resume_cancellation(*, user: Any) -> Subscription:
    """Undo a scheduled cancellation (cancel_at_period_end) of the user's subscription."""
    current = selectors.subscription_current(user=user)
    if current is None:
        raise NoCustomer()
    try:
        data = stripe_client().v1.subscriptions.update(
            current.id,
            {"cancel_at_period_end": False},
            {"idempotency_key": _key("resume", current.id, int(time.time()) // 60)},
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    logger.info("subscription %s: scheduled cancellation removed by user %s", current.id, user.pk)
    return subscription_sync_data(data=data)


# --- Development: emulator test clocks -------------------------------------------------


def test_clock_advance(*, user: Any, to: datetime) -> None:
    """Move the user's emulator test clock to ``to`` and re-sync their billing."""
    customer = selectors.customer_for_user(user=user)
    if customer is None:
        raise NoCustomer()
    clock_id = customer.stripe_data.get("test_clock")
    if not clock_id:
        raise BillingError("This customer has no test clock")
    client = stripe_client()
    try:
        client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": int(to.timestamp())})
        for _ in range(600):
            clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
            if clock.status == "ready":
                break
            time.sleep(0.1)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    frozen = datetime.fromtimestamp(clock.frozen_time, tz=UTC)
    TestClockTime.objects.update_or_create(clock_id=clock_id, defaults={"frozen_time": frozen})
    customer_sync_all(user=user)


def test_clock_now(*, user: Any) -> datetime | None:
    customer = selectors.customer_for_user(user=user)
    clock_id = customer.stripe_data.get("test_clock") if customer else None
    if not clock_id:
        return None
    try:
        clock = stripe_client().v1.test_helpers.test_clocks.retrieve(clock_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return datetime.fromtimestamp(clock.frozen_time, tz=UTC)
