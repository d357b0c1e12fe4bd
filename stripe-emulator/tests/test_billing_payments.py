"""Payment intents, charges, refunds and setup intents with Stripe's test cards."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import helper


def _customer() -> stripe.Customer:
    return stripe.Customer.create(email="pay@example.com")


def test_payment_intent_succeeds_with_4242(emulator: EmulatorServer) -> None:
    cus = _customer()
    pi = stripe.PaymentIntent.create(
        amount=2000, currency="usd", customer=cus.id, payment_method="pm_card_visa", confirm=True
    )
    assert pi.status == "succeeded"
    assert pi.amount_received == 2000
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.status == "succeeded"
    assert charge.paid is True
    assert charge.outcome is not None
    assert charge.outcome.type == "authorized"
    assert charge.payment_method_details is not None
    assert charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.last4 == "4242"
    types = [e.type for e in stripe.Event.list(limit=20).data]
    assert {"payment_intent.created", "payment_intent.succeeded", "charge.succeeded"} <= set(types)


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeCustomerFail", "card_declined", "generic_decline"),
        ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ],
)
def test_declines_raise_card_error(
    emulator: EmulatorServer, card: str, code: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as err:
        stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method=card, confirm=True)
    assert err.value.code == code
    assert err.value.error is not None
    assert err.value.error.decline_code == decline_code
    assert err.value.error.payment_intent is not None
    assert err.value.error.payment_intent.status == "requires_payment_method"


def test_declined_confirmation_is_kept_then_retried(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(amount=1500, currency="usd")
    assert pi.status == "requires_payment_method"
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.confirm(pi.id, payment_method="pm_card_chargeCustomerFail")
    # The declined attempt is kept, as on Stripe: a failed charge, the error.
    pi = stripe.PaymentIntent.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.code == "card_declined"
    failed = stripe.Charge.retrieve(str(pi.latest_charge))
    assert failed.status == "failed"
    assert "payment_intent.payment_failed" in [e.type for e in stripe.Event.list().data]
    ok = stripe.PaymentIntent.confirm(pi.id, payment_method="pm_card_visa")
    assert ok.status == "succeeded"
    assert ok.latest_charge != failed.id


@pytest.mark.parametrize(
    "card", ["pm_card_authenticationRequired", "pm_card_threeDSecure2Required"]
)
def test_3ds_requires_action_then_authenticate(emulator: EmulatorServer, card: str) -> None:
    pi = stripe.PaymentIntent.create(amount=999, currency="usd", payment_method=card, confirm=True)
    assert pi.status == "requires_action"
    assert pi.next_action is not None
    assert pi.next_action.type == "redirect_to_url"
    assert pi.next_action.redirect_to_url is not None
    assert str(pi.next_action.redirect_to_url.url).endswith(f"/3ds/{pi.id}")
    assert pi.latest_charge is None
    result = helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi.id}/authenticate",
        {"succeed": True},
    )
    assert result["status"] == "succeeded"
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


def test_3ds_failed_authentication(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(
        amount=999, currency="usd", payment_method="pm_card_authenticationRequired", confirm=True
    )
    result = helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi.id}/authenticate",
        {"succeed": False},
    )
    assert result["status"] == "requires_payment_method"
    pi = stripe.PaymentIntent.retrieve(pi.id)
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"


def test_authenticate_then_decline_card(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(
        amount=999,
        currency="usd",
        payment_method="pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
        confirm=True,
    )
    assert pi.status == "requires_action"
    helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi.id}/authenticate",
        {"succeed": True},
    )
    pi = stripe.PaymentIntent.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.decline_code == "insufficient_funds"
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.status == "failed"
    assert charge.failure_code == "card_declined"


def test_refund_full_and_partial(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(
        amount=5000, currency="usd", payment_method="pm_card_visa", confirm=True
    )
    part = stripe.Refund.create(payment_intent=pi.id, amount=1200)
    assert part.status == "succeeded"
    charge = stripe.Charge.retrieve(str(pi.latest_charge), expand=["refunds"])
    assert charge.amount_refunded == 1200
    assert charge.refunded is False
    assert charge.refunds is not None
    assert [r.id for r in charge.refunds.data] == [part.id]
    rest = stripe.Refund.create(charge=charge.id)
    assert rest.amount == 3800
    assert stripe.Charge.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Refund.create(charge=charge.id, amount=1)
    types = [e.type for e in stripe.Event.list(limit=30).data]
    assert types.count("charge.refunded") == 2
    assert len(stripe.Refund.list(charge=charge.id).data) == 2


def test_payment_intent_cancel_and_list(emulator: EmulatorServer) -> None:
    cus = _customer()
    pi = stripe.PaymentIntent.create(amount=700, currency="usd", customer=cus.id)
    canceled = stripe.PaymentIntent.cancel(pi.id)
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    listed = stripe.PaymentIntent.list(customer=cus.id)
    assert [p.id for p in listed.data] == [pi.id]


def test_setup_intent_plain_card_succeeds_and_attaches(emulator: EmulatorServer) -> None:
    cus = _customer()
    seti = stripe.SetupIntent.create(customer=cus.id, payment_method="pm_card_visa", confirm=True)
    assert seti.status == "succeeded"
    pm = stripe.PaymentMethod.retrieve(str(seti.payment_method))
    assert pm.customer == cus.id


def test_setup_intent_3155_needs_auth_once_then_off_session_passes(
    emulator: EmulatorServer,
) -> None:
    cus = _customer()
    seti = stripe.SetupIntent.create(
        customer=cus.id, payment_method="pm_card_authenticationRequiredOnSetup", confirm=True
    )
    assert seti.status == "requires_action"
    done = helper(
        emulator,
        "POST",
        f"/_emulator/billing/setup_intents/{seti.id}/authenticate",
        {"succeed": True},
    )
    assert done["status"] == "succeeded"
    pm_id = done["payment_method"]
    # Set up: an off-session charge passes; an on-session one still needs 3DS.
    off = stripe.PaymentIntent.create(
        amount=1000,
        currency="usd",
        customer=cus.id,
        payment_method=pm_id,
        confirm=True,
        off_session=True,
    )
    assert off.status == "succeeded"
    on = stripe.PaymentIntent.create(
        amount=1000, currency="usd", customer=cus.id, payment_method=pm_id, confirm=True
    )
    assert on.status == "requires_action"


def test_setup_intent_decline_card(emulator: EmulatorServer) -> None:
    seti = stripe.SetupIntent.create(payment_method="pm_card_visa_chargeDeclined", confirm=True)
    assert seti.status == "requires_payment_method"
    assert seti.last_setup_error is not None
    assert seti.last_setup_error.decline_code == "generic_decline"


def test_payment_intent_and_charge_search(emulator: EmulatorServer) -> None:
    cus = _customer()
    ok = stripe.PaymentIntent.create(
        amount=1234,
        currency="usd",
        customer=cus.id,
        payment_method="pm_card_visa",
        confirm=True,
        metadata={"order": "42"},
    )
    stripe.PaymentIntent.create(amount=999, currency="usd", customer=cus.id)
    found = stripe.PaymentIntent.search(query="status:'succeeded' AND metadata['order']:'42'")
    assert [p.id for p in found.data] == [ok.id]
    charges = stripe.Charge.search(query=f"payment_intent:'{ok.id}'")
    assert [c.id for c in charges.data] == [ok.latest_charge]


def test_send_invoice_endpoint(emulator: EmulatorServer) -> None:
    cus = _customer()
    stripe.InvoiceItem.create(customer=cus.id, amount=800, currency="usd")
    inv = stripe.Invoice.create(
        customer=cus.id,
        collection_method="send_invoice",
        days_until_due=30,
        pending_invoice_items_behavior="include",
    )
    sent = stripe.Invoice.send_invoice(inv.id)
    assert sent.status == "open"
    assert sent.due_date is not None
    assert "invoice.sent" in [e.type for e in stripe.Event.list(limit=5).data]
