"""Separate authorization and capture (`capture_method=manual`) and refund cancellation."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import DAY, T0, advance, clock_customer, helper


def _events(kind: str) -> list[stripe.Event]:
    return list(stripe.Event.list(type=kind, limit=100).data)


def _authorized(amount: int = 5000, customer: str | None = None) -> stripe.PaymentIntent:
    pi = stripe.PaymentIntent.create(
        amount=amount,
        currency="usd",
        customer=customer,
        payment_method="pm_card_visa",
        capture_method="manual",
        confirm=True,
    )
    assert pi.status == "requires_capture"
    return pi


def test_manual_capture_authorizes_then_captures_in_full(emulator: EmulatorServer) -> None:
    pi = _authorized()
    assert pi.amount_capturable == 5000
    assert pi.amount_received == 0
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.captured is False
    assert charge.amount_captured == 0
    assert charge.paid is True
    card = charge.payment_method_details.card  # type: ignore[union-attr]
    assert card is not None
    assert card.capture_before == charge.created + 7 * DAY
    assert [e.data.object.id for e in _events("payment_intent.amount_capturable_updated")] == [
        pi.id
    ]
    assert _events("payment_intent.succeeded") == []

    captured = stripe.PaymentIntent.capture(pi.id)
    assert captured.status == "succeeded"
    assert captured.amount_received == 5000
    assert captured.amount_capturable == 0
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.captured is True
    assert charge.amount_captured == 5000
    assert charge.amount_refunded == 0
    (evt,) = _events("charge.captured")
    assert evt.data.object.captured is True
    assert evt.data.previous_attributes is not None
    assert evt.data.previous_attributes["captured"] is False
    assert [e.data.object.id for e in _events("payment_intent.succeeded")] == [pi.id]


def test_partial_capture_releases_the_rest(emulator: EmulatorServer) -> None:
    pi = _authorized(5000)
    captured = stripe.PaymentIntent.capture(pi.id, amount_to_capture=3000)
    assert captured.amount_received == 3000
    assert captured.amount_capturable == 0
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.amount_captured == 3000
    assert charge.amount_refunded == 2000
    assert charge.refunded is False
    (release,) = stripe.Refund.list(charge=charge.id).data
    assert release.amount == 2000
    # What was captured can still be refunded, and no more.
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(payment_intent=pi.id, amount=3001)
    assert err.value.param == "amount"
    refund = stripe.Refund.create(payment_intent=pi.id)
    assert refund.amount == 3000
    charge = stripe.Charge.retrieve(charge.id)
    assert charge.refunded is True
    assert charge.amount_refunded == 5000


def test_capture_errors(emulator: EmulatorServer) -> None:
    pi = _authorized(5000)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.capture(pi.id, amount_to_capture=5001)
    assert err.value.http_status == 400
    assert err.value.param == "amount_to_capture"
    assert err.value.code == "amount_too_large"
    # An uncaptured charge is not refundable: cancel the PaymentIntent instead.
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Refund.create(charge=str(pi.latest_charge))
    auto = stripe.PaymentIntent.create(
        amount=1000, currency="usd", payment_method="pm_card_visa", confirm=True
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.capture(auto.id)
    assert err.value.code == "payment_intent_unexpected_state"


def test_cancel_uncaptured_releases_the_authorization(emulator: EmulatorServer) -> None:
    pi = _authorized(4000)
    canceled = stripe.PaymentIntent.cancel(pi.id)
    assert canceled.status == "canceled"
    assert canceled.amount_capturable == 0
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.captured is False
    assert charge.refunded is True
    assert charge.amount_refunded == 4000
    assert [e.data.object.id for e in _events("charge.refunded")] == [charge.id]
    assert [e.data.object.id for e in _events("payment_intent.canceled")] == [pi.id]


def test_authorization_expires_after_seven_days_on_a_test_clock(emulator: EmulatorServer) -> None:
    clock, customer, _pm = clock_customer()
    pi = _authorized(2500, customer=customer.id)
    advance(clock, T0 + 7 * DAY - 60)
    assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_capture"
    advance(clock, T0 + 7 * DAY + 60)
    expired = stripe.PaymentIntent.retrieve(pi.id)
    assert expired.status == "canceled"
    assert expired.cancellation_reason == "automatic"
    assert expired.canceled_at == T0 + 7 * DAY
    (evt,) = _events("charge.expired")
    assert evt.data.object.id == pi.latest_charge
    assert evt.created == T0 + 7 * DAY
    with pytest.raises(stripe.InvalidRequestError):
        stripe.PaymentIntent.capture(pi.id)


def test_automatic_async_captures_at_once(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(
        amount=1200,
        currency="usd",
        payment_method="pm_card_visa",
        capture_method="automatic_async",
        confirm=True,
    )
    assert pi.capture_method == "automatic_async"
    assert pi.status == "succeeded"
    assert stripe.Charge.retrieve(str(pi.latest_charge)).captured is True


def test_refund_cancel_is_refused_for_succeeded_card_refunds(emulator: EmulatorServer) -> None:
    pi = stripe.PaymentIntent.create(
        amount=1500, currency="usd", payment_method="pm_card_visa", confirm=True
    )
    refund = stripe.Refund.create(payment_intent=pi.id)
    assert refund.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.cancel(refund.id)
    assert err.value.http_status == 400
    assert "requires_action" in str(err.value.user_message)
    assert stripe.Refund.retrieve(refund.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Refund.cancel("re_missing")
    assert missing.value.http_status == 404


def _paid(card: str, customer: str | None = None) -> stripe.PaymentIntent:
    return stripe.PaymentIntent.create(
        amount=2000, currency="usd", customer=customer, payment_method=card, confirm=True
    )


def test_refund_fail_card_refund_fails_later(emulator: EmulatorServer) -> None:
    clock, customer, _pm = clock_customer()
    pi = _paid("pm_card_refundFail", customer.id)
    refund = stripe.Refund.create(payment_intent=pi.id)
    assert refund.status == "succeeded"
    assert stripe.Charge.retrieve(str(pi.latest_charge)).amount_refunded == 2000
    advance(clock, T0 + DAY)
    failed = stripe.Refund.retrieve(refund.id)
    assert failed.status == "failed"
    assert failed.failure_reason == "expired_or_canceled_card"
    (evt,) = _events("refund.failed")
    assert evt.data.object.id == refund.id
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert (charge.amount_refunded, charge.refunded) == (0, False)


def test_pending_refund_card_succeeds_later(emulator: EmulatorServer) -> None:
    pi = _paid("pm_card_pendingRefund")
    refund = stripe.Refund.create(payment_intent=pi.id, amount=500)
    assert refund.status == "pending"
    helper(emulator, "POST", "/_emulator/billing/tick", {})
    assert stripe.Refund.retrieve(refund.id).status == "succeeded"
    (evt,) = _events("refund.updated")
    assert evt.data.object.status == "succeeded"
    assert evt.data.previous_attributes is not None
    assert evt.data.previous_attributes["status"] == "pending"


def test_ordinary_card_refunds_never_change(emulator: EmulatorServer) -> None:
    pi = _paid("pm_card_visa")
    refund = stripe.Refund.create(payment_intent=pi.id)
    helper(emulator, "POST", "/_emulator/billing/tick", {})
    assert stripe.Refund.retrieve(refund.id).status == "succeeded"
    assert _events("refund.updated") == []
    assert _events("refund.failed") == []


def test_balance_moves_at_capture_for_the_captured_amount(emulator: EmulatorServer) -> None:
    pi = _authorized(5000)
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    assert charge.balance_transaction is None
    assert stripe.BalanceTransaction.list().data == []
    stripe.PaymentIntent.capture(pi.id, amount_to_capture=3000)
    charge = stripe.Charge.retrieve(str(pi.latest_charge))
    (txn,) = stripe.BalanceTransaction.list().data  # the released 2000 moved no money
    assert charge.balance_transaction == txn.id
    assert (txn.type, txn.amount, txn.source) == ("charge", 3000, charge.id)


def test_failed_async_refund_gives_the_money_back(emulator: EmulatorServer) -> None:
    clock, customer, _pm = clock_customer()
    pi = _paid("pm_card_refundFail", customer.id)
    refund = stripe.Refund.create(payment_intent=pi.id)
    assert refund.balance_transaction is not None
    advance(clock, T0 + DAY)
    failed = stripe.Refund.retrieve(refund.id)
    assert failed.failure_balance_transaction is not None
    txn = stripe.BalanceTransaction.retrieve(str(failed.failure_balance_transaction))
    assert (txn.type, txn.amount, txn.source) == ("refund_failure", 2000, refund.id)
