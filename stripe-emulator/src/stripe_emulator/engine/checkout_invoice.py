"""Post-payment invoices of payment-mode Checkout Sessions (`invoice_creation[enabled]`).

Stripe (docs.stripe.com/payments/checkout/receipts, "paid invoices"): with
`invoice_creation[enabled]=true` a payment-mode session that is paid gets an
invoice for its line items, already `paid` by the session's PaymentIntent; Stripe
emits `invoice.paid` as soon as the payment succeeds, and the session's `invoice`
names it. `invoice_creation[invoice_data]` sets the invoice's description,
footer, metadata and custom fields. No new payment is made: the invoice records
the one the session took.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..ids import new_id
from .common import Env, emit_event, hosted_invoice_url, invoice_pdf_url
from .invoicing import new_invoice

JSONDict = dict[str, Any]


def _next_number(ctx: Ctx, customer_id: str) -> str:
    cus = ctx.get("customer", customer_id)
    seq = int(cus.get("next_invoice_sequence") or 1)
    cus["next_invoice_sequence"] = seq + 1
    ctx.save(cus)
    return f"{cus.get('invoice_prefix') or 'EMU'}-{seq:04d}"


def _line(inv: JSONDict, item: JSONDict, price: JSONDict | None) -> JSONDict:
    amount = int(item.get("amount_subtotal") or 0)
    return {
        "id": new_id("line_item"),
        "object": "line_item",
        "amount": amount,
        "currency": inv["currency"],
        "description": item.get("description"),
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": inv["id"],
        "livemode": False,
        "metadata": dict(item.get("metadata") or {}),
        "parent": None,
        "period": {"end": inv["period_end"], "start": inv["period_start"]},
        "pretax_credit_amounts": [],
        "pricing": (
            {
                "price_details": {"price": price["id"], "product": price.get("product")},
                "type": "price_details",
                "unit_amount_decimal": str(price.get("unit_amount") or 0),
            }
            if price
            else None
        ),
        "quantity": item.get("quantity") or 1,
        "quantity_decimal": str(item.get("quantity") or 1),
        "subtotal": amount,
        "taxes": [],
    }


def _invoice_payment(env: Env, inv: JSONDict, payment_intent_id: str) -> JSONDict:
    return {
        "id": new_id("invoice_payment"),
        "object": "invoice_payment",
        "amount_paid": inv["amount_paid"],
        "amount_requested": inv["amount_paid"],
        "created": env.now,
        "currency": inv["currency"],
        "invoice": inv["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent_id, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": env.now},
    }


def post_payment_invoice(
    ctx: Ctx, env: Env, session: JSONDict, payment_intent_id: str
) -> JSONDict | None:
    """The paid invoice of a paid payment-mode session, when the session asked for one."""
    creation = session.get("invoice_creation") or {}
    customer_id = session.get("customer")
    if not creation.get("enabled") or not customer_id:
        return None
    data = creation.get("invoice_data") or {}
    customer = ctx.get("customer", str(customer_id))
    inv = new_invoice(
        ctx,
        env,
        customer=customer,
        currency=str(session["currency"]),
        billing_reason="manual",
        description=data.get("description"),
        metadata=data.get("metadata"),
        auto_advance=False,
    )
    for item in session.get("_line_items") or []:
        inv["lines"]["data"].append(_line(inv, item, ctx.find("price", str(item.get("price")))))
    tax = int((session.get("total_details") or {}).get("amount_tax") or 0)
    total = int(session.get("amount_total") or 0)
    inv.update(
        subtotal=int(session.get("amount_subtotal") or 0),
        subtotal_excluding_tax=int(session.get("amount_subtotal") or 0),
        total=total,
        total_excluding_tax=total - tax,
        amount_due=total,
        amount_paid=total,
        amount_remaining=0,
        footer=data.get("footer"),
        custom_fields=data.get("custom_fields"),
        number=_next_number(ctx, str(customer_id)),
        status="paid",
        attempted=True,
        effective_at=env.now,
        ending_balance=0,
        _payment_intent=payment_intent_id,
    )
    inv["status_transitions"].update(finalized_at=env.now, paid_at=env.now)
    inv["hosted_invoice_url"] = hosted_invoice_url(ctx, inv)
    inv["invoice_pdf"] = invoice_pdf_url(ctx, inv)
    payment = _invoice_payment(env, inv, payment_intent_id)
    ctx.save(payment)
    inv["_invoice_payment"] = payment["id"]
    ctx.save(inv)
    for event_type in ("invoice.created", "invoice.finalized", "invoice.paid"):
        emit_event(ctx, env, event_type, inv)
    emit_event(ctx, env, "invoice.payment_succeeded", inv)
    emit_event(ctx, env, "invoice_payment.paid", payment)
    return inv
