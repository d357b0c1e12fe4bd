"""Refunds staff make from the admin, each with its audit row and the customer told.

A refund of a charge that paid an invoice is documented on the invoice by a
credit note: Stripe lets a credit note on a paid invoice either create the
refund (``refund_amount``) or link refunds already made (``refunds``), and the
sum of refunds, balance credits and out-of-band credits must equal its
post-payment amount (https://docs.stripe.com/api/credit_notes/create). We
refund first, with Stripe's refund ``reason`` (which a credit-note-made refund
cannot carry), then link the refund to a credit note when the invoice still
has that much left to credit; otherwise (a charge without an invoice, or an
invoice already credited) the plain refund stands alone.

Exactly once: the form carries a ``request_key``; its row is unique, and both
Stripe calls use idempotency keys derived from it, so a double submit, a
retry after a timeout or two browser tabs make one refund.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from djstripe.models import Customer

from ..formatting import format_money
from ..models import StaffRefund
from ..services import BillingError, _as_dict, _key, _translate, stripe_client
from ..signals import staff_refund_issued

if TYPE_CHECKING:
    from stripe.params import CreditNoteCreateParams

    from accounts.models import User

logger = logging.getLogger(__name__)

Reason = StaffRefund.Reason
# Credit notes have their own reasons; requested_by_customer has no counterpart.
CREDIT_NOTE_REASONS = {Reason.DUPLICATE: "duplicate", Reason.FRAUDULENT: "fraudulent"}
REFUND_STATUSES = {
    "succeeded": StaffRefund.Status.SUCCEEDED,
    "pending": StaffRefund.Status.PROCESSING,
    "requires_action": StaffRefund.Status.PROCESSING,
    "failed": StaffRefund.Status.FAILED,
    "canceled": StaffRefund.Status.FAILED,
}


class RefundInvalid(BillingError):
    """The refund asked for cannot be made; ``user_message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


@dataclass(frozen=True)
class RefundableCharge:
    id: str
    amount: int
    refunded: int
    currency: str
    customer_id: str
    payment_intent_id: str
    status: str
    disputed: bool

    @property
    def remaining(self) -> int:
        return max(0, self.amount - self.refunded)


def _charge_get(client: stripe.StripeClient, charge_id: str) -> RefundableCharge:
    try:
        charge = _as_dict(client.v1.charges.retrieve(charge_id))
    except stripe.InvalidRequestError as exc:
        raise RefundInvalid(f"No charge {charge_id} in Stripe.") from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    customer = charge.get("customer")
    intent = charge.get("payment_intent")
    return RefundableCharge(
        id=str(charge["id"]),
        amount=int(charge.get("amount_captured") or charge.get("amount") or 0),
        refunded=int(charge.get("amount_refunded") or 0),
        currency=str(charge.get("currency") or ""),
        customer_id=str(
            (customer or {}).get("id") if isinstance(customer, dict) else customer or ""
        ),
        payment_intent_id=str(
            (intent or {}).get("id") if isinstance(intent, dict) else intent or ""
        ),
        status=str(charge.get("status") or ""),
        disputed=bool(charge.get("disputed")),
    )


def _validate(charge: RefundableCharge, amount: int) -> None:
    if charge.status != "succeeded":
        raise RefundInvalid(
            f"Charge {charge.id} did not succeed ({charge.status}): nothing to refund."
        )
    if amount <= 0:
        raise RefundInvalid("The amount to refund must be more than zero.")
    if amount > charge.remaining:
        left = format_money(charge.remaining, charge.currency or "usd")
        raise RefundInvalid(
            f"At most {left} of charge {charge.id} can still be refunded "
            f"({format_money(charge.refunded, charge.currency or 'usd')} already was)."
        )


def _paid_invoice(client: stripe.StripeClient, payment_intent_id: str) -> dict[str, Any] | None:
    """The paid invoice this payment paid, if any (basil+: through InvoicePayment)."""
    if not payment_intent_id:
        return None
    payments = client.v1.invoice_payments.list(
        {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
            "status": "paid",
        }
    )
    for payment in payments.data:
        invoice_id = _as_dict(payment).get("invoice")
        if invoice_id:
            invoice = _as_dict(client.v1.invoices.retrieve(str(invoice_id)))
            return invoice if invoice.get("status") == "paid" else None
    return None


def _creditable(invoice: dict[str, Any]) -> int:
    """What a new post-payment credit note may still credit on a paid invoice."""
    credited = int(invoice.get("post_payment_credit_notes_amount") or 0) + int(
        invoice.get("pre_payment_credit_notes_amount") or 0
    )
    return max(
        0, min(int(invoice.get("amount_paid") or 0), int(invoice.get("total") or 0) - credited)
    )


def _row_get_or_create(
    *,
    request_key: str,
    charge: RefundableCharge,
    amount: int,
    reason: str,
    requested_by: User | None,
) -> tuple[StaffRefund, bool]:
    team_id = (
        Customer.objects.filter(id=charge.customer_id)
        .values_list("subscriber_id", flat=True)
        .first()
        if charge.customer_id
        else None
    )
    try:
        with transaction.atomic():
            row = StaffRefund.objects.create(
                request_key=request_key,
                requested_by=requested_by,
                team_id=team_id,
                customer_id=charge.customer_id,
                charge_id=charge.id,
                amount=amount,
                currency=charge.currency,
                reason=reason,
                livemode=settings.STRIPE_LIVE_MODE,
            )
        return row, True
    except IntegrityError:
        return StaffRefund.objects.get(request_key=request_key), False


def staff_refund_create(
    *, charge_id: str, amount: int, reason: str, requested_by: User | None, request_key: str
) -> StaffRefund:
    """Refund ``amount`` (minor units) of a charge for ``reason``, once per ``request_key``.

    Raises ``RefundInvalid`` (nothing recorded, nothing refunded) for an unknown
    charge, an unknown reason or more than is left to refund. A request already
    done returns its row unchanged.
    """
    if reason not in Reason.values:
        raise RefundInvalid(f"Unknown refund reason {reason!r}.")
    done = StaffRefund.objects.filter(request_key=request_key).exclude(
        status=StaffRefund.Status.PENDING
    )
    if (row := done.first()) is not None:
        return row
    client = stripe_client()
    charge = _charge_get(client, charge_id)
    existing = StaffRefund.objects.filter(request_key=request_key).first()
    if existing is None:
        _validate(charge, amount)
    row, _created = _row_get_or_create(
        request_key=request_key,
        charge=charge,
        amount=amount,
        reason=reason,
        requested_by=requested_by,
    )
    if (row.charge_id, row.amount, row.reason) != (charge.id, amount, reason):
        raise RefundInvalid("This refund form was already used for another refund; reload it.")
    if row.status != StaffRefund.Status.PENDING:
        return row
    return _refund_and_document(client, row, charge)


def _refund_and_document(
    client: stripe.StripeClient, row: StaffRefund, charge: RefundableCharge
) -> StaffRefund:
    try:
        refund = _as_dict(
            client.v1.refunds.create(
                {
                    "charge": charge.id,
                    "amount": row.amount,
                    "reason": row.reason,
                    "metadata": {"staff_refund": row.request_key},
                },
                {"idempotency_key": _key("staff-refund", row.request_key)},
            )
        )
    except stripe.InvalidRequestError as exc:
        StaffRefund.objects.filter(pk=row.pk).update(
            status=StaffRefund.Status.FAILED, error=str(exc.user_message or exc)[:2000]
        )
        raise RefundInvalid(f"Stripe refused the refund: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc  # the row stays pending: submitting again completes it
    credit_note_id, invoice_id = _credit_note_for(client, row, refund, charge)
    status = REFUND_STATUSES.get(str(refund.get("status")), StaffRefund.Status.PROCESSING)
    won = StaffRefund.objects.filter(pk=row.pk, status=StaffRefund.Status.PENDING).update(
        status=status,
        stripe_refund_id=str(refund["id"]),
        credit_note_id=credit_note_id,
        invoice_id=invoice_id,
        livemode=bool(refund.get("livemode")),
        completed_at=timezone.now(),
    )
    row.refresh_from_db()
    logger.info(
        "staff refund %s charge=%s customer=%s refund=%s credit_note=%s amount=%s %s by user=%s",
        row.pk,
        row.charge_id,
        row.customer_id,
        row.stripe_refund_id,
        row.credit_note_id or "-",
        row.amount,
        row.currency,
        row.requested_by_id,
    )
    if won and status != StaffRefund.Status.FAILED:
        # Only the request that completed the row tells the customer.
        staff_refund_issued.send(sender=StaffRefund, refund=row)
    return row


def _credit_note_for(
    client: stripe.StripeClient, row: StaffRefund, refund: dict[str, Any], charge: RefundableCharge
) -> tuple[str, str]:
    """Issue the credit note that links ``refund`` to its paid invoice; ("", "") if none fits."""
    invoice = _paid_invoice(client, charge.payment_intent_id)
    if invoice is None:
        return "", ""
    if row.amount > _creditable(invoice):
        logger.info(
            "invoice %s has too little left to credit; plain refund %s", invoice["id"], refund["id"]
        )
        return "", str(invoice["id"])
    params: CreditNoteCreateParams = {
        "invoice": str(invoice["id"]),
        "amount": row.amount,
        "refunds": [{"type": "refund", "refund": str(refund["id"]), "amount_refunded": row.amount}],
        "metadata": {"staff_refund": row.request_key},
    }
    if row.reason in CREDIT_NOTE_REASONS:
        params["reason"] = CREDIT_NOTE_REASONS[Reason(row.reason)]
    try:
        note = client.v1.credit_notes.create(
            params, {"idempotency_key": _key("staff-refund-credit-note", row.request_key)}
        )
    except stripe.StripeError as exc:
        # The money is back with the customer already; the audit row says the note is missing.
        logger.warning("credit note for refund %s failed: %s", refund["id"], exc)
        return "", str(invoice["id"])
    return str(note.id), str(invoice["id"])


def staff_refund_status_sync(*, refund: dict[str, Any]) -> int:
    """Record a refund's later outcome (``refund.updated`` / ``refund.failed``) on its audit row.

    Card refunds usually succeed at once; some settle later (pending, then
    succeeded) and some fail after succeeding (an expired or canceled card:
    the money stays with us and staff must pay the customer another way).
    Returns the rows updated (0 for refunds staff did not make here).
    """
    status = REFUND_STATUSES.get(str(refund.get("status")))
    refund_id = str(refund.get("id") or "")
    if status is None or not refund_id:
        return 0
    failure = str(refund.get("failure_reason") or "")
    updated = StaffRefund.objects.filter(stripe_refund_id=refund_id).exclude(status=status)
    count = updated.update(status=status, error=failure)
    if count and status == StaffRefund.Status.FAILED:
        logger.warning("staff refund %s failed after it was made: %s", refund_id, failure)
    return count
