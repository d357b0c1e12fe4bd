"""Disputes from Stripe's dispute test cards, and the balance transactions money moves make."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer
from stripe_emulator.engine.balance import card_fee

from .billing_helpers import T0, clock_customer, price
from .conftest import WebhookReceiver


def _pay(card: str, amount: int = 4200) -> stripe.Charge:
    cus = stripe.Customer.create(email="disputes@example.com")
    pi = stripe.PaymentIntent.create(
        amount=amount, currency="usd", customer=cus.id, payment_method=card, confirm=True
    )
    assert pi.status == "succeeded"
    return stripe.Charge.retrieve(str(pi.latest_charge))


def _dispute_of(charge: stripe.Charge) -> stripe.Dispute:
    listed = stripe.Dispute.list(charge=charge.id).data
    assert len(listed) == 1
    return listed[0]


def _events(prefix: str) -> list[Any]:
    events = [e for e in stripe.Event.list(limit=100).data if e.type.startswith(prefix)]
    return list(reversed(events))  # oldest first


def test_card_fee_is_stripes_us_card_pricing() -> None:
    # 2.9% + 30 cents, rounded half up to the cent.
    assert card_fee(4200) == 122 + 30
    assert card_fee(1000) == 29 + 30
    assert card_fee(50) == 1 + 30  # 1.45 -> 1
    assert card_fee(100) == 3 + 30  # 2.9 -> 3


def test_succeeded_charge_has_a_charge_balance_transaction(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_visa", 4200)
    assert isinstance(charge.balance_transaction, str)
    txn = stripe.BalanceTransaction.retrieve(charge.balance_transaction)
    assert txn.type == "charge"
    assert txn.reporting_category == "charge"
    assert txn.source == charge.id
    assert txn.amount == 4200
    assert txn.fee == 152
    assert [(f.amount, f.type) for f in txn.fee_details] == [(152, "stripe_fee")]
    assert txn.net == 4200 - 152
    assert txn.currency == "usd"
    assert txn.status == "pending"
    assert txn.available_on > txn.created
    # The event carries the id too, and expansion works on charges.
    succeeded = _events("charge.succeeded")[-1]
    assert succeeded.data.object.balance_transaction == txn.id
    expanded = stripe.Charge.retrieve(charge.id, expand=["balance_transaction"])
    assert isinstance(expanded.balance_transaction, stripe.BalanceTransaction)
    assert expanded.balance_transaction.net == txn.net
    source = stripe.BalanceTransaction.retrieve(txn.id, expand=["source"])
    assert isinstance(source.source, stripe.Charge)


def test_bypass_pending_card_is_available_at_once(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_bypassPending", 1000)
    txn = stripe.BalanceTransaction.retrieve(str(charge.balance_transaction))
    assert txn.status == "available"
    assert txn.available_on == txn.created


def test_failed_charge_has_no_balance_transaction(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create()
    stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.create(
            amount=1000,
            currency="usd",
            customer=cus.id,
            payment_method="pm_card_chargeCustomerFail",
            confirm=True,
        )
    failed = stripe.Charge.list(customer=cus.id).data[0]
    assert failed.status == "failed"
    assert failed.balance_transaction is None
    assert stripe.BalanceTransaction.list().data == []


def test_refund_has_a_negative_refund_balance_transaction(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_visa", 5000)
    refund = stripe.Refund.create(charge=charge.id, amount=2000, expand=["balance_transaction"])
    txn = refund.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.type, txn.reporting_category, txn.source) == ("refund", "refund", refund.id)
    assert (txn.amount, txn.fee, txn.net) == (-2000, 0, -2000)
    again = stripe.Refund.retrieve(refund.id)
    assert again.balance_transaction == txn.id
    created = _events("refund.created")[-1]
    assert created.data.object.balance_transaction == txn.id
    # The whole story nets out: charge net minus the refund.
    total = sum(t.net for t in stripe.BalanceTransaction.list().data)
    assert total == 5000 - card_fee(5000) - 2000


def test_balance_transaction_list_filters(emulator: EmulatorServer) -> None:
    first = _pay("pm_card_visa", 1000)
    second = _pay("pm_card_mastercard", 2000)
    refund = stripe.Refund.create(charge=second.id)
    everything = stripe.BalanceTransaction.list().data
    assert [t.type for t in everything] == ["refund", "charge", "charge"]
    charges = stripe.BalanceTransaction.list(type="charge").data
    assert {t.source for t in charges} == {first.id, second.id}
    by_source = stripe.BalanceTransaction.list(source=refund.id).data
    assert [t.amount for t in by_source] == [-2000]
    assert stripe.BalanceTransaction.list(currency="eur").data == []
    assert len(stripe.BalanceTransaction.list(currency="usd").data) == 3
    assert stripe.BalanceTransaction.list(payout="po_123").data == []
    newest = everything[0].created
    assert len(stripe.BalanceTransaction.list(created={"gt": newest}).data) == 0
    page = stripe.BalanceTransaction.list(limit=2)
    assert page.has_more is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.BalanceTransaction.retrieve("txn_missing")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("card", "reason", "code"),
    [
        ("pm_card_createDispute", "fraudulent", "10.4"),
        ("pm_card_createDisputeProductNotReceived", "product_not_received", "13.1"),
        ("4000000000000259", "fraudulent", "10.4"),
    ],
)
def test_dispute_cards_charge_succeeds_then_chargeback(
    emulator: EmulatorServer, card: str, reason: str, code: str
) -> None:
    if card.isdigit():
        pm = stripe.PaymentMethod.create(
            type="card",
            card={"number": card, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        )
        card = pm.id
    charge = _pay(card, 4200)
    assert charge.status == "succeeded"
    assert charge.disputed is True
    dispute = _dispute_of(charge)
    assert dispute.status == "needs_response"
    assert dispute.reason == reason
    assert dispute.amount == 4200
    assert dispute.payment_intent == charge.payment_intent
    assert dispute.is_charge_refundable is False
    assert dispute.payment_method_details is not None
    assert dispute.payment_method_details.card is not None
    assert dispute.payment_method_details.card.case_type == "chargeback"
    assert dispute.payment_method_details.card.network_reason_code == code
    assert dispute.evidence_details.due_by is not None
    assert dispute.evidence_details.due_by > dispute.created
    [withdrawal] = dispute.balance_transactions
    assert (withdrawal.type, withdrawal.reporting_category) == ("adjustment", "dispute")
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-4200, 1500, -5700)
    assert withdrawal.fee_details[0].description == "Dispute fee"
    assert withdrawal.source == dispute.id
    types = [e.type for e in _events("charge.")]
    assert types == ["charge.succeeded", "charge.dispute.created", "charge.dispute.funds_withdrawn"]
    created = _events("charge.dispute.created")[0]
    assert created.data.object.id == dispute.id
    assert created.data.object.balance_transactions == []
    # The money: charge net, minus amount and dispute fee.
    total = sum(t.net for t in stripe.BalanceTransaction.list().data)
    assert total == 4200 - card_fee(4200) - 4200 - 1500


def test_winning_evidence_wins_and_reinstates_funds(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_createDispute", 4200)
    dispute = _dispute_of(charge)
    won = stripe.Dispute.modify(
        dispute.id,
        evidence={"uncategorized_text": "winning_evidence", "customer_name": "Ada"},
        metadata={"case": "1"},
    )
    assert won.status == "won"
    assert won.evidence.uncategorized_text == "winning_evidence"
    assert won.evidence.customer_name == "Ada"
    assert won.evidence_details.has_evidence is True
    assert won.evidence_details.submission_count == 1
    assert won.metadata.to_dict() == {"case": "1"}
    withdrawal, reinstatement = won.balance_transactions
    assert reinstatement.reporting_category == "dispute_reversal"
    assert (reinstatement.amount, reinstatement.fee, reinstatement.net) == (4200, -1500, 5700)
    assert withdrawal.net + reinstatement.net == 0
    types = [e.type for e in _events("charge.dispute.")]
    assert types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    updated = _events("charge.dispute.updated")[0]
    assert updated.data.object.status == "under_review"
    previous = updated.data.previous_attributes
    assert previous is not None
    assert previous["status"] == "needs_response"
    assert previous["evidence_details"]["submission_count"] == 0
    closed = _events("charge.dispute.closed")[0]
    assert closed.data.object.status == "won"
    total = sum(t.net for t in stripe.BalanceTransaction.list().data)
    assert total == 4200 - card_fee(4200)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Dispute.close(dispute.id)
    assert err.value.http_status == 400


def test_losing_evidence_loses_and_keeps_funds_withdrawn(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_createDispute", 3000)
    dispute = _dispute_of(charge)
    lost = stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "losing_evidence"})
    assert lost.status == "lost"
    assert len(lost.balance_transactions) == 1
    assert [e.type for e in _events("charge.dispute.")][-2:] == [
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "winning_evidence"})
    # Metadata can still change on a closed dispute.
    assert stripe.Dispute.modify(dispute.id, metadata={"k": "v"}).metadata.to_dict() == {"k": "v"}


def test_staged_evidence_then_submit(emulator: EmulatorServer) -> None:
    dispute = _dispute_of(_pay("pm_card_createDispute"))
    staged = stripe.Dispute.modify(
        dispute.id, evidence={"uncategorized_text": "other text"}, submit=False
    )
    assert staged.status == "needs_response"
    assert staged.evidence_details.has_evidence is True
    assert staged.evidence_details.submission_count == 0
    submitted = stripe.Dispute.modify(dispute.id, submit=True)
    assert submitted.status == "under_review"
    assert submitted.evidence_details.submission_count == 1
    # Other evidence text leaves it under review; no more evidence after submission.
    assert stripe.Dispute.retrieve(dispute.id).status == "under_review"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "winning_evidence"})
    assert err.value.param == "evidence"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Dispute.close(dispute.id)
    assert err.value.http_status == 400
    assert stripe.Dispute.retrieve(dispute.id).status == "under_review"


def test_close_accepts_the_dispute_as_lost(emulator: EmulatorServer) -> None:
    dispute = _dispute_of(_pay("pm_card_createDispute"))
    closed = stripe.Dispute.close(dispute.id)
    assert closed.status == "lost"
    [event] = _events("charge.dispute.closed")
    assert event.data.object.status == "lost"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Dispute.close(dispute.id)


def test_inquiry_moves_no_money_and_closes_without_chargeback(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_createDisputeInquiry", 2500)
    dispute = _dispute_of(charge)
    assert dispute.status == "warning_needs_response"
    assert dispute.is_charge_refundable is True
    assert dispute.balance_transactions == []
    assert dispute.payment_method_details is not None
    assert dispute.payment_method_details.card is not None
    assert dispute.payment_method_details.card.case_type == "inquiry"
    assert "charge.dispute.funds_withdrawn" not in [e.type for e in _events("charge.")]
    closed = stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "losing_evidence"})
    assert closed.status == "warning_closed"
    other = _dispute_of(_pay("pm_card_createDisputeInquiry", 2500))
    assert stripe.Dispute.close(other.id).status == "warning_closed"


def test_inquiry_escalates_to_a_chargeback(emulator: EmulatorServer) -> None:
    dispute = _dispute_of(_pay("pm_card_createDisputeInquiry", 2500))
    escalated = stripe.Dispute.modify(
        dispute.id, evidence={"uncategorized_text": "escalate_inquiry_evidence"}
    )
    assert escalated.status == "needs_response"
    assert escalated.is_charge_refundable is False
    [withdrawal] = escalated.balance_transactions
    assert withdrawal.net == -2500 - 1500
    assert [e.type for e in _events("charge.dispute.")][-3:] == [
        "charge.dispute.updated",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
    ]
    won = stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "winning_evidence"})
    assert won.status == "won"


def test_charged_back_charge_cannot_be_refunded(emulator: EmulatorServer) -> None:
    charge = _pay("pm_card_createDispute")
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(charge=charge.id)
    assert err.value.code == "charge_disputed"
    # An inquiry does not take the money: the charge can still be refunded.
    inquiry = _pay("pm_card_createDisputeInquiry")
    assert stripe.Refund.create(charge=inquiry.id).status == "succeeded"


def test_dispute_errors_and_list(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Dispute.retrieve("du_missing")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Dispute.modify("du_x", evidence={"nope": "x"})
    assert err.value.param == "evidence[nope]"
    plain = _pay("pm_card_visa")
    assert plain.disputed is False
    disputed = _pay("pm_card_createDispute")
    listed = stripe.Dispute.list().data
    assert [d.charge for d in listed] == [disputed.id]
    assert stripe.Dispute.list(payment_intent=str(disputed.payment_intent)).data[0].id == (
        listed[0].id
    )
    expanded = stripe.Dispute.retrieve(listed[0].id, expand=["charge"])
    assert isinstance(expanded.charge, stripe.Charge)


def test_dispute_rendered_in_each_version(emulator: EmulatorServer) -> None:
    dispute = _dispute_of(_pay("pm_card_createDispute"))
    baseline = stripe.Dispute.retrieve(dispute.id, stripe_version="2026-05-27.dahlia").to_dict()
    assert "network" not in baseline["payment_method_details"]["card"]
    assert "intended_submission_method" not in baseline
    assert "submission_method" not in baseline["evidence_details"]
    endive = stripe.Dispute.retrieve(dispute.id, stripe_version="2026-10-28.endive").to_dict()
    assert endive["evidence_details"]["submission_method"] == "not_submitted"
    assert endive["intended_submission_method"] is None
    assert endive["payment_method_details"]["card"]["network"] == "visa"


def test_balance_sums_available_and_pending_nets(emulator: EmulatorServer) -> None:
    empty = stripe.Balance.retrieve()
    assert [(f.amount, f.currency) for f in empty.available] == [(0, "usd")]
    assert [(f.amount, f.currency) for f in empty.pending] == [(0, "usd")]
    _pay("pm_card_visa", 4200)  # pending for two business days
    _pay("pm_card_bypassPending", 1000)  # available at once
    balance = stripe.Balance.retrieve()
    assert [(f.amount, f.currency) for f in balance.available] == [(1000 - card_fee(1000), "usd")]
    assert [f.amount for f in balance.pending] == [4200 - card_fee(4200)]
    assert balance.pending[0].source_types is not None
    assert balance.pending[0].source_types.card == 4200 - card_fee(4200)
    listed = stripe.BalanceTransaction.list().data
    assert sum(t.net for t in listed) == balance.available[0].amount + balance.pending[0].amount


def test_early_fraud_warning_card(emulator: EmulatorServer) -> None:
    pm = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4000000000005423", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    )
    charge = _pay(pm.id, 3000)
    assert charge.disputed is False
    assert stripe.Dispute.list().data == []
    [efw] = stripe.radar.EarlyFraudWarning.list(charge=charge.id).data
    assert efw.actionable is True
    assert efw.payment_intent == charge.payment_intent
    [created] = _events("radar.early_fraud_warning.created")
    assert created.data.object.id == efw.id
    # Refunding in full (what Stripe suggests to avoid the dispute) ends it.
    stripe.Refund.create(charge=charge.id)
    again = stripe.radar.EarlyFraudWarning.retrieve(efw.id, expand=["charge"])
    assert again.actionable is False
    assert isinstance(again.charge, stripe.Charge)
    [updated] = _events("radar.early_fraud_warning.updated")
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["actionable"] is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.radar.EarlyFraudWarning.retrieve("issfr_missing")
    assert err.value.http_status == 404


def test_subscription_paid_with_dispute_card_on_a_test_clock(emulator: EmulatorServer) -> None:
    clock, customer, _pm = clock_customer(T0, card="pm_card_createDispute")
    plan = price(2500)
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": plan.id}])
    assert sub.status == "active"
    [dispute] = stripe.Dispute.list().data
    # Dated at the clock's time, like every event of the clock's objects.
    assert dispute.created == T0
    assert dispute.amount == 2500
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert invoice.status == "paid"
    charge = stripe.Charge.retrieve(str(dispute.charge))
    assert charge.customer == customer.id
    txn = stripe.BalanceTransaction.retrieve(str(charge.balance_transaction))
    assert (txn.created, txn.amount, txn.fee) == (T0, 2500, card_fee(2500))
    won = stripe.Dispute.modify(dispute.id, evidence={"uncategorized_text": "winning_evidence"})
    assert won.status == "won"
    [closed] = _events("charge.dispute.closed")
    assert closed.created == T0
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == T0


def test_dispute_webhooks_are_signed_and_rendered_in_the_endpoints_version(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = stripe.WebhookEndpoint.create(
        url=webhook_receiver.url,
        enabled_events=["charge.dispute.created", "charge.dispute.funds_withdrawn"],
        api_version="2026-10-28.endive",
    )
    _pay("pm_card_createDispute", 4200)
    received = webhook_receiver.wait_for(2)
    secret = str(endpoint.secret)
    events = [
        stripe.Webhook.construct_event(r.body.decode(), r.headers["Stripe-Signature"], secret)
        for r in received
    ]
    assert sorted(e.type for e in events) == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    for event in events:
        assert event.api_version == "2026-10-28.endive"
        dispute = event.data.object.to_dict()
        assert dispute["evidence_details"]["submission_method"] == "not_submitted"
        assert dispute["payment_method_details"]["card"]["network"] == "visa"
