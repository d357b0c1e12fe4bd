"""Credit notes on open and paid invoices, with the stock SDK."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .test_pages import check_pdf


def _invoice(*, pay: bool, quantity: int = 2, unit: int = 1500) -> stripe.Invoice:
    """A finalized invoice of `quantity` x `unit` for a customer with a card."""
    customer = stripe.Customer.create(email="cn@example.com")
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    product = stripe.Product.create(name="Seat")
    price = stripe.Price.create(product=product.id, unit_amount=unit, currency="usd")
    stripe.InvoiceItem.create(customer=customer.id, pricing={"price": price.id}, quantity=quantity)
    inv = stripe.Invoice.create(customer=customer.id, pending_invoice_items_behavior="include")
    inv = stripe.Invoice.finalize_invoice(inv.id)
    assert inv.status == "open"
    if pay:
        inv = stripe.Invoice.pay(inv.id)
        assert inv.status == "paid"
    return inv


def _line_id(inv: stripe.Invoice) -> str:
    return str(inv.lines.data[0].id)


def _types() -> list[str]:
    return [e.type for e in reversed(stripe.Event.list(limit=100).data)]


def test_credit_note_refunds_part_of_a_paid_invoice(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    cn = stripe.CreditNote.create(
        invoice=inv.id,
        lines=[{"type": "invoice_line_item", "invoice_line_item": _line_id(inv), "quantity": 1}],
        refund_amount=1500,
        reason="product_unsatisfactory",
        memo="One seat returned",
    )
    assert cn.status == "issued"
    assert cn.amount == cn.total == 1500
    assert cn.type == "post_payment"
    assert (cn.pre_payment_amount, cn.post_payment_amount) == (0, 1500)
    assert cn.number == f"{inv.number}-CN-01"
    assert cn.memo == "One seat returned"
    (line,) = cn.lines.data
    assert (line.type, line.quantity, line.unit_amount, line.amount) == (
        "invoice_line_item",
        1,
        1500,
        1500,
    )
    assert line.invoice_line_item == _line_id(inv)
    (ref,) = cn.refunds
    refund = stripe.Refund.retrieve(str(ref.refund))
    assert refund.amount == ref.amount_refunded == 1500
    charge = stripe.Charge.retrieve(str(refund.charge))
    assert charge.amount_refunded == 1500
    fresh = stripe.Invoice.retrieve(inv.id)
    assert fresh.post_payment_credit_notes_amount == 1500
    assert fresh.pre_payment_credit_notes_amount == 0
    assert fresh.amount_due == 3000  # a paid invoice's amount_due does not change
    types = _types()
    assert types.index("refund.created") < types.index("credit_note.created")
    assert types[-1] == "invoice.updated"
    assert stripe.CreditNote.list(invoice=inv.id).data[0].id == cn.id
    assert [ln.id for ln in stripe.CreditNote.list_lines(cn.id).data] == [line.id]


def test_credit_note_credits_the_customer_balance(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    cn = stripe.CreditNote.create(invoice=inv.id, amount=1000, credit_amount=1000)
    assert cn.customer_balance_transaction is not None
    customer = stripe.Customer.retrieve(str(inv.customer))
    assert customer.balance == -1000
    txn = stripe.Customer.retrieve_balance_transaction(
        str(inv.customer), str(cn.customer_balance_transaction)
    )
    assert (txn.type, txn.amount, txn.credit_note) == ("credit_note", -1000, cn.id)
    # The next invoice uses the credit.
    stripe.InvoiceItem.create(customer=str(inv.customer), amount=2500, currency="usd")
    nxt = stripe.Invoice.create(
        customer=str(inv.customer), pending_invoice_items_behavior="include"
    )
    nxt = stripe.Invoice.finalize_invoice(nxt.id)
    assert nxt.amount_due == 1500


def test_credit_note_out_of_band_and_the_sum_rule(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.CreditNote.create(invoice=inv.id, amount=1000, refund_amount=400)
    assert err.value.http_status == 400
    assert "must equal" in str(err.value.user_message)
    cn = stripe.CreditNote.create(
        invoice=inv.id, amount=1000, refund_amount=400, out_of_band_amount=600
    )
    assert cn.out_of_band_amount == 600
    assert stripe.Invoice.retrieve(inv.id).post_payment_credit_notes_amount == 1000


def test_credit_note_on_an_open_invoice_reduces_amount_due(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=False)
    cn = stripe.CreditNote.create(
        invoice=inv.id,
        lines=[{"type": "invoice_line_item", "invoice_line_item": _line_id(inv), "amount": 500}],
    )
    assert cn.type == "pre_payment"
    assert (cn.pre_payment_amount, cn.post_payment_amount) == (500, 0)
    fresh = stripe.Invoice.retrieve(inv.id)
    assert fresh.status == "open"
    assert fresh.amount_due == 2500
    assert fresh.amount_remaining == 2500
    assert fresh.pre_payment_credit_notes_amount == 500
    paid = stripe.Invoice.pay(inv.id)
    assert paid.amount_paid == 2500
    pi = stripe.PaymentIntent.list(customer=str(inv.customer)).data[0]
    assert pi.amount_received == 2500


def test_crediting_all_of_an_open_invoice_marks_it_paid(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=False)
    cn = stripe.CreditNote.create(
        invoice=inv.id,
        lines=[
            {"type": "custom_line_item", "description": "Goodwill", "unit_amount": 1000},
            {"type": "invoice_line_item", "invoice_line_item": _line_id(inv), "amount": 2000},
        ],
        reason="order_change",
    )
    assert cn.amount == 3000
    assert [ln.type for ln in cn.lines.data] == ["custom_line_item", "invoice_line_item"]
    fresh = stripe.Invoice.retrieve(inv.id)
    assert fresh.status == "paid"
    assert fresh.amount_remaining == 0
    assert fresh.amount_paid == 0
    assert "invoice.paid" in _types()
    (pi,) = stripe.PaymentIntent.list(customer=str(inv.customer)).data
    assert pi.status == "canceled"
    (payment,) = stripe.InvoicePayment.list(invoice=inv.id).data
    assert payment.status == "canceled"


def test_credit_note_amount_cannot_exceed_what_is_left(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.CreditNote.create(invoice=inv.id, amount=3001, out_of_band_amount=3001)
    assert err.value.param == "amount"
    stripe.CreditNote.create(invoice=inv.id, amount=2000, out_of_band_amount=2000)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.CreditNote.create(invoice=inv.id, amount=1001, out_of_band_amount=1001)
    assert "1000" in str(err.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.CreditNote.create(
            invoice=inv.id,
            lines=[
                {"type": "invoice_line_item", "invoice_line_item": _line_id(inv), "quantity": 3}
            ],
            out_of_band_amount=4500,
        )
    assert err.value.param == "lines[0][quantity]"
    draft = stripe.Invoice.create(customer=str(inv.customer))
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.CreditNote.create(invoice=draft.id, amount=100)
    assert err.value.param == "invoice"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.CreditNote.create(invoice="in_missing", amount=100)
    assert missing.value.http_status == 404


def test_credit_note_preview_stores_nothing(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    lines = [{"type": "invoice_line_item", "invoice_line_item": _line_id(inv), "quantity": 2}]
    preview = stripe.CreditNote.preview(invoice=inv.id, lines=lines, refund_amount=3000)
    assert preview.amount == 3000
    assert preview.post_payment_amount == 3000
    preview_lines = stripe.CreditNote.preview_lines(invoice=inv.id, lines=lines, refund_amount=3000)
    assert [ln.quantity for ln in preview_lines.data] == [2]
    assert stripe.CreditNote.list().data == []
    assert stripe.Refund.list().data == []
    assert "credit_note.created" not in _types()


def test_credit_note_update_and_void(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=False)
    cn = stripe.CreditNote.create(invoice=inv.id, amount=1000)
    updated = stripe.CreditNote.modify(cn.id, memo="Late delivery", metadata={"ticket": "7"})
    assert updated.memo == "Late delivery"
    (evt,) = stripe.Event.list(type="credit_note.updated").data
    assert evt.data.previous_attributes is not None
    assert evt.data.previous_attributes["memo"] is None
    voided = stripe.CreditNote.void_credit_note(cn.id)
    assert voided.status == "void"
    assert voided.voided_at is not None
    fresh = stripe.Invoice.retrieve(inv.id)
    assert fresh.amount_due == 3000
    assert fresh.pre_payment_credit_notes_amount == 0
    assert [e.data.object.id for e in stripe.Event.list(type="credit_note.voided").data] == [cn.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe.CreditNote.void_credit_note(cn.id)


def test_credit_note_with_a_refund_cannot_be_voided(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    cn = stripe.CreditNote.create(invoice=inv.id, amount=500, refund_amount=500)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.CreditNote.void_credit_note(cn.id)
    assert stripe.CreditNote.retrieve(cn.id).status == "issued"


def test_credit_note_pdf_is_served(emulator: EmulatorServer) -> None:
    inv = _invoice(pay=True)
    cn = stripe.CreditNote.create(invoice=inv.id, amount=700, out_of_band_amount=700)
    assert cn.pdf == f"{emulator.url}/credit_notes/{cn.id}/pdf"
    with urllib.request.urlopen(cn.pdf, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/pdf"
        data = resp.read()
    check_pdf(data)
    assert cn.number.encode() in data
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{emulator.url}/credit_notes/cn_missing/pdf", timeout=10)
    assert missing.value.code == 404
