"""Credit notes: adjust a finalized invoice (docs.stripe.com/api/credit_notes/create).

"A credit note will first reduce the invoice's amount_remaining (and
amount_due), but not below zero. This amount is indicated by the credit
note's pre_payment_amount. The excess amount is indicated by
post_payment_amount", which is refunded (`refund_amount`, or existing
`refunds`), credited to the customer's balance (`credit_amount`) or recorded
as credited outside Stripe (`out_of_band_amount`); those must add up to the
post-payment amount. Each credit note adds to the invoice's
`pre_payment_credit_notes_amount` / `post_payment_credit_notes_amount`.
Amounts come from `lines` (an invoice line by `quantity` or `amount`, or a
`custom_line_item` with `unit_amount` x `quantity`) or from `amount`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..updates import apply_metadata
from .common import Env, JSONDict, api_env, base_url, deep_copy, emit_event
from .invoicing import mark_paid
from .payments import cancel_payment_intent, refund_charge

CREDITABLE_STATUSES = ("open", "paid", "uncollectible")


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _line_discount(line: JSONDict) -> int:
    return sum(int(d["amount"]) for d in line.get("discount_amounts") or [])


def _cn_line(
    amount: int,
    *,
    type: str,
    description: Any,
    quantity: int | None,
    unit: Decimal | None,
    discounts: list[JSONDict],
    invoice_line: str | None,
    metadata: Any,
) -> JSONDict:
    return {
        "id": new_id("credit_note_line_item"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": sum(d["amount"] for d in discounts),
        "discount_amounts": discounts,
        "invoice_line_item": invoice_line,
        "livemode": False,
        "metadata": apply_metadata({}, metadata),
        "pretax_credit_amounts": [],
        "quantity": quantity,
        "tax_rates": [],
        "taxes": [],
        "type": type,
        "unit_amount": None if unit is None else _round(unit),
        "unit_amount_decimal": None if unit is None else format(unit.normalize(), "f"),
    }


def _invoice_line_credit(inv: JSONDict, spec: JSONDict, param: str) -> JSONDict:
    """A credit for (part of) one of the invoice's lines, by quantity or by amount."""
    line_id = spec.get("invoice_line_item")
    line = next((ln for ln in inv["lines"]["data"] if ln["id"] == line_id), None)
    if line is None:
        raise invalid_request(
            f"No such invoice line item on invoice {inv['id']}: '{line_id}'",
            param=f"{param}[invoice_line_item]",
        )
    line_qty = int(line.get("quantity") or 1)
    if "quantity" in spec:
        qty = int(spec["quantity"])
        if qty < 1 or qty > line_qty:
            raise invalid_request(
                f"The quantity to credit ({qty}) must be between 1 and the line's quantity "
                f"({line_qty}).",
                param=f"{param}[quantity]",
            )
        unit = Decimal(int(line["amount"])) / line_qty
        share = Decimal(qty) / line_qty
        discounts = [
            {"amount": _round(int(d["amount"]) * share), "discount": d["discount"]}
            for d in line.get("discount_amounts") or []
        ]
        return _cn_line(
            _round(unit * qty),
            type="invoice_line_item",
            description=line.get("description"),
            quantity=qty,
            unit=unit,
            discounts=discounts,
            invoice_line=line["id"],
            metadata=spec.get("metadata"),
        )
    if "amount" not in spec:
        raise invalid_request(
            "An invoice line item credit needs a quantity or an amount.",
            param=f"{param}[quantity]",
        )
    amount = int(spec["amount"])
    if amount > int(line["amount"]) - _line_discount(line):
        raise invalid_request(
            f"The amount to credit ({amount}) exceeds the line's amount "
            f"({int(line['amount']) - _line_discount(line)}).",
            param=f"{param}[amount]",
        )
    return _cn_line(
        amount,
        type="invoice_line_item",
        description=line.get("description"),
        quantity=None,
        unit=None,
        discounts=[],
        invoice_line=line["id"],
        metadata=spec.get("metadata"),
    )


def _custom_line_credit(spec: JSONDict, param: str) -> JSONDict:
    if "unit_amount" in spec:
        unit = Decimal(int(spec["unit_amount"]))
    elif spec.get("unit_amount_decimal") is not None:
        unit = Decimal(str(spec["unit_amount_decimal"]))
    else:
        raise invalid_request(
            "Missing required param: unit_amount.",
            param=f"{param}[unit_amount]",
            code="parameter_missing",
        )
    if not spec.get("description"):
        raise invalid_request(
            "Missing required param: description.",
            param=f"{param}[description]",
            code="parameter_missing",
        )
    qty = int(spec.get("quantity", 1))
    return _cn_line(
        _round(unit * qty),
        type="custom_line_item",
        description=spec["description"],
        quantity=qty,
        unit=unit,
        discounts=[],
        invoice_line=None,
        metadata=spec.get("metadata"),
    )


def _lines(inv: JSONDict, params: JSONDict) -> list[JSONDict]:
    specs = params.get("lines") or []
    if not specs:
        if "amount" not in params:
            raise invalid_request(
                "You must pass either `amount` or `lines` to create a credit note.",
                param="amount",
            )
        amount = int(params["amount"])
        return [
            _cn_line(
                amount,
                type="custom_line_item",
                description=params.get("memo") or "Credit",
                quantity=1,
                unit=Decimal(amount),
                discounts=[],
                invoice_line=None,
                metadata=None,
            )
        ]
    out = []
    for i, spec in enumerate(specs):
        param = f"lines[{i}]"
        if spec.get("type") == "invoice_line_item":
            out.append(_invoice_line_credit(inv, spec, param))
        else:
            out.append(_custom_line_credit(spec, param))
    return out


def _issued_notes(ctx: Ctx, inv: JSONDict) -> list[JSONDict]:
    return ctx.store.all_where("credit_note", {"invoice": inv["id"], "status": "issued"})


def _split(ctx: Ctx, inv: JSONDict, total: int, params: JSONDict) -> tuple[int, int]:
    """(pre_payment_amount, post_payment_amount) of a credit note of `total`."""
    already = sum(int(cn["amount"]) for cn in _issued_notes(ctx, inv))
    creditable = int(inv["total"]) - already
    if total < 1:
        raise invalid_request("The credit note amount must be positive.", param="amount")
    if total > creditable:
        raise invalid_request(
            f"The credit note amount ({total}) is greater than the amount that can still be "
            f"credited on invoice {inv['id']} ({max(creditable, 0)}).",
            param="amount" if "amount" in params else "lines",
        )
    if "amount" in params and params.get("lines") and int(params["amount"]) != total:
        raise invalid_request(
            f"The credit note amount ({params['amount']}) must equal the total of its "
            f"lines ({total}).",
            param="amount",
        )
    remaining = int(inv["amount_remaining"]) if inv["status"] != "paid" else 0
    pre = min(total, remaining)
    post = total - pre
    linked = sum(int(r.get("amount_refunded") or 0) for r in params.get("refunds") or [])
    allocated = (
        int(params.get("refund_amount") or 0)
        + linked
        + int(params.get("credit_amount") or 0)
        + int(params.get("out_of_band_amount") or 0)
    )
    if allocated != post:
        raise invalid_request(
            f"The sum of refund_amount, refunds, credit_amount and out_of_band_amount "
            f"({allocated}) must equal the credit note's post-payment amount ({post}).",
            param="refund_amount" if post else "credit_amount",
        )
    return pre, post


def _invoice_charge(ctx: Ctx, inv: JSONDict) -> JSONDict | None:
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is None or pi["status"] != "succeeded" or not pi.get("latest_charge"):
        return None
    return ctx.find("charge", str(pi["latest_charge"]))


def _linked_refunds(ctx: Ctx, inv: JSONDict, params: JSONDict) -> list[JSONDict]:
    charge = _invoice_charge(ctx, inv)
    out = []
    for i, spec in enumerate(params.get("refunds") or []):
        refund = ctx.get("refund", str(spec.get("refund")), param=f"refunds[{i}][refund]")
        if charge is None or refund.get("charge") != charge["id"]:
            raise invalid_request(
                f"Refund {refund['id']} is not a refund of invoice {inv['id']}'s payment.",
                param=f"refunds[{i}][refund]",
            )
        out.append(
            {
                "amount_refunded": int(spec.get("amount_refunded") or refund["amount"]),
                "payment_record_refund": None,
                "refund": refund["id"],
                "type": "refund",
            }
        )
    return out


def credit_note_build(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The credit note `params` describe, checked, nothing stored (also the preview)."""
    inv = ctx.get("invoice", params["invoice"], param="invoice")
    if inv["status"] not in CREDITABLE_STATUSES:
        raise invalid_request(
            f"You can only create a credit note for a finalized invoice (open, paid or "
            f"uncollectible); invoice {inv['id']} is {inv['status']}.",
            param="invoice",
        )
    rate = (params.get("shipping_cost") or {}).get("shipping_rate")
    if rate:
        # The emulator has no shipping rates (GET /v1/shipping_rates is empty).
        raise resource_missing("shipping_rate", rate, param="shipping_cost[shipping_rate]")
    if params.get("refund_amount") and _invoice_charge(ctx, inv) is None:
        raise invalid_request(
            f"Invoice {inv['id']} has no card payment to refund.", param="refund_amount"
        )
    lines = _lines(inv, params)
    subtotal = sum(int(ln["amount"]) for ln in lines)
    discount_totals: dict[str, int] = {}
    for ln in lines:
        for d in ln["discount_amounts"]:
            discount_totals[d["discount"]] = discount_totals.get(d["discount"], 0) + d["amount"]
    discount = sum(discount_totals.values())
    total = subtotal - discount
    pre, post = _split(ctx, inv, total, params)
    env = api_env(ctx, inv["customer"])
    cn_id = new_id("credit_note")
    sequence = len(ctx.store.all_where("credit_note", {"invoice": inv["id"]})) + 1
    return {
        "id": cn_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": env.now,
        "currency": inv["currency"],
        "customer": inv["customer"],
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amount": discount,
        "discount_amounts": [{"amount": a, "discount": d} for d, a in discount_totals.items()],
        "effective_at": params.get("effective_at") or env.now,
        "invoice": inv["id"],
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/credit_notes/{cn_id}/lines",
        },
        "livemode": False,
        "memo": params.get("memo") or None,
        "metadata": apply_metadata({}, params.get("metadata")),
        # Stripe numbers credit notes after their invoice: <invoice number>-CN-01, -02, ...
        "number": f"{inv['number']}-CN-{sequence:02d}",
        "out_of_band_amount": params.get("out_of_band_amount"),
        "pdf": f"{base_url(ctx)}/credit_notes/{cn_id}/pdf",
        "post_payment_amount": post,
        "pre_payment_amount": pre,
        "pretax_credit_amounts": [],
        "reason": params.get("reason"),
        "refunds": _linked_refunds(ctx, inv, params),
        "shipping_cost": None,
        "status": "issued",
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "total": total,
        "total_excluding_tax": total,
        "total_taxes": [],
        "type": "mixed" if pre and post else ("pre_payment" if pre else "post_payment"),
        "voided_at": None,
        "_credit_amount": int(params.get("credit_amount") or 0),
    }


def _balance_transaction(ctx: Ctx, env: Env, cn: JSONDict, amount: int) -> JSONDict:
    """Move the customer's balance by `amount` (negative: a credit) for credit note `cn`."""
    customer = ctx.get("customer", cn["customer"])
    before = deep_copy(customer)
    customer["balance"] = int(customer.get("balance") or 0) + amount
    if not customer.get("currency"):
        customer["currency"] = cn["currency"]
    txn: JSONDict = {
        "id": new_id("cbtxn"),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": env.now,
        "credit_note": cn["id"],
        "currency": cn["currency"],
        "customer": customer["id"],
        "customer_account": None,
        "description": None,
        "ending_balance": customer["balance"],
        "invoice": cn["invoice"],
        "livemode": False,
        "metadata": {},
        "type": "credit_note",
    }
    ctx.save(txn)
    ctx.save(customer)
    emit_event(ctx, env, "customer.updated", customer, previous=before)
    return txn


def _apply_to_invoice(ctx: Ctx, env: Env, cn: JSONDict, sign: int) -> JSONDict:
    """Add (sign=1) or take back (sign=-1) the credit note's amounts on its invoice."""
    inv = ctx.get("invoice", cn["invoice"])
    before = deep_copy(inv)
    pre, post = int(cn["pre_payment_amount"]), int(cn["post_payment_amount"])
    inv["pre_payment_credit_notes_amount"] = (
        int(inv["pre_payment_credit_notes_amount"]) + sign * pre
    )
    inv["post_payment_credit_notes_amount"] = (
        int(inv["post_payment_credit_notes_amount"]) + sign * post
    )
    if pre:
        inv["amount_due"] = int(inv["amount_due"]) - sign * pre
        inv["amount_remaining"] = int(inv["amount_remaining"]) - sign * pre
        _resize_payment_intent(ctx, env, inv)
    ctx.save(inv)
    emit_event(ctx, env, "invoice.updated", inv, previous=before)
    if inv["status"] in ("open", "uncollectible") and inv["amount_remaining"] == 0:
        # Nothing is left to pay: the invoice is paid (amount_paid stays what was paid).
        inv = mark_paid(ctx, env, inv)
    return inv


def _resize_payment_intent(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    """The invoice's unpaid PaymentIntent asks for the new amount remaining."""
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is None or pi["status"] in ("succeeded", "canceled"):
        return
    if inv["amount_remaining"] <= 0:
        cancel_payment_intent(ctx, env, pi, None)
        payment = ctx.find("invoice_payment", inv.get("_invoice_payment") or "")
        if payment is not None and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = env.now
            ctx.save(payment)
        inv["_invoice_payment"] = None
        return
    pi["amount"] = inv["amount_remaining"]
    ctx.save(pi)


def credit_note_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    """POST /v1/credit_notes: refund, credit the balance, reduce the invoice; emits
    credit_note.created, then refund/charge, customer and invoice events."""
    cn = credit_note_build(ctx, params)
    env = api_env(ctx, cn["customer"])
    refund_amount = int(params.get("refund_amount") or 0)
    if refund_amount:
        inv = ctx.get("invoice", cn["invoice"])
        charge = _invoice_charge(ctx, inv)
        assert charge is not None  # checked by credit_note_build
        refundable = int(charge["amount_captured"]) - int(charge["amount_refunded"])
        if refund_amount > refundable:
            raise invalid_request(
                f"Refund amount ({refund_amount}) is greater than unrefunded amount on "
                f"charge ({refundable})",
                param="refund_amount",
            )
        reason = cn["reason"] if cn["reason"] in ("duplicate", "fraudulent") else None
        refund = refund_charge(ctx, env, charge, refund_amount, reason=reason)
        cn["refunds"].append(
            {
                "amount_refunded": refund_amount,
                "payment_record_refund": None,
                "refund": refund["id"],
                "type": "refund",
            }
        )
    if cn["_credit_amount"]:
        txn = _balance_transaction(ctx, env, cn, -cn["_credit_amount"])
        cn["customer_balance_transaction"] = txn["id"]
    ctx.save(cn)
    emit_event(ctx, env, "credit_note.created", cn)
    _apply_to_invoice(ctx, env, cn, 1)
    return ctx.get("credit_note", cn["id"])


def credit_note_void(ctx: Ctx, cn_id: str) -> JSONDict:
    """POST /v1/credit_notes/{id}/void: the credit note's effects are taken back.

    Refunds cannot be taken back, so a credit note that made or linked a refund
    is refused; a pre-payment credit is only given back while its invoice is
    still open (the emulator's rules: Stripe's reference does not list them).
    """
    cn = ctx.get("credit_note", cn_id)
    if cn["status"] == "void":
        raise invalid_request(f"Credit note {cn_id} is already voided.")
    if cn["refunds"]:
        raise invalid_request(
            f"Credit note {cn_id} refunded a payment, and a refund cannot be undone, so it "
            "cannot be voided."
        )
    inv = ctx.get("invoice", cn["invoice"])
    if cn["pre_payment_amount"] and inv["status"] not in ("open", "uncollectible"):
        raise invalid_request(
            f"Credit note {cn_id} reduced invoice {inv['id']}, which is now {inv['status']}, "
            "so it cannot be voided."
        )
    env = api_env(ctx, cn["customer"])
    if cn.get("_credit_amount"):
        _balance_transaction(ctx, env, cn, int(cn["_credit_amount"]))
    cn["status"] = "void"
    cn["voided_at"] = env.now
    ctx.save(cn)
    emit_event(ctx, env, "credit_note.voided", cn)
    _apply_to_invoice(ctx, env, cn, -1)
    return ctx.get("credit_note", cn_id)


def credit_note_update(ctx: Ctx, cn_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/credit_notes/{id}: `memo` and `metadata`; emits credit_note.updated."""
    cn = ctx.get("credit_note", cn_id)
    before = deep_copy(cn)
    if "memo" in params:
        cn["memo"] = params["memo"] or None
    if "metadata" in params:
        cn["metadata"] = apply_metadata(cn.get("metadata"), params["metadata"])
    if cn != before:
        ctx.save(cn)
        emit_event(ctx, api_env(ctx, cn["customer"]), "credit_note.updated", cn, previous=before)
    return cn
