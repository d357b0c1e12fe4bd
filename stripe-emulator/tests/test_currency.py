"""Currencies: one live subscription currency per customer; invoices pick items by currency."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer


def _recurring(currency: str, amount: int = 1000) -> stripe.Price:
    product = stripe.Product.create(name=f"Plan {currency}")
    return stripe.Price.create(
        product=product.id, unit_amount=amount, currency=currency, recurring={"interval": "month"}
    )


def test_second_subscription_in_another_currency_is_refused(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="fx@example.com")
    stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": _recurring("usd").id}],
        default_payment_method=(
            stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id).id
        ),
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Subscription.create(customer=customer.id, items=[{"price": _recurring("eur").id}])
    assert err.value.http_status == 400
    assert str(err.value.user_message).startswith(
        "You cannot combine currencies on a single customer."
    )
    assert "with currency usd" in str(err.value.user_message)
    assert len(stripe.Subscription.list(customer=customer.id, status="all").data) == 1
    # Another subscription in the same currency is fine.
    second = stripe.Subscription.create(
        customer=customer.id, items=[{"price": _recurring("usd", 500).id}]
    )
    assert second.currency == "usd"


def test_subscription_in_another_currency_after_the_first_ended(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="fx2@example.com")
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    first = stripe.Subscription.create(
        customer=customer.id, items=[{"price": _recurring("usd").id}], default_payment_method=pm.id
    )
    stripe.Subscription.cancel(first.id)
    eur = stripe.Subscription.create(
        customer=customer.id, items=[{"price": _recurring("eur").id}], default_payment_method=pm.id
    )
    assert (eur.currency, eur.status) == ("eur", "active")


def test_invoice_pulls_pending_items_of_its_currency(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="fx3@example.com")
    usd = stripe.InvoiceItem.create(customer=customer.id, amount=1000, currency="usd")
    cad = stripe.InvoiceItem.create(customer=customer.id, amount=2000, currency="cad")
    inv = stripe.Invoice.create(
        customer=customer.id, currency="cad", pending_invoice_items_behavior="include"
    )
    assert inv.currency == "cad"
    assert inv.total == 2000
    assert stripe.InvoiceItem.retrieve(cad.id).invoice == inv.id
    assert stripe.InvoiceItem.retrieve(usd.id).invoice is None
