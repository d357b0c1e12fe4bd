"""Subscription lifecycles on test clocks, with hand-computed amounts.

Clock starts 2026-01-01T00:00Z; January has 31 days (2,678,400 s), so a
monthly period Jan 1 -> Feb 1 is 31 days long.
"""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import (
    DAY,
    HOUR,
    T0,
    advance,
    clock_customer,
    event_types,
    helper,
    invoices_of,
    price,
    ts,
)


def _period(sub: stripe.Subscription) -> tuple[int, int]:
    item = sub["items"].data[0]
    return item.current_period_start, item.current_period_end


def test_trial_then_paid_then_renewal(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    plan = price(1000)
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": plan.id}], trial_period_days=14
    )
    trial_end = T0 + 14 * DAY
    assert sub.status == "trialing"
    assert (sub.trial_start, sub.trial_end) == (T0, trial_end)
    assert _period(sub) == (T0, trial_end)
    assert not hasattr(sub, "current_period_end")  # dahlia: periods live on items
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (first.status, first.amount_due, first.billing_reason) == (
        "paid",
        0,
        "subscription_create",
    )
    assert first.parent is not None
    assert first.parent.subscription_details is not None
    assert first.parent.subscription_details.subscription == sub.id

    # trial_will_end fires three days before the trial ends.
    advance(clock, trial_end - 3 * DAY - 1)
    assert "customer.subscription.trial_will_end" not in event_types()
    advance(clock, trial_end - 3 * DAY)
    twe = stripe.Event.list(type="customer.subscription.trial_will_end").data
    assert len(twe) == 1
    assert twe[0].created == trial_end - 3 * DAY

    # Trial over: active, a draft invoice waits behind the invoice.created gate.
    advance(clock, trial_end + 30 * 60)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert _period(sub) == (trial_end, ts(2026, 2, 15))
    cycle = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (cycle.status, cycle.billing_reason, cycle.amount_due) == (
        "draft",
        "subscription_cycle",
        1000,
    )
    assert cycle.automatically_finalizes_at == trial_end + HOUR
    assert cycle.attempted is False

    advance(clock, trial_end + 2 * HOUR)
    cycle = stripe.Invoice.retrieve(cycle.id)
    assert cycle.status == "paid"
    assert cycle.amount_paid == 1000
    assert cycle.status_transitions.finalized_at == trial_end + HOUR
    assert cycle.status_transitions.paid_at == trial_end + HOUR
    assert cycle.hosted_invoice_url is not None
    assert cycle.hosted_invoice_url.endswith(f"/invoices/{cycle.id}")
    assert cycle.number is not None

    # Renewal a month later.
    advance(clock, ts(2026, 2, 15, 2))
    sub = stripe.Subscription.retrieve(sub.id)
    assert _period(sub) == (ts(2026, 2, 15), ts(2026, 3, 15))
    invoices = invoices_of(sub.id)
    assert [(i.billing_reason, i.amount_paid, i.status) for i in invoices] == [
        ("subscription_create", 0, "paid"),
        ("subscription_cycle", 1000, "paid"),
        ("subscription_cycle", 1000, "paid"),
    ]
    numbers = [i.number for i in invoices]
    assert len(set(numbers)) == 3
    line = invoices[-1].lines.data[0]
    assert (line.period.start, line.period.end) == (ts(2026, 2, 15), ts(2026, 3, 15))
    assert line.parent is not None
    assert line.parent.subscription_item_details is not None
    assert line.parent.subscription_item_details.subscription_item == sub["items"].data[0].id
    assert line.pricing is not None
    assert line.pricing.price_details is not None
    assert line.pricing.price_details.price == plan.id


def test_create_with_4242_event_sequence(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    plan = price(1500)
    before = {e.id for e in stripe.Event.list(limit=100).data}
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": plan.id}])
    assert sub.status == "active"
    events = [e for e in reversed(stripe.Event.list(limit=100).data) if e.id not in before]
    assert [e.type for e in events] == [
        "customer.subscription.created",
        "invoice.created",
        "payment_intent.created",
        "invoice.finalized",
        "payment_intent.succeeded",
        "charge.succeeded",
        "invoice.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice_payment.paid",
        "customer.subscription.updated",
    ]
    assert events[0].data.object["status"] == "incomplete"
    updated = events[-1]
    assert updated.data.object["status"] == "active"
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["status"] == "incomplete"
    assert all(e["request"]["id"] for e in events)  # caused by the API request


def test_upgrade_mid_period_create_prorations(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    basic, pro = price(1000, name="Basic"), price(3000, name="Pro")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    assert _period(sub) == (T0, ts(2026, 2, 1))
    # 10 days used, 21 of 31 left.
    advance(clock, ts(2026, 1, 11))
    item = sub["items"].data[0]
    preview = stripe.Invoice.create_preview(
        subscription=sub.id,
        subscription_details={"items": [{"id": item.id, "price": pro.id}]},
    )
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": item.id, "price": pro.id}],
        proration_behavior="create_prorations",
    )
    assert sub["items"].data[0].price.id == pro.id
    assert _period(sub) == (T0, ts(2026, 2, 1))
    pending = list(stripe.InvoiceItem.list(customer=cus.id, pending=True).data)
    amounts = sorted(ii.amount for ii in pending)
    # credit: 1000 * 21/31 = 677.42 -> 677; charge: 3000 * 21/31 = 2032.26 -> 2032
    assert amounts == [-677, 2032]
    assert all(ii.proration for ii in pending)
    assert all(ii.period.start == ts(2026, 1, 11) for ii in pending)
    # The preview showed the same prorations plus the next period.
    assert sorted(line.amount for line in preview.lines.data) == [-677, 2032, 3000]
    assert preview.total == 4355
    updated = stripe.Event.list(type="customer.subscription.updated", limit=1).data[0]
    assert updated.data.previous_attributes is not None
    assert "items" in updated.data.previous_attributes

    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert sorted(line.amount for line in renewal.lines.data) == [-677, 2032, 3000]
    assert (renewal.subtotal, renewal.total, renewal.amount_paid) == (4355, 4355, 4355)
    prorations = [
        line
        for line in renewal.lines.data
        if line.parent is not None
        and line.parent.invoice_item_details is not None
        and line.parent.invoice_item_details.proration
    ]
    assert len(prorations) == 2
    assert stripe.InvoiceItem.list(customer=cus.id, pending=True).data == []


def test_upgrade_always_invoice_charges_now(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    basic, pro = price(1000, name="Basic"), price(3000, name="Pro")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    advance(clock, ts(2026, 1, 11))
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "price": pro.id}],
        proration_behavior="always_invoice",
    )
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert inv.billing_reason == "subscription_update"
    assert inv.status == "paid"
    assert sorted(line.amount for line in inv.lines.data) == [-677, 2032]
    assert inv.amount_paid == 1355
    # Next renewal bills only the new price.
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 3000


def test_quantity_downgrade_credit_lands_on_next_invoice(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    seat = price(500, name="Seat")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": seat.id, "quantity": 4}])
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_paid == 2000
    # Jan 16 12:00: 15.5 days used, 15.5 of 31 left = exactly half.
    advance(clock, ts(2026, 1, 16, 12))
    stripe.Subscription.modify(sub.id, items=[{"id": sub["items"].data[0].id, "quantity": 1}])
    amounts = sorted(ii.amount for ii in stripe.InvoiceItem.list(customer=cus.id).data)
    assert amounts == [-1000, 250]  # -2000/2, +500/2
    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    assert renewal.total == -1000 + 250 + 500
    assert renewal.amount_paid == 0
    assert renewal.status == "paid"
    assert stripe.Customer.retrieve(cus.id).balance == -250  # credit carried forward
    advance(clock, ts(2026, 3, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 250


def test_failed_renewal_dunning_then_canceled(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    plan = price(2000)
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": plan.id}])
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=failing.id)

    renewal_at = ts(2026, 2, 1)
    advance(clock, renewal_at + 2 * HOUR)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "past_due"
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.attempt_count, inv.attempted) == ("open", 1, True)
    first_attempt = renewal_at + HOUR
    assert inv.next_payment_attempt == first_attempt + 3 * DAY

    # Retries 3, 5 and 7 days apart, each failing again.
    advance(clock, first_attempt + 3 * DAY + 1)
    inv = stripe.Invoice.retrieve(inv.id)
    assert inv.attempt_count == 2
    assert inv.next_payment_attempt == first_attempt + 8 * DAY
    advance(clock, first_attempt + 8 * DAY + 1)
    assert stripe.Invoice.retrieve(inv.id).attempt_count == 3
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    advance(clock, first_attempt + 15 * DAY + 1)
    inv = stripe.Invoice.retrieve(inv.id)
    assert inv.attempt_count == 4
    assert inv.next_payment_attempt is None
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at == first_attempt + 15 * DAY
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason == "payment_failed"
    failed = stripe.Event.list(type="invoice.payment_failed", limit=20).data
    assert len(failed) == 4
    charges = stripe.Charge.list(customer=cus.id, limit=20).data
    assert [c.status for c in charges].count("failed") == 4
    assert charges[0].failure_code == "card_declined"
    deleted = stripe.Event.list(type="customer.subscription.deleted").data
    assert len(deleted) == 1
    assert deleted[0]["request"]["id"] is None  # automatic


def test_failed_renewal_marks_unpaid_when_configured(emulator: EmulatorServer) -> None:
    helper(
        emulator,
        "POST",
        "/_emulator/billing/config",
        {"final_action": "unpaid", "retry_schedule_days": [1]},
    )
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(2000).id}])
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Customer.modify(cus.id, invoice_settings={"default_payment_method": failing.id})
    advance(clock, ts(2026, 2, 3))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "unpaid"
    # Paying the open invoice with a working card recovers the subscription.
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    paid = stripe.Invoice.pay(inv.id, payment_method="pm_card_visa")
    assert paid.status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_3ds_first_payment_incomplete_then_authenticated(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer(card="pm_card_authenticationRequired")
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1200).id}],
        expand=["latest_invoice.payments", "latest_invoice.confirmation_secret"],
    )
    assert sub.status == "incomplete"
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice)
    assert inv.status == "open"
    assert inv.confirmation_secret is not None
    assert inv.confirmation_secret.type == "payment_intent"
    assert inv.payments is not None
    pi_id = inv.payments.data[0].payment.payment_intent
    pi = stripe.PaymentIntent.retrieve(str(pi_id))
    assert pi.status == "requires_action"
    assert inv.confirmation_secret.client_secret == pi.client_secret
    assert "invoice.payment_action_required" in event_types()
    assert "payment_intent.requires_action" in event_types()
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.retrieve(sub.id, expand=["latest_invoice.payment_intent"])

    helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi.id}/authenticate",
        {"succeed": True},
    )
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert stripe.Invoice.retrieve(inv.id).status == "paid"


def test_3184_renewal_requires_action_goes_past_due(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1200).id}])
    card = stripe.PaymentMethod.attach("pm_card_authenticationRequired", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=card.id)
    advance(clock, ts(2026, 2, 1, 2))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "past_due"
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert inv.status == "open"
    assert inv.next_payment_attempt is None
    assert stripe.Event.list(type="invoice.payment_action_required").data


def test_decline_first_payment_incomplete_expired_after_23h(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer(card="pm_card_chargeCustomerFail")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(900).id}])
    assert sub.status == "incomplete"
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.attempt_count, inv.amount_remaining) == ("open", 1, 900)
    assert inv.next_payment_attempt is None  # no retries for a first invoice
    advance(clock, T0 + 23 * HOUR - 1)
    assert stripe.Subscription.retrieve(sub.id).status == "incomplete"
    advance(clock, T0 + 23 * HOUR)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "incomplete_expired"
    assert sub.ended_at == T0 + 23 * HOUR
    assert stripe.Invoice.retrieve(inv.id).status == "void"
    # Terminal: a later clock advance bills nothing.
    advance(clock, ts(2026, 2, 2))
    assert len(invoices_of(sub.id)) == 1


def test_decline_then_pay_with_new_card(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer(card="pm_card_chargeCustomerFail")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(900).id}])
    with pytest.raises(stripe.CardError) as err:
        stripe.Invoice.pay(str(sub.latest_invoice))
    assert err.value.code == "card_declined"
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).attempt_count == 2
    good = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    assert stripe.Customer.retrieve(cus.id).delinquent is True
    inv = stripe.Invoice.pay(str(sub.latest_invoice), payment_method=good.id)
    assert inv.status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"
    assert stripe.Customer.retrieve(cus.id).delinquent is False


def test_error_if_incomplete_creates_nothing(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer(card="pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        stripe.Subscription.create(
            customer=cus.id,
            items=[{"price": price(900).id}],
            payment_behavior="error_if_incomplete",
        )
    assert stripe.Subscription.list(customer=cus.id, status="all").data == []


def test_promotion_code_repeating_discount(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    coupon = stripe.Coupon.create(percent_off=20, duration="repeating", duration_in_months=2)
    promo = stripe.PromotionCode.create(
        promotion={"type": "coupon", "coupon": coupon.id}, code="LAUNCH20"
    )
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1999).id}],
        discounts=[{"promotion_code": promo.id}],
        expand=["discounts"],
    )
    discount = sub.discounts[0]
    assert isinstance(discount, stripe.Discount)
    assert discount.promotion_code == promo.id
    assert discount.end == ts(2026, 3, 1)
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    # 20% of 1999 = 399.8 -> 400
    assert (first.subtotal, first.total, first.amount_paid) == (1999, 1599, 1599)
    assert first.total_discount_amounts is not None
    assert first.total_discount_amounts[0].amount == 400
    assert first.lines.data[0].discount_amounts is not None
    assert first.lines.data[0].discount_amounts[0].amount == 400
    assert stripe.PromotionCode.retrieve(promo.id).times_redeemed == 1
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1599
    advance(clock, ts(2026, 3, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1999  # the 2 months are over


def test_once_amount_off_coupon(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    coupon = stripe.Coupon.create(amount_off=500, currency="usd", duration="once")
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1200).id}], discounts=[{"coupon": coupon.id}]
    )
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_paid == 700
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1200


def test_cancel_at_period_end_then_ended(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    advance(clock, ts(2026, 1, 20))
    sub = stripe.Subscription.modify(
        sub.id,
        cancel_at_period_end=True,
        cancellation_details={"comment": "too pricey", "feedback": "too_expensive"},
    )
    assert sub.status == "active"
    assert sub.cancel_at_period_end is True
    assert sub.cancel_at == ts(2026, 2, 1)
    assert sub.canceled_at == ts(2026, 1, 20)
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.feedback == "too_expensive"
    updated = stripe.Event.list(type="customer.subscription.updated", limit=1).data[0]
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["cancel_at_period_end"] is False

    advance(clock, ts(2026, 2, 1, 3))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at == ts(2026, 2, 1)
    assert len(invoices_of(sub.id)) == 1  # no renewal invoice
    deleted = stripe.Event.list(type="customer.subscription.deleted").data
    assert [e.data.object["id"] for e in deleted] == [sub.id]
    assert stripe.Subscription.list(customer=cus.id).data == []
    assert [s.id for s in stripe.Subscription.list(customer=cus.id, status="canceled").data] == [
        sub.id
    ]


def test_unschedule_cancellation_keeps_renewing(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    sub = stripe.Subscription.modify(sub.id, cancel_at_period_end=False)
    assert (sub.cancel_at, sub.canceled_at, sub.cancel_at_period_end) == (None, None, False)
    advance(clock, ts(2026, 2, 1, 2))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert invoices_of(sub.id)[-1].amount_paid == 1000


def test_cancel_immediately_with_proration(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(3100).id}])
    advance(clock, ts(2026, 1, 22))  # 21 days used, 10 of 31 left
    canceled = stripe.Subscription.cancel(sub.id, prorate=True)
    assert canceled.status == "canceled"
    assert canceled.canceled_at == canceled.ended_at == ts(2026, 1, 22)
    credit = stripe.InvoiceItem.list(customer=cus.id).data
    assert [ii.amount for ii in credit] == [-1000]  # 3100 * 10/31
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.modify(sub.id, items=[{"price": price(10).id}])


def test_trial_without_card_pauses_then_resume(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer(card=None)
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(800).id}],
        trial_period_days=7,
        trial_settings={"end_behavior": {"missing_payment_method": "pause"}},
    )
    assert sub.status == "trialing"
    advance(clock, T0 + 7 * DAY + 2 * HOUR)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "paused"
    assert "customer.subscription.paused" in event_types()
    assert len(invoices_of(sub.id)) == 1
    card = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=card.id)
    sub = stripe.Subscription.resume(sub.id)
    assert sub.status == "active"
    resumed_at = T0 + 7 * DAY + 2 * HOUR
    assert sub.billing_cycle_anchor == resumed_at
    assert "customer.subscription.resumed" in event_types()
    assert invoices_of(sub.id)[-1].amount_paid == 800


def test_trial_without_card_cancel_behaviour(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer(card=None)
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(800).id}],
        trial_period_days=3,
        trial_settings={"end_behavior": {"missing_payment_method": "cancel"}},
    )
    # A trial of 3 days or less gets trial_will_end at once.
    assert "customer.subscription.trial_will_end" in event_types()
    advance(clock, T0 + 3 * DAY + 1)
    assert stripe.Subscription.retrieve(sub.id).status == "canceled"


def test_pause_collection_void_keeps_active(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    stripe.Subscription.modify(sub.id, pause_collection={"behavior": "void"})
    advance(clock, ts(2026, 2, 1, 2))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert invoices_of(sub.id)[-1].status == "void"
    stripe.Subscription.modify(sub.id, pause_collection="")
    advance(clock, ts(2026, 3, 1, 2))
    assert invoices_of(sub.id)[-1].status == "paid"


def test_trial_with_pending_setup_intent_then_charged(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer(card=None)
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1100).id}],
        trial_period_days=10,
        payment_behavior="default_incomplete",
        expand=["pending_setup_intent"],
    )
    assert sub.status == "trialing"
    seti = sub.pending_setup_intent
    assert isinstance(seti, stripe.SetupIntent)
    assert (seti.status, seti.usage, seti.customer) == (
        "requires_payment_method",
        "off_session",
        cus.id,
    )
    done = stripe.SetupIntent.confirm(seti.id, payment_method="pm_card_visa")
    assert done.status == "succeeded"
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.pending_setup_intent is None
    assert sub.default_payment_method == done.payment_method
    advance(clock, T0 + 10 * DAY + 2 * HOUR)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert invoices_of(sub.id)[-1].amount_paid == 1100


def test_shortening_trial_to_under_three_days_sends_trial_will_end(
    emulator: EmulatorServer,
) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1100).id}], trial_period_days=30
    )
    assert "customer.subscription.trial_will_end" not in event_types()
    stripe.Subscription.modify(sub.id, trial_end=T0 + 2 * DAY)
    assert event_types().count("customer.subscription.trial_will_end") == 1
    advance(clock, T0 + 2 * DAY + 2 * HOUR)
    assert event_types().count("customer.subscription.trial_will_end") == 1
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert _period(sub) == (T0 + 2 * DAY, ts(2026, 2, 3))


def test_end_trial_now_charges_at_once(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1300).id}], trial_period_days=14
    )
    advance(clock, T0 + 5 * DAY)
    sub = stripe.Subscription.modify(sub.id, trial_end="now")
    assert sub.status == "active"
    assert sub.trial_end == T0 + 5 * DAY
    assert _period(sub) == (T0 + 5 * DAY, ts(2026, 2, 6))
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.amount_paid, inv.billing_reason) == (
        "paid",
        1300,
        "subscription_cycle",
    )
    # Ending the trial early sends trial_will_end too (Stripe does).
    assert "customer.subscription.trial_will_end" in event_types()


def test_advance_limited_to_two_intervals(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    stripe.Subscription.create(customer=cus.id, items=[{"price": price(100).id}])
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.test_helpers.TestClock.advance(clock.id, frozen_time=ts(2026, 3, 1, 1))
    assert err.value.param == "frozen_time"
    refused = stripe.test_helpers.TestClock.retrieve(clock.id)
    assert (refused.frozen_time, refused.status) == (T0, "ready")
    assert "test_helpers.test_clock.advancing" not in event_types()
    advance(clock, ts(2026, 3, 1))  # exactly two months is allowed
    helper(emulator, "POST", "/_emulator/billing/config", {"enforce_advance_limit": False})
    advance(clock, ts(2027, 3, 1, 2))
    assert len(stripe.Invoice.list(customer=cus.id, limit=100).data) == 15


def test_always_invoice_upgrade_with_failing_card(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    basic, pro = price(1000, name="Basic"), price(3000, name="Pro")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    item_id = sub["items"].data[0].id
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=failing.id)
    advance(clock, ts(2026, 1, 11))
    # error_if_incomplete: refused with a 402 and nothing changes.
    with pytest.raises(stripe.CardError):
        stripe.Subscription.modify(
            sub.id,
            items=[{"id": item_id, "price": pro.id}],
            proration_behavior="always_invoice",
            payment_behavior="error_if_incomplete",
        )
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub["items"].data[0].price.id == basic.id
    assert stripe.InvoiceItem.list(customer=cus.id).data == []
    # allow_incomplete (default): the change applies, the invoice stays open.
    sub = stripe.Subscription.modify(
        sub.id, items=[{"id": item_id, "price": pro.id}], proration_behavior="always_invoice"
    )
    assert sub.status == "past_due"
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.amount_due, inv.billing_reason) == ("open", 1355, "subscription_update")
    assert inv.next_payment_attempt == ts(2026, 1, 14)  # retried like a renewal


def test_metered_usage_billed_in_arrears(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    meter = stripe.billing.Meter.create(
        display_name="API calls",
        event_name="api_call",
        default_aggregation={"formula": "sum"},
    )
    product = stripe.Product.create(name="API")
    usage_price = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount_decimal="2.5",  # 2.5 cents per call
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
    )
    base = price(1000, name="Base")
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": base.id}, {"price": usage_price.id}]
    )
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert first.amount_paid == 1000  # usage is not billed in advance
    metered_item = next(i for i in sub["items"].data if i.price.id == usage_price.id)
    assert metered_item.quantity is None
    # Meter events may not be dated in the future (5 minutes' grace): report
    # January's usage once the clock is past it.
    advance(clock, ts(2026, 1, 25))
    for when, value in ((ts(2026, 1, 10), "150"), (ts(2026, 1, 20), "51")):
        stripe.billing.MeterEvent.create(
            event_name="api_call",
            payload={"stripe_customer_id": cus.id, "value": value},
            timestamp=when,
        )
    # An event after the period belongs to the next one.
    advance(clock, ts(2026, 2, 1, 0))
    stripe.billing.MeterEvent.create(
        event_name="api_call",
        payload={"stripe_customer_id": cus.id, "value": "1000"},
        timestamp=ts(2026, 2, 1, 0) + 60,
    )
    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    usage_line = next(
        ln
        for ln in renewal.lines.data
        if ln.pricing
        and ln.pricing.price_details
        and ln.pricing.price_details.price == usage_price.id
    )
    # 201 calls x 2.5 cents = 502.5 -> 503, for January (in arrears).
    assert usage_line.amount == 503
    assert usage_line.quantity == 201
    assert (usage_line.period.start, usage_line.period.end) == (T0, ts(2026, 2, 1))
    assert renewal.amount_paid == 1000 + 503
    advance(clock, ts(2026, 3, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1000 + 2500


def test_trial_canceled_at_period_end_is_never_billed(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(900).id}], trial_period_days=7
    )
    sub = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert sub.cancel_at == T0 + 7 * DAY
    advance(clock, T0 + 7 * DAY + 2 * HOUR)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at == T0 + 7 * DAY
    assert [i.amount_due for i in invoices_of(sub.id)] == [0]


def test_send_invoice_overdue_then_paid(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer(card=None)
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(5000).id}],
        collection_method="send_invoice",
        days_until_due=14,
    )
    assert sub.status == "active"  # send_invoice subscriptions start active
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (first.status, first.due_date, first.attempted) == ("open", T0 + 14 * DAY, False)
    advance(clock, T0 + 14 * DAY + 1)
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    assert "invoice.overdue" in event_types()
    card = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    assert stripe.Invoice.pay(first.id, payment_method=card.id).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"
    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    assert (renewal.status, renewal.due_date) == ("open", ts(2026, 2, 1, 1) + 14 * DAY)
    assert "invoice.sent" in event_types()


def test_renewal_event_sequence_and_times(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    seen = {e.id for e in stripe.Event.list(limit=100).data}
    advance(clock, ts(2026, 2, 1, 2))
    events = [
        e
        for e in reversed(stripe.Event.list(limit=100).data)
        if e.id not in seen and not e.type.startswith("test_helpers.")
    ]
    boundary, gate = ts(2026, 2, 1), ts(2026, 2, 1, 1)
    assert [(e.type, e.created) for e in events] == [
        ("invoice.upcoming", boundary - 3 * DAY),  # the default "Upcoming renewal events"
        ("customer.subscription.updated", boundary),
        ("invoice.created", boundary),
        ("payment_intent.created", gate),
        ("invoice.finalized", gate),
        ("payment_intent.succeeded", gate),
        ("charge.succeeded", gate),
        ("invoice.updated", gate),
        ("invoice.paid", gate),
        ("invoice.payment_succeeded", gate),
        ("invoice_payment.paid", gate),
    ]
    assert all(e["request"]["id"] is None for e in events)
    created = events[2].data.object
    assert (created["status"], created["billing_reason"], created["auto_advance"]) == (
        "draft",
        "subscription_cycle",
        True,
    )


def _tiered(mode: str) -> stripe.Price:
    product = stripe.Product.create(name=f"Seats ({mode})")
    return stripe.Price.create(
        product=product.id,
        currency="usd",
        billing_scheme="tiered",
        tiers_mode=mode,
        tiers=[
            {"up_to": 10, "unit_amount": 1000, "flat_amount": 2000},
            {"up_to": "inf", "unit_amount": 700},
        ],
        recurring={"interval": "month"},
    )


@pytest.mark.parametrize(
    ("mode", "amount_12", "amount_3"),
    [
        # graduated: 10 x 1000 + 2000 flat + 2 x 700; then 3 x 1000 + 2000
        ("graduated", 13400, 5000),
        # volume: all 12 at the second tier; then all 3 at the first (+ flat)
        ("volume", 8400, 5000),
    ],
)
def test_tiered_prices_and_their_prorations(
    emulator: EmulatorServer, mode: str, amount_12: int, amount_3: int
) -> None:
    clock, cus, _pm = clock_customer()
    seats = _tiered(mode)
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": seats.id, "quantity": 12}])
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_paid == amount_12
    advance(clock, ts(2026, 1, 16, 12))  # exactly half of January left
    stripe.Subscription.modify(sub.id, items=[{"id": sub["items"].data[0].id, "quantity": 3}])
    amounts = sorted(ii.amount for ii in stripe.InvoiceItem.list(customer=cus.id).data)
    assert amounts == [-(amount_12 // 2), amount_3 // 2]
    advance(clock, ts(2026, 2, 1, 2))
    renewal = invoices_of(sub.id)[-1]
    assert renewal.total == amount_3 - amount_12 // 2 + amount_3 // 2


def test_add_invoice_items_setup_fee_on_first_invoice_only(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    fee = stripe.Price.create(
        product=stripe.Product.create(name="Setup fee").id, unit_amount=5000, currency="usd"
    )
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1000).id}],
        add_invoice_items=[{"price": fee.id}],
    )
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert sorted(line.amount for line in first.lines.data) == [1000, 5000]
    assert first.amount_paid == 6000
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1000


def test_switch_to_yearly_restarts_the_cycle(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    monthly, yearly = price(1000, name="Monthly"), price(10000, interval="year", name="Yearly")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": monthly.id}])
    advance(clock, ts(2026, 1, 11))
    sub = stripe.Subscription.modify(
        sub.id, items=[{"id": sub["items"].data[0].id, "price": yearly.id}]
    )
    assert sub.billing_cycle_anchor == ts(2026, 1, 11)
    assert _period(sub) == (ts(2026, 1, 11), ts(2027, 1, 11))
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert inv.billing_reason == "subscription_update"
    assert sorted(line.amount for line in inv.lines.data) == [-677, 10000]
    assert inv.amount_paid == 9323


def test_billing_cycle_anchor_now(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    advance(clock, ts(2026, 1, 11))
    sub = stripe.Subscription.modify(sub.id, billing_cycle_anchor="now")
    assert _period(sub) == (ts(2026, 1, 11), ts(2026, 2, 11))
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert sorted(line.amount for line in inv.lines.data) == [-677, 1000]
    assert inv.amount_paid == 323
    advance(clock, ts(2026, 2, 11, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1000
