"""Hosted invoice page (`invoice.hosted_invoice_url` = /invoices/{id}) and its PDF
(`invoice.invoice_pdf` = /invoices/{id}/pdf).

Open invoices show a card form (button "Pay"); paying calls
`engine.invoice_pay` with the new card, attached to the invoice's customer.
"""

# ruff: noqa: E501 - HTML templates read better unwrapped

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..context import Ctx
from ..engine.cards import attach_payment_method, build_card_payment_method
from ..errors import StripeAPIError
from ..response import Response
from .checkout_page import business_name, parse_expiry
from .html import (
    date,
    document,
    esc,
    forbidden,
    hidden_token,
    html_response,
    money,
    notice,
    redirect,
    status_pill,
    token_ok,
)
from .pdf import MARGIN, PAGE_W, PdfDocument
from .registry import PageNotFound, PageRequest, page

JSONDict = dict[str, Any]


def _invoice(ctx: Ctx, invoice_id: str) -> JSONDict:
    inv = ctx.find("invoice", invoice_id) if invoice_id.startswith("in_") else None
    if inv is None or inv.get("deleted"):
        raise PageNotFound("This invoice does not exist.")
    return inv


def _lines(ctx: Ctx, inv: JSONDict) -> list[JSONDict]:
    lines = (inv.get("lines") or {}).get("data")
    if isinstance(lines, list):
        return [line for line in lines if isinstance(line, dict)]
    return []


def _line_text(line: JSONDict) -> tuple[str, str, str]:
    desc = str(line.get("description") or "Item")
    period = line.get("period") or {}
    when = ""
    if period.get("start") and period.get("end") and period["start"] != period["end"]:
        when = f"{date(period['start'])} - {date(period['end'])}"
    qty = str(line.get("quantity") or "")
    return desc, when, qty


def _facts(inv: JSONDict) -> list[tuple[str, str]]:
    facts = [("Invoice number", str(inv.get("number") or inv["id"]))]
    facts.append(("Date of issue", date(inv.get("created"))))
    if inv.get("due_date"):
        facts.append(("Date due", date(inv["due_date"])))
    paid_at = (inv.get("status_transitions") or {}).get("paid_at")
    if paid_at:
        facts.append(("Date paid", date(paid_at)))
    return facts


def _tax_label(ctx: Ctx, tax: JSONDict) -> str:
    """ "VAT - DE (19%)", with "inclusive" or "reverse charge" where that applies."""
    rate = ctx.find("tax_rate", str((tax.get("tax_rate_details") or {}).get("tax_rate"))) or {}
    where = rate.get("state") or rate.get("jurisdiction") or rate.get("country")
    pct = rate.get("effective_percentage", rate.get("percentage"))
    label = str(rate.get("display_name") or "Tax")
    if where:
        label += f" - {where}"
    if pct is not None:
        label += f" ({float(pct):g}%)"
    if tax.get("tax_behavior") == "inclusive":
        label += ", included"
    reason = tax.get("taxability_reason")
    if reason == "reverse_charge":
        label += ", reverse charge"
    return label


def _totals(ctx: Ctx, inv: JSONDict) -> list[tuple[str, int]]:
    rows = [("Subtotal", int(inv.get("subtotal") or 0))]
    for d in inv.get("total_discount_amounts") or []:
        rows.append(("Discount", -int(d.get("amount") or 0)))
    taxes = inv.get("total_taxes") or []
    if taxes:
        rows.append(("Total excluding tax", int(inv.get("total_excluding_tax") or 0)))
    for tax in taxes:
        rows.append((_tax_label(ctx, tax), int(tax.get("amount") or 0)))
    rows.append(("Total", int(inv.get("total") or 0)))
    if inv.get("amount_paid"):
        rows.append(("Amount paid", int(inv["amount_paid"])))
    rows.append(("Amount due", int(inv.get("amount_remaining", inv.get("amount_due")) or 0)))
    return rows


def render_invoice(ctx: Ctx, inv: JSONDict, *, error: str = "", status: int = 200) -> Response:
    brand = business_name(ctx)
    cur = inv.get("currency")
    rows = []
    for line in _lines(ctx, inv):
        desc, when, qty = _line_text(line)
        when_html = f'<div class="muted small">{esc(when)}</div>' if when else ""
        rows.append(
            f'<tr><td>{esc(desc)}{when_html}</td><td class="num">{esc(qty)}</td>'
            f'<td class="num">{esc(money(line.get("amount"), cur))}</td></tr>'
        )
    totals = "".join(
        f'<tr class="{"total" if label == "Amount due" else ""}"><td colspan="2">{esc(label)}</td>'
        f'<td class="num">{esc(money(amount, cur))}</td></tr>'
        for label, amount in _totals(ctx, inv)
    )
    facts = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in _facts(inv)
    )
    bill_to = esc(inv.get("customer_name") or "") + (
        f"<br>{esc(inv.get('customer_email'))}" if inv.get("customer_email") else ""
    )
    pay = ""
    if inv.get("status") == "open" and int(inv.get("amount_remaining") or 0) > 0:
        pay = (
            f'<form method="post" class="card" novalidate>{hidden_token(ctx, inv["id"])}'
            f"<h2>Pay this invoice</h2>{notice(error)}"
            '<label for="card_number">Card number</label>'
            '<input type="text" id="card_number" name="card_number" inputmode="numeric" '
            'autocomplete="cc-number" placeholder="1234 1234 1234 1234" required>'
            '<div class="row"><div><label for="card_expiry">Expiration (MM / YY)</label>'
            '<input type="text" id="card_expiry" name="card_expiry" placeholder="MM / YY"></div>'
            '<div><label for="card_cvc">CVC</label>'
            '<input type="text" id="card_cvc" name="card_cvc" placeholder="CVC"></div></div>'
            '<label for="cardholder_name">Cardholder name</label>'
            '<input type="text" id="cardholder_name" name="cardholder_name">'
            f'<button type="submit" class="block">Pay {esc(money(inv.get("amount_remaining"), cur))}'
            "</button></form>"
        )
    elif error:
        pay = notice(error)
    pdf = (
        f'<a class="button secondary small" href="/invoices/{esc(quote(inv["id"]))}/pdf">'
        "Download invoice</a>"
    )
    body = (
        f'<div class="card"><p class="muted">{esc(brand)}</p>'
        f'<div class="plan"><div><div class="amount">'
        f"{esc(money(inv.get('amount_remaining') if inv.get('status') == 'open' else inv.get('total'), cur))}"
        f"</div>{status_pill(inv.get('status'))}</div><div>{pdf}</div></div>"
        f'<div class="table-wrap" style="margin-top:1rem"><table aria-label="Invoice details">'
        f'<tbody>{facts}<tr><th scope="row">Bill to</th><td>{bill_to}</td></tr></tbody>'
        "</table></div></div>"
        f"{pay}"
        '<div class="card"><div class="table-wrap"><table aria-label="Invoice lines"><thead><tr>'
        '<th scope="col">Description</th><th scope="col" class="num">Qty</th>'
        '<th scope="col" class="num">Amount</th></tr></thead>'
        f"<tbody>{''.join(rows)}{totals}</tbody></table></div></div>"
    )
    title = f"Invoice {inv.get('number') or inv['id']}"
    return html_response(document(title, body, brand=brand, narrow=True), status)


@page("GET", "/invoices/{id}")
def invoice_get(ctx: Ctx, req: PageRequest, id: str) -> Response:
    inv = _invoice(ctx, id)
    flash = inv.get("_page_flash")
    if flash:
        inv.pop("_page_flash")
        ctx.save(inv)
    return render_invoice(ctx, inv, error=str(flash or ""))


@page("POST", "/invoices/{id}")
def invoice_post(ctx: Ctx, req: PageRequest, id: str) -> Response:
    from .. import engine

    inv = _invoice(ctx, id)
    if not token_ok(ctx, inv["id"], req.form.get("token", "")):
        return forbidden()
    if inv.get("status") != "open":
        return render_invoice(ctx, inv, error="This invoice is not open for payment.", status=409)
    number = req.value("card_number").replace(" ", "").replace("-", "")
    if not number:
        return render_invoice(ctx, inv, error="Your card number is incomplete.")
    month, year = parse_expiry(req.value("card_expiry"))
    try:
        with ctx.store.atomic():
            pm = build_card_payment_method(
                ctx,
                number,
                exp_month=month or 12,
                exp_year=year,
                cvc=req.value("card_cvc") or None,
                billing_details={"name": req.value("cardholder_name") or None},
            )
            attach_payment_method(ctx, pm["id"], str(inv["customer"]))
    except StripeAPIError as exc:
        if exc.type == "card_error":
            return render_invoice(ctx, inv, error=exc.message)
        raise
    try:
        engine.invoice_pay(ctx, inv["id"], payment_method=pm["id"])
    except StripeAPIError as exc:
        if exc.code in ("invoice_payment_intent_requires_action", "authentication_required"):
            pi = (exc.extra or {}).get("payment_intent")
            pi_id = pi.get("id") if isinstance(pi, dict) else None
            if not pi_id:
                found = ctx.store.all(
                    "payment_intent",
                    lambda i: (
                        i.get("status") == "requires_action"
                        and i.get("customer") == inv.get("customer")
                    ),
                )
                pi_id = found[0]["id"] if found else None
            if pi_id:
                return redirect(f"/3ds/{quote(str(pi_id))}?return_to=/invoices/{quote(inv['id'])}")
        if exc.type == "card_error" or exc.status == 402:
            return render_invoice(ctx, _invoice(ctx, id), error=exc.message)
        raise
    return redirect(f"/invoices/{quote(inv['id'])}")


@page("GET", "/invoices/{id}/pdf")
def invoice_pdf(ctx: Ctx, req: PageRequest, id: str) -> Response:
    from ..response import Response as Resp

    inv = _invoice(ctx, id)
    data = invoice_pdf_bytes(ctx, inv)
    name = f"Invoice-{inv.get('number') or inv['id']}.pdf"
    return Resp(
        200,
        data,
        {"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
        content_type="application/pdf",
    )


def invoice_pdf_bytes(ctx: Ctx, inv: JSONDict) -> bytes:
    """The invoice as a PDF: header, facts, bill-to, lines and totals."""
    cur = inv.get("currency")
    right = PAGE_W - MARGIN
    doc = PdfDocument()
    status = str(inv.get("status") or "")
    doc.text(MARGIN, "Invoice", size=22, bold=True)
    doc.text(right, business_name(ctx), size=12, bold=True, right=True)
    doc.line(18)
    if status in ("paid", "void", "uncollectible"):
        doc.text(MARGIN, status.upper(), size=10, bold=True)
    doc.line(22)
    for label, value in _facts(inv):
        doc.text(MARGIN, label, size=10)
        doc.text(MARGIN + 120, value, size=10)
        doc.line(14)
    doc.line(10)
    doc.text(MARGIN, "Bill to", size=10, bold=True)
    doc.line(14)
    for who in (inv.get("customer_name"), inv.get("customer_email")):
        if who:
            doc.text(MARGIN, str(who), size=10)
            doc.line(14)
    doc.line(16)
    amount_due = int(inv.get("amount_remaining", inv.get("amount_due")) or 0)
    headline = (
        f"{money(amount_due, cur)} due {date(inv.get('due_date'))}"
        if status == "open" and inv.get("due_date")
        else f"{money(int(inv.get('total') or 0), cur)} {'paid' if status == 'paid' else 'total'}"
    )
    doc.text(MARGIN, headline, size=14, bold=True)
    doc.line(26)
    doc.text(MARGIN, "Description", size=9, bold=True)
    doc.text(right - 110, "Qty", size=9, bold=True, right=True)
    doc.text(right, "Amount", size=9, bold=True, right=True)
    doc.line(6)
    doc.rule()
    doc.line(14)
    for line in _lines(ctx, inv):
        desc, when, qty = _line_text(line)
        doc.ensure(30)
        doc.text(MARGIN, desc[:80], size=10)
        doc.text(right - 110, qty, size=10, right=True)
        doc.text(right, money(line.get("amount"), cur), size=10, right=True)
        if when:
            doc.line(12)
            doc.text(MARGIN, when, size=8)
        doc.line(16)
    doc.rule()
    doc.line(16)
    for label, amount in _totals(ctx, inv):
        doc.ensure(16)
        bold = label in ("Total", "Amount due")
        doc.text(right - 160, label, size=10, bold=bold)
        doc.text(right, money(amount, cur), size=10, bold=bold, right=True)
        doc.line(15)
    doc.line(20)
    doc.text(MARGIN, f"Invoice {inv['id']} - generated by the offline Stripe emulator.", size=8)
    return doc.build(title=f"Invoice {inv.get('number') or inv['id']}")
