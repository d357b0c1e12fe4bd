"""Editing a draft invoice's lines (add_lines, update_lines, remove_lines, one line)."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer


def _draft() -> stripe.Invoice:
    customer = stripe.Customer.create(email="lines@example.com")
    return stripe.Invoice.create(customer=customer.id)


def test_add_lines_by_amount_price_and_pending_item(emulator: EmulatorServer) -> None:
    inv = _draft()
    product = stripe.Product.create(name="Widget")
    price = stripe.Price.create(product=product.id, unit_amount=700, currency="usd")
    pending = stripe.InvoiceItem.create(customer=str(inv.customer), amount=300, currency="usd")
    inv = stripe.Invoice.add_lines(
        inv.id,
        lines=[
            {"amount": 1000, "description": "Setup fee"},
            {"pricing": {"price": price.id}, "quantity": 3},
            {"invoice_item": pending.id},
        ],
        invoice_metadata={"order": "42"},
    )
    assert [ln.amount for ln in inv.lines.data] == [1000, 2100, 300]
    assert inv.subtotal == inv.total == inv.amount_due == 3400
    assert inv.metadata is not None
    assert inv.metadata["order"] == "42"
    assert stripe.InvoiceItem.retrieve(pending.id).invoice == inv.id
    created = stripe.Event.list(type="invoiceitem.created").data
    assert len(created) == 3  # the pending item's own creation, then the two new ones
    (evt,) = stripe.Event.list(type="invoice.updated").data
    assert evt.data.previous_attributes is not None
    assert evt.data.previous_attributes["total"] == 0


def test_update_lines_and_one_line_recompute_totals(
    emulator: EmulatorServer, client: stripe.StripeClient
) -> None:
    inv = _draft()
    inv = stripe.Invoice.add_lines(
        inv.id, lines=[{"amount": 1000, "description": "A"}, {"amount": 500, "description": "B"}]
    )
    first, second = (ln.id for ln in inv.lines.data)
    inv = stripe.Invoice.update_lines(
        inv.id, lines=[{"id": first, "amount": 1200, "metadata": {"k": "v"}}]
    )
    assert [ln.id for ln in inv.lines.data] == [first, second]
    assert inv.lines.data[0].amount == 1200
    assert inv.lines.data[0].metadata["k"] == "v"
    assert inv.total == 1700
    line = client.v1.invoices.line_items.update(
        inv.id, second, {"description": "B, revised", "amount": 800}
    )
    assert (line.id, line.amount, line.description) == (second, 800, "B, revised")
    assert stripe.Invoice.retrieve(inv.id).total == 2000
    item_id = line.parent.invoice_item_details.invoice_item  # type: ignore[union-attr]
    assert stripe.InvoiceItem.retrieve(str(item_id)).amount == 800


def test_remove_lines_delete_or_unassign(emulator: EmulatorServer) -> None:
    inv = _draft()
    inv = stripe.Invoice.add_lines(
        inv.id, lines=[{"amount": 1000, "description": "A"}, {"amount": 500, "description": "B"}]
    )
    first, second = inv.lines.data
    item_a = str(first.parent.invoice_item_details.invoice_item)  # type: ignore[union-attr]
    item_b = str(second.parent.invoice_item_details.invoice_item)  # type: ignore[union-attr]
    inv = stripe.Invoice.remove_lines(
        inv.id,
        lines=[{"id": first.id, "behavior": "delete"}, {"id": second.id, "behavior": "unassign"}],
    )
    assert inv.lines.data == []
    assert inv.total == 0
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe.InvoiceItem.retrieve(item_a)
    assert gone.value.http_status == 404
    assert stripe.InvoiceItem.retrieve(item_b).invoice is None
    assert [e.data.object.id for e in stripe.Event.list(type="invoiceitem.deleted").data] == [
        item_a
    ]


def test_line_editing_refused_on_finalized_invoices(
    emulator: EmulatorServer, client: stripe.StripeClient
) -> None:
    inv = _draft()
    inv = stripe.Invoice.add_lines(inv.id, lines=[{"amount": 1000, "description": "A"}])
    line_id = inv.lines.data[0].id
    stripe.Invoice.finalize_invoice(inv.id)
    calls = [
        lambda: stripe.Invoice.add_lines(inv.id, lines=[{"amount": 100}]),
        lambda: stripe.Invoice.update_lines(inv.id, lines=[{"id": line_id, "amount": 1}]),
        lambda: stripe.Invoice.remove_lines(inv.id, lines=[{"id": line_id, "behavior": "delete"}]),
        lambda: client.v1.invoices.line_items.update(inv.id, line_id, {"amount": 1}),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert err.value.http_status == 400
        assert err.value.code == "invoice_not_editable"
    assert stripe.Invoice.retrieve(inv.id).total == 1000


def test_line_editing_errors(emulator: EmulatorServer) -> None:
    inv = _draft()
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.update_lines(inv.id, lines=[{"id": "il_missing", "amount": 1}])
    assert err.value.param == "lines[0][id]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.add_lines(inv.id, lines=[{"description": "no amount"}])
    assert err.value.param == "lines[0][amount]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.remove_lines(inv.id, lines=[{"id": "il_x", "behavior": "nope"}])
    assert err.value.param == "lines[0][behavior]"
