"""Invoices: lines, totals, finalisation, collection, voiding, paying.

What a payment outcome does to the invoice's subscription is registered by
the subscription modules (`on_invoice_paid`, `on_invoice_payment_failed`), so
invoicing does not import them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Ctx
from ..errors import StripeAPIError, card_error, invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .common import (
    DAY,
    TIMES,
    Env,
    JSONDict,
    api_env,
    deep_copy,
    emit_event,
    format_money,
    hosted_invoice_url,
    id_of,
    invoice_pdf_url,
    round_half_up,
    settings,
)
from .discounts import applies_to, discount_amount
from .payments import (
    ChargeOutcome,
    attempt_payment_intent,
    cancel_payment_intent,
    new_payment_intent,
    payment_method_for,
)
from .pricing import item_quantity, price_amount, pricing_of, product_name
from .tax import (
    apply_invoice_taxes,
    automatic_tax_enabled,
    invoice_automatic_tax,
    location_error,
    rate_ids,
)

InvoiceHook = Callable[[Ctx, Env, JSONDict], None]
FailureHook = Callable[..., None]
# Registered by engine/subscription_state.py and engine/dunning.py: what an
# invoice's payment outcome does to its subscription.
_after_paid: list[InvoiceHook] = []
_after_failure: list[FailureHook] = []


def on_invoice_paid(fn: InvoiceHook) -> InvoiceHook:
    """Register `fn(ctx, env, invoice)`, run when an invoice is marked paid."""
    if fn not in _after_paid:
        _after_paid.append(fn)
    return fn


def on_invoice_payment_failed(fn: FailureHook) -> FailureHook:
    """Register `fn(ctx, env, invoice, *, exhausted)`, run after a failed payment attempt."""
    if fn not in _after_failure:
        _after_failure.append(fn)
    return fn


def new_invoice(
    ctx: Ctx,
    env: Env,
    *,
    customer: JSONDict,
    currency: str,
    billing_reason: str,
    subscription: JSONDict | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    description: str | None = None,
    metadata: JSONDict | None = None,
    auto_advance: bool = True,
    default_payment_method: str | None = None,
    period: tuple[int, int] | None = None,
    discounts: list[str] | None = None,
) -> JSONDict:
    """A draft invoice without lines (add them, then `refresh_totals`)."""
    inv_id = new_id("invoice")
    start, end = period or (env.now, env.now)
    sub_id = subscription["id"] if subscription else None
    inv: JSONDict = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Emulated Stripe account",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": invoice_automatic_tax(
            automatic_tax_enabled((subscription or {}).get("automatic_tax"))
        ),
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": env.now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": list(discounts or []),
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": (
            {
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(subscription.get("metadata") or {}),
                    "subscription": sub_id,
                },
                "type": "subscription_details",
            }
            if subscription
            else None
        ),
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": customer.get("test_clock"),
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_days_until_due": days_until_due,
        "_auto_attempts": 0,
    }
    if subscription and collection_method == "send_invoice":
        inv["_days_until_due"] = subscription.get("days_until_due") or days_until_due or 30
    return inv


def _line_base(inv: JSONDict, amount: int, currency: str) -> JSONDict:
    return {
        "id": new_id("line_item"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": None,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": inv["id"],
        "livemode": False,
        "metadata": {},
        "parent": None,
        "period": {"end": inv["period_end"], "start": inv["period_start"]},
        "pretax_credit_amounts": [],
        "pricing": None,
        "quantity": 1,
        "quantity_decimal": "1",
        "subtotal": amount,
        "taxes": [],
    }


def add_subscription_item_line(
    ctx: Ctx,
    inv: JSONDict,
    sub: JSONDict,
    item: JSONDict,
    start: int,
    end: int,
) -> JSONDict:
    """A line charging `item` for [start, end) at its full price (licensed, in advance)."""
    price = item["price"]
    qty = item_quantity(item)
    amount = price_amount(price, qty)
    line = _line_base(inv, amount, inv["currency"])
    interval = (price.get("recurring") or {}).get("interval", "month")
    at = (
        "tiered"
        if price.get("billing_scheme") == "tiered"
        else f"at {format_money(int(price.get('unit_amount') or 0), inv['currency'])}"
    )
    line.update(
        description=f"{qty} {TIMES} {product_name(ctx, price)} ({at} / {interval})",
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        period={"end": end, "start": start},
        pricing=pricing_of(price),
        quantity=qty,
        quantity_decimal=str(qty),
        subscription=sub["id"],
        _tax_rates=rate_ids(item.get("tax_rates")),
    )
    inv["lines"]["data"].append(line)
    return line


def add_usage_line(
    ctx: Ctx, inv: JSONDict, sub: JSONDict, item: JSONDict, start: int, end: int
) -> JSONDict:
    """A metered item's line: usage in [start, end) from its meter, priced (engine/metered.py)."""
    from .metered import period_usage, usage_amount

    price = item["price"]
    usage = period_usage(ctx, price, sub["customer"], start, end)
    amount = usage_amount(price, usage)
    qty = int(usage.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    line = _line_base(inv, amount, inv["currency"])
    line.update(
        description=f"{qty} {TIMES} {product_name(ctx, price)} (usage)",
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        period={"end": end, "start": start},
        pricing=pricing_of(price),
        quantity=qty,
        quantity_decimal=format(usage.normalize(), "f"),
        subscription=sub["id"],
        _tax_rates=rate_ids(item.get("tax_rates")),
    )
    inv["lines"]["data"].append(line)
    return line


def _line_credited_items(ctx: Ctx, inv: JSONDict, ii: JSONDict) -> JSONDict | None:
    """A credit proration line's `credited_items` ({invoice, invoice_line_items}):
    the invoice item's, with a debit that was still pending resolved to the
    line that invoiced it (on this invoice or an earlier one)."""
    credited = (ii.get("proration_details") or {}).get("credited_items")
    if not credited:
        return None
    if credited.get("type") == "invoice_line_items":
        details = credited["invoice_line_item_details"]
        return {"invoice": details["invoice"], "invoice_line_items": details["invoice_line_items"]}
    debit = ctx.find("invoiceitem", credited.get("invoice_item") or "")
    holder = inv if debit is not None and debit.get("invoice") == inv["id"] else None
    if holder is None and debit is not None and debit.get("invoice"):
        holder = ctx.find("invoice", debit["invoice"])
    if holder is None or debit is None:
        return None
    lines = [
        line["id"]
        for line in holder["lines"]["data"]
        if ((line.get("parent") or {}).get("invoice_item_details") or {}).get("invoice_item")
        == debit["id"]
    ]
    return {"invoice": holder["id"], "invoice_line_items": lines}


def add_invoice_item_line(ctx: Ctx, inv: JSONDict, ii: JSONDict) -> JSONDict:
    line = _line_base(inv, int(ii["amount"]), ii["currency"])
    sub_id = ((ii.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    line.update(
        description=ii.get("description"),
        discountable=bool(ii.get("discountable", True)),
        metadata=dict(ii.get("metadata") or {}),
        parent={
            "invoice_item_details": {
                "invoice_item": ii["id"],
                "proration": bool(ii.get("proration")),
                "proration_details": {"credited_items": _line_credited_items(ctx, inv, ii)},
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        period=dict(ii["period"]),
        pricing=ii.get("pricing"),
        quantity=ii.get("quantity", 1),
        quantity_decimal=str(ii.get("quantity", 1)),
        subscription=sub_id,
        _tax_rates=rate_ids(ii.get("tax_rates")),
        _tax_behavior=ii.get("_tax_behavior"),
    )
    inv["lines"]["data"].append(line)
    return line


def pending_invoice_items(
    ctx: Ctx, customer_id: str, sub_id: str | None, currency: str | None = None
) -> list[JSONDict]:
    """The customer's uninvoiced items a new invoice picks up (oldest first).

    Subscription invoices take the subscription's items and the customer's
    items without a subscription; other invoices only the latter. With
    `currency`, only items in that currency: "The currency parameter dictates
    which invoice items get pulled into the invoice"
    (docs.stripe.com/invoicing/multi-currency-customers).
    """

    def keep(ii: JSONDict) -> bool:
        if currency is not None and ii.get("currency") != currency:
            return False
        owner = ((ii.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return owner is None or owner == sub_id

    candidates = ctx.store.all_where("invoiceitem", {"customer": customer_id, "invoice": None})
    return [ii for ii in reversed(candidates) if keep(ii)]


def attach_pending_items(ctx: Ctx, inv: JSONDict, items: list[JSONDict]) -> None:
    for ii in items:
        ii["invoice"] = inv["id"]
        ctx.save(ii)
        add_invoice_item_line(ctx, inv, ii)


def refresh_totals(ctx: Ctx, inv: JSONDict) -> JSONDict:
    """Recompute discounts and totals of a draft invoice from its lines."""
    lines = inv["lines"]["data"]
    currency = inv["currency"]
    for line in lines:
        line["discount_amounts"] = []
    totals: dict[str, int] = {}
    for discount_id in inv.get("discounts") or []:
        discount = ctx.find("discount", discount_id)
        if discount is None:
            continue
        coupon = ctx.find("coupon", discount["source"]["coupon"])
        if coupon is None:
            continue
        if coupon.get("amount_off") is not None:
            # A fixed amount is spread over the eligible lines pro rata.
            eligible = [
                ln
                for ln in lines
                if ln["discountable"] and ln["amount"] > 0 and applies_to(coupon, ln)
            ]
            base = sum(
                ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"]) for ln in eligible
            )
            total = discount_amount(coupon, base, currency)
            left = total
            for i, ln in enumerate(eligible):
                net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
                share = left if i == len(eligible) - 1 else round_half_up(total * net, base or 1)
                share = min(share, left)
                left -= share
                ln["discount_amounts"].append({"amount": share, "discount": discount_id})
            if total:
                totals[discount_id] = totals.get(discount_id, 0) + total
        else:
            # Percentages also apply to proration credits (negative lines), so a
            # credit gives back what was actually paid for the unused time.
            for ln in lines:
                if not ln["discountable"] or ln["amount"] == 0 or not applies_to(coupon, ln):
                    continue
                net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
                sign = -1 if net < 0 else 1
                amount = sign * discount_amount(coupon, abs(net), currency)
                ln["discount_amounts"].append({"amount": amount, "discount": discount_id})
                totals[discount_id] = totals.get(discount_id, 0) + amount
    subtotal = sum(int(ln["amount"]) for ln in lines)
    discount_total = sum(totals.values())
    exclusive_tax, inclusive_tax = apply_invoice_taxes(ctx, inv)
    total = subtotal - discount_total + exclusive_tax
    inv["subtotal"] = subtotal
    inv["subtotal_excluding_tax"] = subtotal - inclusive_tax
    inv["total"] = total
    inv["total_excluding_tax"] = total - exclusive_tax - inclusive_tax
    inv["total_discount_amounts"] = [{"amount": a, "discount": d} for d, a in totals.items()]
    inv["amount_due"] = max(0, total)
    inv["amount_remaining"] = inv["amount_due"] - inv["amount_paid"]
    return inv


def _finalization_failed(ctx: Ctx, env: Env, inv: JSONDict, exc: StripeAPIError) -> None:
    """An automatic finalisation that could not run: the invoice stays a draft
    with `last_finalization_error` (invoice.finalization_failed)."""
    inv = ctx.get("invoice", inv["id"])
    inv["last_finalization_error"] = {
        "code": exc.code,
        "doc_url": f"https://stripe.com/docs/error-codes/{str(exc.code).replace('_', '-')}",
        "message": exc.message,
        "param": exc.param,
        "type": "invalid_request_error",
    }
    inv["automatic_tax"]["status"] = "requires_location_inputs"
    inv["automatic_tax"]["disabled_reason"] = "finalization_requires_location_inputs"
    inv["auto_advance"] = False
    inv["automatically_finalizes_at"] = None
    ctx.save(inv)
    emit_event(ctx, env, "invoice.finalization_failed", inv)


def _next_number(ctx: Ctx, customer: JSONDict) -> str:
    cus = ctx.get("customer", customer["id"])
    seq = int(cus.get("next_invoice_sequence") or 1)
    cus["next_invoice_sequence"] = seq + 1
    ctx.save(cus)
    return f"{cus.get('invoice_prefix') or 'EMU'}-{seq:04d}"


def _apply_customer_balance(
    ctx: Ctx, env: Env, customer: JSONDict, inv: JSONDict, new_balance: int
) -> None:
    """Move the customer's balance to `new_balance` for `inv`, with its ledger entry.

    docs.stripe.com/billing/customer/balance: the balance is computed from a
    ledger of Customer Balance Transactions; a credit used by an invoice, or
    the credit a negative invoice total leaves, is an `applied_to_invoice`
    transaction naming the invoice (negative amount: a credit).
    """
    before = deep_copy(customer)
    amount = new_balance - int(customer.get("balance") or 0)
    customer["balance"] = new_balance
    ctx.save(
        {
            "id": new_id("cbtxn"),
            "object": "customer_balance_transaction",
            "amount": amount,
            "checkout_session": None,
            "created": env.now,
            "credit_note": None,
            "currency": inv["currency"],
            "customer": customer["id"],
            "customer_account": None,
            "description": None,
            "ending_balance": new_balance,
            "invoice": inv["id"],
            "livemode": False,
            "metadata": {},
            "type": "applied_to_invoice",
        }
    )
    ctx.save(customer)
    emit_event(ctx, env, "customer.updated", customer, previous=before)


def finalize_invoice(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    """draft -> open: number, URLs, customer balance, PaymentIntent; emits invoice.finalized.

    A zero amount due is paid at once (invoice.paid, invoice.payment_succeeded).
    Does not attempt payment: callers decide (`collect_invoice`).
    """
    if inv["status"] != "draft":
        raise invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    customer = ctx.get("customer", inv["customer"])
    refresh_totals(ctx, inv)
    if (inv.get("automatic_tax") or {}).get("status") == "requires_location_inputs":
        # docs.stripe.com/tax/customer-locations: no usable location, no
        # finalisation (changelog 2024-10-28 "invoice finalization errors due
        # to invalid customer tax locations").
        raise location_error()
    # "A CAD invoice doesn't apply a customer credit balance denominated in USD"
    # (multi-currency customers); the emulator keeps one balance per customer.
    same_currency = customer.get("currency") in (None, inv["currency"])
    balance = int(customer.get("balance") or 0) if same_currency else 0
    inv["starting_balance"] = balance
    after = inv["total"] + balance
    inv["amount_due"] = max(0, after)
    inv["amount_remaining"] = inv["amount_due"]
    new_balance = min(0, after)
    inv["ending_balance"] = new_balance
    if new_balance != balance and same_currency:
        _apply_customer_balance(ctx, env, customer, inv, new_balance)
    inv["number"] = _next_number(ctx, customer)
    inv["status"] = "open"
    inv["status_transitions"]["finalized_at"] = env.now
    inv["effective_at"] = env.now
    inv["automatically_finalizes_at"] = None
    inv["hosted_invoice_url"] = hosted_invoice_url(ctx, inv)
    inv["invoice_pdf"] = invoice_pdf_url(ctx, inv)
    if inv["collection_method"] == "send_invoice":
        inv["due_date"] = env.now + int(inv.get("_days_until_due") or 30) * DAY
    for discount_id in inv.get("discounts") or []:
        discount = ctx.find("discount", discount_id)
        if discount is not None and any(
            d["discount"] == discount_id and d["amount"] > 0 for d in inv["total_discount_amounts"]
        ):
            discount["_used"] = True
            ctx.save(discount)
    if inv["amount_due"] > 0:
        pi = new_payment_intent(
            ctx,
            env,
            amount=inv["amount_due"],
            currency=inv["currency"],
            customer=inv["customer"],
            description=f"Invoice {inv['number']}",
            invoice_id=inv["id"],
            setup_future_usage="off_session" if inv.get("parent") else None,
        )
        inv["_payment_intent"] = pi["id"]
        inv["confirmation_secret"] = {
            "client_secret": pi["client_secret"],
            "type": "payment_intent",
        }
        payment: JSONDict = {
            "id": new_id("invoice_payment"),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": inv["amount_due"],
            "created": env.now,
            "currency": inv["currency"],
            "invoice": inv["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"payment_intent": pi["id"], "type": "payment_intent"},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        }
        ctx.save(payment)
        inv["_invoice_payment"] = payment["id"]
    ctx.save(inv)
    emit_event(ctx, env, "invoice.finalized", inv)
    if inv["amount_due"] == 0:
        inv = mark_paid(ctx, env, inv)
    return inv


def mark_paid(ctx: Ctx, env: Env, inv: JSONDict, *, before: JSONDict | None = None) -> JSONDict:
    """open -> paid; `before` (the invoice before the paying attempt) adds invoice.updated."""
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["status"] = "paid"
    inv["status_transitions"]["paid_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    if inv["amount_due"] > 0:
        inv["attempted"] = True
    ctx.save(inv)
    if before is not None:
        emit_event(ctx, env, "invoice.updated", inv, previous=before)
    emit_event(ctx, env, "invoice.paid", inv)
    emit_event(ctx, env, "invoice.payment_succeeded", inv)
    payment = ctx.find("invoice_payment", inv.get("_invoice_payment") or "")
    if payment is not None:
        payment["status"] = "paid"
        payment["amount_paid"] = inv["amount_paid"]
        payment["status_transitions"]["paid_at"] = env.now
        ctx.save(payment)
        emit_event(ctx, env, "invoice_payment.paid", payment)
    for after_paid in _after_paid:
        after_paid(ctx, env, inv)
    customer = ctx.find("customer", inv["customer"]) or {}
    # Only a delinquent customer needs the (scanning) check of their invoices.
    if customer.get("delinquent") and not any(
        i["attempted"]
        for i in ctx.store.all_where("invoice", {"customer": inv["customer"], "status": "open"})
    ):
        _set_delinquent(ctx, env, inv["customer"], False)
    return ctx.get("invoice", inv["id"])


def _set_delinquent(ctx: Ctx, env: Env, customer_id: str, value: bool) -> None:
    """`customer.delinquent`: true while an attempted invoice of theirs is unpaid."""
    customer = ctx.find("customer", customer_id)
    if customer is None or customer.get("deleted") or bool(customer.get("delinquent")) == value:
        return
    before = deep_copy(customer)
    customer["delinquent"] = value
    ctx.save(customer)
    emit_event(ctx, env, "customer.updated", customer, previous=before)


def _payment_method_chain(ctx: Ctx, inv: JSONDict, explicit: str | None) -> str | None:
    """Invoice default -> subscription default -> customer invoice_settings default."""
    if explicit:
        return explicit
    if inv.get("default_payment_method"):
        return id_of(inv["default_payment_method"])
    sub = invoice_subscription(ctx, inv)
    if sub is not None and sub.get("default_payment_method"):
        return id_of(sub["default_payment_method"])
    customer = ctx.find("customer", inv["customer"]) or {}
    return id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))


def invoice_subscription(ctx: Ctx, inv: JSONDict) -> JSONDict | None:
    details = (inv.get("parent") or {}).get("subscription_details") or {}
    sub_id = id_of(details.get("subscription"))
    return ctx.find("subscription", sub_id) if sub_id else None


def collect_invoice(
    ctx: Ctx,
    env: Env,
    inv: JSONDict,
    *,
    payment_method: str | None = None,
    off_session: bool = True,
    authenticated: bool = False,
    automatic: bool = True,
) -> tuple[JSONDict, ChargeOutcome]:
    """Attempt payment of an open invoice; returns it and the outcome.

    `automatic` attempts (the first one after finalisation, scheduled
    retries) advance the retry schedule; manual ones (API pay, hosted page)
    do not.
    """
    if inv["status"] not in ("open", "uncollectible") or inv["amount_remaining"] <= 0:
        return inv, ChargeOutcome("succeeded")
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is None or pi["status"] == "canceled":
        pi = new_payment_intent(
            ctx,
            env,
            amount=inv["amount_remaining"],
            currency=inv["currency"],
            customer=inv["customer"],
            description=f"Invoice {inv['number']}",
            invoice_id=inv["id"],
        )
        inv["_payment_intent"] = pi["id"]
        inv["confirmation_secret"] = {
            "client_secret": pi["client_secret"],
            "type": "payment_intent",
        }
        ctx.save(inv)
    pm_id = _payment_method_chain(ctx, inv, payment_method)
    pm = payment_method_for(ctx, pm_id, inv["customer"], param="payment_method")
    pi, outcome = attempt_payment_intent(
        ctx, env, pi, pm, off_session=off_session, authenticated=authenticated
    )
    inv = record_invoice_attempt(ctx, env, inv, pi, outcome, counts_as_retry=automatic)
    return inv, outcome


def record_invoice_attempt(
    ctx: Ctx,
    env: Env,
    inv: JSONDict,
    pi: JSONDict,
    outcome: ChargeOutcome,
    *,
    counts_as_retry: bool,
) -> JSONDict:
    inv = ctx.get("invoice", inv["id"])
    before = deep_copy(inv)
    inv["attempted"] = True
    inv["attempt_count"] = int(inv["attempt_count"]) + 1
    if outcome.result == "succeeded":
        return mark_paid(ctx, env, inv, before=before)
    exhausted = False
    if counts_as_retry:
        inv["_auto_attempts"] = int(inv.get("_auto_attempts") or 0) + 1
        schedule = settings(ctx)["retry_schedule_days"]
        retryable = (
            inv.get("parent") is not None
            and inv.get("billing_reason") != "subscription_create"
            and inv.get("auto_advance")
            and outcome.result == "declined"
        )
        if retryable and inv["_auto_attempts"] <= len(schedule):
            delay = schedule[inv["_auto_attempts"] - 1]
            inv["next_payment_attempt"] = env.now + int(delay * DAY)
        else:
            inv["next_payment_attempt"] = None
            exhausted = bool(retryable)
    ctx.save(inv)
    if outcome.result == "requires_action":
        emit_event(ctx, env, "invoice.payment_action_required", inv)
    else:
        emit_event(ctx, env, "invoice.payment_failed", inv)
    emit_event(ctx, env, "invoice.updated", inv, previous=before)
    _set_delinquent(ctx, env, inv["customer"], True)
    for after_failure in _after_failure:
        after_failure(ctx, env, inv, exhausted=exhausted)
    return ctx.get("invoice", inv["id"])


def void_invoice(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid_request(
            f"You can only void open or uncollectible invoices; this one is {inv['status']}."
        )
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    inv["amount_remaining"] = 0
    ctx.save(inv)
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is not None:
        cancel_payment_intent(ctx, env, pi, "void_invoice")
    payment = ctx.find("invoice_payment", inv.get("_invoice_payment") or "")
    if payment is not None and payment["status"] == "open":
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = env.now
        ctx.save(payment)
    emit_event(ctx, env, "invoice.voided", inv)
    return inv


def mark_uncollectible(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    if inv["status"] != "open":
        raise invalid_request(
            f"You can only mark open invoices uncollectible; this one is {inv['status']}."
        )
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    ctx.save(inv)
    emit_event(ctx, env, "invoice.marked_uncollectible", inv)
    return inv


def invoice_pay(
    ctx: Ctx,
    invoice_id: str,
    *,
    payment_method: str | None = None,
    off_session: bool = False,
    authenticated: bool = False,
    raise_on_failure: bool = True,
) -> JSONDict:
    """Attempt payment of an open (or draft: finalised first) invoice; returns it.

    Used by POST /v1/invoices/{id}/pay and by the hosted invoice page when a
    customer pays with a (new) card. `payment_method` overrides the default
    chain (invoice default -> subscription default -> customer default). On
    success the invoice becomes paid and its subscription active
    (incomplete/past_due/unpaid -> active). With `raise_on_failure` (the API)
    a decline raises the 402 card_error and a card needing 3DS the 402
    `invoice_payment_intent_requires_action`, both with `keep_state` set so
    the failed attempt is committed; without it the invoice is returned
    (check `status`, and the PaymentIntent's `status` / `last_payment_error`).
    """
    inv = ctx.get("invoice", invoice_id)
    env = api_env(ctx, inv["customer"])
    if inv["status"] == "draft":
        inv = finalize_invoice(ctx, env, inv)
    if inv["status"] == "paid":
        raise invalid_request("Invoice is already paid.")
    if inv["status"] == "void":
        raise invalid_request("You cannot pay a voided invoice.")
    if payment_method:
        payment_method_for(ctx, payment_method, inv["customer"], param="payment_method")
    inv, outcome = collect_invoice(
        ctx,
        env,
        inv,
        payment_method=payment_method,
        off_session=off_session,
        authenticated=authenticated,
        automatic=False,
    )
    if raise_on_failure and outcome.result != "succeeded":
        pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
        if outcome.result == "requires_action":
            err = StripeAPIError(
                402,
                "Payment for this invoice requires a payment method with additional "
                "authentication.",
                type="card_error",
                code="invoice_payment_intent_requires_action",
                extra={"payment_intent": deep_copy(pi)} if pi else None,
            )
        else:
            err = card_error(
                outcome.message or "Your card was declined.",
                code=outcome.code or "card_declined",
                decline_code=outcome.decline_code,
                extra={"payment_intent": pi} if pi else None,
            )
        err.keep_state = True  # the failed attempt stays on record, as on Stripe
        raise err
    return inv


def add_invoice_items(ctx: Ctx, env: Env, sub: JSONDict, raw: Any) -> list[JSONDict]:
    """`add_invoice_items=[{price|price_data, quantity}]`: one-off pending items
    for the subscription's next invoice (the first one on create)."""
    out: list[JSONDict] = []
    for i, entry in enumerate(raw or []):
        param = f"add_invoice_items[{i}]"
        if entry.get("price"):
            price = ctx.get("price", entry["price"], param=f"{param}[price]")
        elif entry.get("price_data"):
            from .catalog import price_create

            price = price_create(ctx, dict(entry["price_data"]))
        else:
            raise invalid_request(
                "Missing required param: price.", param=f"{param}[price]", code="parameter_missing"
            )
        if price.get("currency") != sub["currency"]:
            raise invalid_request(
                "The price's currency must match the subscription's.", param=f"{param}[price]"
            )
        qty = int(entry.get("quantity", 1))
        amount = price_amount(price, qty)
        period = entry.get("period") or {}
        ii: JSONDict = {
            "id": new_id("invoiceitem"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": sub["currency"],
            "customer": sub["customer"],
            "customer_account": None,
            "date": env.now,
            "description": product_name(ctx, price),
            "discountable": bool(entry.get("discountable", True)),
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": apply_metadata({}, entry.get("metadata")),
            "net_amount": amount,
            "parent": {
                "subscription_details": {"subscription": sub["id"], "subscription_item": None},
                "type": "subscription_details",
            },
            "period": {
                "end": (period.get("end") or {}).get("timestamp") or env.now,
                "start": (period.get("start") or {}).get("timestamp") or env.now,
            },
            "pricing": pricing_of(price),
            "proration": False,
            "proration_details": {"credited_items": None, "discount_amounts": []},
            "quantity": qty,
            "quantity_decimal": str(qty),
            "tax_rates": [],
            "test_clock": sub.get("test_clock"),
        }
        ctx.save(ii)
        emit_event(ctx, env, "invoiceitem.created", ii)
        out.append(ii)
    return out


def open_cycle_invoice(
    ctx: Ctx, env: Env, sub: JSONDict, inv: JSONDict, *, synchronous: bool
) -> None:
    """Store a new cycle invoice (invoice.created) and schedule or run finalisation."""
    pause = sub.get("pause_collection")
    delay = settings(ctx)["finalize_delay_seconds"]
    if pause:
        inv["auto_advance"] = pause["behavior"] != "keep_as_draft"
    elif sub["status"] == "unpaid":
        # Retries are exhausted: new invoices stay drafts, never collected.
        inv["auto_advance"] = False
    elif not synchronous and delay > 0:
        inv["automatically_finalizes_at"] = env.now + delay
    ctx.save(inv)
    emit_event(ctx, env, "invoice.created", inv)
    if pause:
        if pause["behavior"] == "keep_as_draft":
            return
        inv = finalize_invoice(ctx, env, inv)
        if inv["status"] == "open":
            if pause["behavior"] == "void":
                void_invoice(ctx, env, inv)
            else:
                mark_uncollectible(ctx, env, inv)
        return
    if inv["auto_advance"] and (synchronous or delay <= 0):
        finalize_and_collect(ctx, env, inv)


def finalize_and_collect(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    try:
        with ctx.store.atomic():
            inv = finalize_invoice(ctx, env, inv)
    except StripeAPIError as exc:
        if not env.automatic or exc.code != "customer_tax_location_invalid":
            raise
        _finalization_failed(ctx, env, inv, exc)
        return
    if inv["status"] == "open" and inv["collection_method"] == "charge_automatically":
        collect_invoice(ctx, env, inv, off_session=True, automatic=True)
    elif inv["status"] == "open":
        # Stripe emails it to the customer (the emulator sends nothing).
        emit_event(ctx, env, "invoice.sent", inv)
