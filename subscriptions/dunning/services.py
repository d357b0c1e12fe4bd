"""Dunning writes: pay now, cancel with a reason, the retention coupon, recovered revenue.

Stripe calls happen outside database transactions and their results are
mirrored right after (dj-stripe's ``sync_from_stripe_data``), so the page that
follows shows the new state without waiting for the webhook; the webhook then
finds the mirror already there and changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djstripe.models import Invoice, Subscription

from ..access.access import access_invalidate
from ..models import RecoveredInvoice, RetentionOffer, StripeEvent
from ..selectors import subscription_current
from ..services import (
    PORTAL_OPENED_SECONDS,
    BillingError,
    NoCustomer,
    _as_dict,
    _key,
    _translate,
    mirror_read,
    portal_opened_key,
    stripe_client,
    subscription_sync_data,
)
from . import selectors

if TYPE_CHECKING:
    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

# Stripe's values for cancellation_details[feedback], as the customer reads them.
CANCELLATION_FEEDBACK: dict[str, Any] = {
    "too_expensive": _("It's too expensive"),
    "missing_features": _("Some features are missing"),
    "switched_service": _("I'm switching to a different service"),
    "unused": _("I don't use it enough"),
    "customer_service": _("Customer service was less than expected"),
    "too_complex": _("It's too hard to use"),
    "low_quality": _("Quality was less than expected"),
    "other": _("Other reason"),
}
# Stripe allows 5000 characters in cancellation_details[comment].
CANCELLATION_COMMENT_MAX = 5000
# Error codes of POST /v1/invoices/{id}/pay when the bank asks the customer to authenticate.
ACTION_REQUIRED_CODES = frozenset(
    {"invoice_payment_intent_requires_action", "authentication_required"}
)
FAILURE_EVENT_TYPES = ("invoice.payment_failed", "invoice.payment_action_required")
CANCELABLE_STATUSES = frozenset({"active", "trialing"})


class NothingToPay(BillingError):
    user_message = "There is no open invoice to pay."


class CannotCancel(BillingError):
    user_message = "There is no active subscription to cancel."


class InvalidFeedback(BillingError):
    user_message = "Choose a reason from the list."


class OfferUnavailable(BillingError):
    user_message = "This offer is no longer available."


# --- Pay now ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayNowResult:
    outcome: Literal["paid", "declined", "action_required"]
    message: str = ""
    # The fallback: Stripe's hosted invoice page (another card, 3-D Secure).
    hosted_invoice_url: str = ""


def invoice_pay_now(*, team: Team, user: User) -> PayNowResult:
    """Pay the team's open invoice with the saved card (``POST /v1/invoices/{id}/pay``).

    The idempotency key names the invoice, its attempt count and the card, so a
    double click pays once, while a new attempt (after a decline, or with a new
    card) is a new request. A paid invoice and its subscription are mirrored at
    once, so access returns on the next page, before the webhook arrives.
    """
    invoice = selectors.open_invoice_for_team(team=team)
    if invoice is None:
        raise NothingToPay()
    card = selectors.charged_payment_method_id(team=team)
    client = stripe_client()
    try:
        paid = client.v1.invoices.pay(
            invoice.id,
            {},
            {"idempotency_key": _key("invoice-pay", invoice.id, invoice.attempt_count, card)},
        )
    except stripe.CardError as exc:
        _invoice_mirror(client, invoice.id)  # the failed attempt: the next click is new
        logger.info(
            "pay now of invoice %s (customer %s) failed: %s",
            invoice.id,
            invoice.customer_id,
            exc.code,
        )
        if exc.code in ACTION_REQUIRED_CODES:
            return PayNowResult("action_required", hosted_invoice_url=invoice.hosted_invoice_url)
        return PayNowResult(
            "declined",
            message=str(exc.user_message or "Your card was declined."),
            hosted_invoice_url=invoice.hosted_invoice_url,
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    sub = None
    if invoice.subscription_id:
        sub = client.v1.subscriptions.retrieve(invoice.subscription_id)
    with transaction.atomic():
        mirror_read(Invoice, paid)
        if sub is not None:
            subscription_sync_data(data=sub)
        if invoice.attempt_count > 0:
            recovery_record(invoice=_as_dict(paid), method=RecoveredInvoice.Method.IN_APP)
        access_invalidate(team=team)
    logger.info(
        "invoice %s of customer %s paid in app by user %s", invoice.id, invoice.customer_id, user.pk
    )
    return PayNowResult("paid")


def _invoice_mirror(client: stripe.StripeClient, invoice_id: str) -> None:
    try:
        mirror_read(Invoice, client.v1.invoices.retrieve(invoice_id))
    except stripe.StripeError as exc:
        logger.warning("mirroring invoice %s after a failed payment failed: %s", invoice_id, exc)


# --- Recovered revenue ----------------------------------------------------------------


def recovery_record(
    *, invoice: dict[str, Any], method: str, authoritative: bool = True
) -> RecoveredInvoice | None:
    """Store that a failed invoice was paid, and how (once per invoice).

    The pay-now service knows its own payments (``authoritative``: it overwrites a
    row the webhook may have written a moment earlier); the webhook's guess never
    overwrites a row.
    """
    amount = int(invoice.get("amount_paid") or 0)
    if invoice.get("status") != "paid" or amount <= 0 or not invoice.get("id"):
        return None
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    defaults = {
        "customer_id": str(_id_of(invoice.get("customer"))),
        "amount": amount,
        "currency": str(invoice.get("currency") or "usd"),
        "method": method,
        "attempt_count": int(invoice.get("attempt_count") or 0),
        "livemode": bool(invoice.get("livemode")),
        "recovered_at": datetime.fromtimestamp(int(paid_at), tz=UTC) if paid_at else timezone.now(),
    }
    if authoritative:
        row, _created = RecoveredInvoice.objects.update_or_create(
            invoice_id=str(invoice["id"]), defaults=defaults
        )
        return row
    row, created = RecoveredInvoice.objects.get_or_create(
        invoice_id=str(invoice["id"]), defaults=defaults
    )
    return row if created else None


def recovery_record_from_paid_event(*, invoice: dict[str, Any]) -> RecoveredInvoice | None:
    """``invoice.paid``: if the invoice had failed, record how it was finally paid.

    How it was paid, from what Stripe told us: the failure events we stored carry
    ``next_payment_attempt``, the retry Stripe had scheduled; paid at or after it
    is that automatic retry. Paid earlier, the customer acted: through the
    Customer Portal when the team opened it in the last hour (we remember opening
    it), else on the hosted invoice page (its link is in the failure emails). The
    in-app button records its own payments first (``invoice_pay_now``).
    """
    invoice_id = str(invoice.get("id") or "")
    last_failure = (
        StripeEvent.objects.filter(object_id=invoice_id, type__in=FAILURE_EVENT_TYPES)
        .order_by("-stripe_created", "-id")
        .only("payload")
        .first()
    )
    if last_failure is None and int(invoice.get("attempt_count") or 0) <= 1:
        return None  # paid at the first attempt: nothing was recovered
    failed = ((last_failure.payload or {}).get("data") or {}).get("object") if last_failure else {}
    scheduled = (failed or {}).get("next_payment_attempt")
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    if scheduled and paid_at and int(paid_at) >= int(scheduled):
        method = RecoveredInvoice.Method.RETRY
    elif cache.get(portal_opened_key(str(_id_of(invoice.get("customer"))))):
        method = RecoveredInvoice.Method.PORTAL
    else:
        method = RecoveredInvoice.Method.HOSTED_PAGE
    row = recovery_record(invoice=invoice, method=method, authoritative=False)
    if row is not None:
        logger.info("invoice %s recovered by %s", invoice_id, method)
    return row


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


# --- Cancellation -----------------------------------------------------------------------


def _minute() -> int:
    """A double submit within the minute repeats the request (same idempotency key)."""
    return int(time.time()) // 60


def _cancelable(team: Team) -> Subscription:
    current = subscription_current(team=team)
    if current is None:
        raise NoCustomer()
    data = current.stripe_data or {}
    if data.get("status") not in CANCELABLE_STATUSES or data.get("cancel_at_period_end"):
        raise CannotCancel()
    return current


def subscription_cancel_with_feedback(
    *, team: Team, user: User, feedback: str, comment: str = ""
) -> Subscription:
    """Cancel at period end with the customer's reason (``cancellation_details``).

    Declining the retention offer is this same step: the offer is then spent.
    """
    if feedback not in CANCELLATION_FEEDBACK:
        raise InvalidFeedback()
    current = _cancelable(team)
    comment = comment.strip()[:CANCELLATION_COMMENT_MAX]
    details: dict[str, Any] = {"feedback": feedback}
    if comment:
        details["comment"] = comment
    offer = selectors.retention_offer_for(subscription_id=current.id)
    try:
        data = stripe_client().v1.subscriptions.update(
            current.id,
            {"cancel_at_period_end": True, "cancellation_details": details},  # type: ignore[arg-type]
            {"idempotency_key": _key("cancel", current.id, feedback, comment, _minute())},
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    with transaction.atomic():
        if offer is not None:
            RetentionOffer.objects.get_or_create(
                subscription_id=current.id,
                defaults={
                    "team_id": team.pk,
                    "coupon_id": offer.coupon,
                    "outcome": RetentionOffer.Outcome.DECLINED,
                },
            )
        subscription = subscription_sync_data(data=data)
    logger.info(
        "subscription %s canceled at period end by user %s (feedback %s)",
        current.id,
        user.pk,
        feedback,
    )
    return subscription


def retention_offer_accept(*, team: Team, user: User) -> Subscription:
    """Apply the catalog's retention coupon to the subscription, once.

    The offer is claimed in the database first (a unique row per subscription),
    so a double click or a second tab applies it once; if Stripe refuses, the
    claim is released and the offer stays available.
    """
    current = _cancelable(team)
    spec = selectors.retention_offer_for(subscription_id=current.id)
    if spec is None:
        raise OfferUnavailable()
    try:
        with transaction.atomic():
            claim = RetentionOffer.objects.create(
                subscription_id=current.id,
                team_id=team.pk,
                coupon_id=spec.coupon,
                outcome=RetentionOffer.Outcome.ACCEPTED,
            )
    except IntegrityError as exc:
        raise OfferUnavailable() from exc
    # Subscription discounts replace the list: keep the ones it already has.
    kept = [
        {"discount": _id_of(d)} for d in (current.stripe_data or {}).get("discounts") or [] if d
    ]
    try:
        data = stripe_client().v1.subscriptions.update(
            current.id,
            {"discounts": [*kept, {"coupon": spec.coupon}]},  # type: ignore[arg-type]
            {"idempotency_key": _key("retention", current.id, spec.coupon)},
        )
    except stripe.StripeError as exc:
        claim.delete()
        raise _translate(exc) from exc
    logger.info(
        "retention coupon %s applied to subscription %s by user %s",
        spec.coupon,
        current.id,
        user.pk,
    )
    return subscription_sync_data(data=data)


__all__ = [
    "CANCELLATION_FEEDBACK",
    "PORTAL_OPENED_SECONDS",
    "CannotCancel",
    "InvalidFeedback",
    "NothingToPay",
    "OfferUnavailable",
    "PayNowResult",
    "invoice_pay_now",
    "recovery_record",
    "recovery_record_from_paid_event",
    "retention_offer_accept",
    "subscription_cancel_with_feedback",
]
