"""Subscription, subscription item, invoice and invoice item endpoints; entitlements."""

from __future__ import annotations

import time

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import T0, advance, clock_customer, helper, invoices_of, price, ts
from .conftest import WebhookReceiver


def test_list_filters_and_search(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    basic, pro = price(1000, name="Basic"), price(3000, name="Pro")
    a = stripe.Subscription.create(
        customer=cus.id, items=[{"price": basic.id}], metadata={"team": "red"}
    )
    b = stripe.Subscription.create(customer=cus.id, items=[{"price": pro.id}])
    stripe.Subscription.cancel(b.id)
    assert [s.id for s in stripe.Subscription.list(customer=cus.id).data] == [a.id]
    assert [s.id for s in stripe.Subscription.list(customer=cus.id, status="all").data] == [
        b.id,
        a.id,
    ]
    assert [s.id for s in stripe.Subscription.list(price=pro.id, status="all").data] == [b.id]
    assert [s.id for s in stripe.Subscription.list(status="canceled").data] == [b.id]
    found = stripe.Subscription.search(query="status:'active' AND metadata['team']:'red'")
    assert [s.id for s in found.data] == [a.id]
    invs = stripe.Invoice.list(customer=cus.id, status="paid")
    assert {i.id for i in invs.data} == {str(a.latest_invoice), str(b.latest_invoice)}
    assert [i.id for i in stripe.Invoice.list(subscription=a.id).data] == [str(a.latest_invoice)]


def test_subscription_items_endpoints(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    seat, addon = price(500, name="Seat"), price(200, name="Addon")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": seat.id}])
    item_id = sub["items"].data[0].id
    item = stripe.SubscriptionItem.retrieve(item_id)
    assert item.subscription == sub.id
    assert (item.current_period_start, item.current_period_end) == (T0, ts(2026, 2, 1))
    added = stripe.SubscriptionItem.create(
        subscription=sub.id, price=addon.id, proration_behavior="none"
    )
    assert added.price.id == addon.id
    listed = stripe.SubscriptionItem.list(subscription=sub.id)
    assert {i.id for i in listed.data} == {item_id, added.id}
    stripe.SubscriptionItem.modify(item_id, quantity=3, proration_behavior="none")
    stripe.SubscriptionItem.delete(added.id, proration_behavior="none")
    sub = stripe.Subscription.retrieve(sub.id)
    assert [(i.id, i.quantity) for i in sub["items"].data] == [(item_id, 3)]
    with pytest.raises(stripe.InvalidRequestError):
        stripe.SubscriptionItem.retrieve(added.id)
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1500


def test_validation_errors(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    one_time = stripe.Price.create(
        product=stripe.Product.create(name="Once").id, unit_amount=100, currency="usd"
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Subscription.create(customer=cus.id, items=[{"price": one_time.id}])
    assert err.value.param == "items[0][price]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Subscription.create(customer="cus_missing", items=[{"price": one_time.id}])
    assert err.value.code == "resource_missing"
    monthly, yearly = price(100), price(1000, interval="year")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.create(
            customer=cus.id, items=[{"price": monthly.id}, {"price": yearly.id}]
        )


def test_manual_invoice_lifecycle(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    stripe.InvoiceItem.create(customer=cus.id, amount=2500, currency="usd", description="Setup")
    inv = stripe.Invoice.create(customer=cus.id, pending_invoice_items_behavior="include")
    assert (inv.status, inv.amount_due, inv.billing_reason, inv.parent) == (
        "draft",
        2500,
        "manual",
        None,
    )
    line = inv.lines.data[0]
    assert line.parent is not None
    assert line.parent.type == "invoice_item_details"
    extra = stripe.InvoiceItem.create(customer=cus.id, amount=500, currency="usd", invoice=inv.id)
    assert extra.invoice == inv.id
    assert stripe.Invoice.retrieve(inv.id).amount_due == 3000
    lines = stripe.Invoice.list_lines(inv.id)
    assert sorted(ln.amount for ln in lines.data) == [500, 2500]
    inv = stripe.Invoice.finalize_invoice(inv.id)
    assert inv.status == "open"
    assert inv.number is not None
    assert inv.invoice_pdf is not None
    assert inv.invoice_pdf.endswith(f"/invoices/{inv.id}/pdf")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Invoice.delete(inv.id)
    inv = stripe.Invoice.pay(inv.id)
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("paid", 3000, 0)
    payments = stripe.Invoice.retrieve(inv.id, expand=["payments"]).payments
    assert payments is not None
    assert payments.data[0].status == "paid"
    assert payments.data[0].amount_paid == 3000


def test_void_uncollectible_and_delete_draft(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    stripe.InvoiceItem.create(customer=cus.id, amount=900, currency="usd")
    draft = stripe.Invoice.create(customer=cus.id, pending_invoice_items_behavior="include")
    stripe.Invoice.delete(draft.id)
    pending = stripe.InvoiceItem.list(customer=cus.id, pending=True).data
    assert len(pending) == 1  # back to pending
    inv = stripe.Invoice.create(customer=cus.id, pending_invoice_items_behavior="include")
    inv = stripe.Invoice.finalize_invoice(inv.id)
    inv = stripe.Invoice.mark_uncollectible(inv.id)
    assert inv.status == "uncollectible"
    inv = stripe.Invoice.void_invoice(inv.id)
    assert inv.status == "void"
    assert inv.status_transitions.voided_at is not None
    types = [e.type for e in stripe.Event.list(limit=30).data]
    assert {"invoice.deleted", "invoice.marked_uncollectible", "invoice.voided"} <= set(types)


def test_expand_latest_invoice_and_bad_paths(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1000).id}],
        expand=["latest_invoice", "customer"],
    )
    assert isinstance(sub.latest_invoice, stripe.Invoice)
    assert sub.latest_invoice.status == "paid"
    assert isinstance(sub.customer, stripe.Customer)
    for bad in ("latest_invoice.payment_intent", "latest_invoice.charge"):
        with pytest.raises(stripe.InvalidRequestError) as err:
            stripe.Subscription.retrieve(sub.id, expand=[bad])
        assert err.value.param == "expand"
    listed = stripe.Subscription.list(customer=cus.id, expand=["data.latest_invoice"])
    assert isinstance(listed.data[0].latest_invoice, stripe.Invoice)


def test_entitlements_follow_subscription(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    feature = stripe.entitlements.Feature.create(name="Exports", lookup_key="exports")
    plan = price(1000, name="Pro")
    stripe.Product.create_feature(str(plan.product), entitlement_feature=feature.id)
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": plan.id}])
    ents = stripe.entitlements.ActiveEntitlement.list(customer=cus.id)
    assert [e.lookup_key for e in ents.data] == ["exports"]
    summaries = stripe.Event.list(type="entitlements.active_entitlement_summary.updated").data
    assert len(summaries) == 1
    obj = summaries[0].data.object
    assert obj["customer"] == cus.id
    assert [e["lookup_key"] for e in obj["entitlements"]["data"]] == ["exports"]
    stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    advance(clock, ts(2026, 2, 1, 1))
    assert stripe.entitlements.ActiveEntitlement.list(customer=cus.id).data == []
    summaries = stripe.Event.list(type="entitlements.active_entitlement_summary.updated").data
    assert len(summaries) == 2
    assert summaries[0].data.object["entitlements"]["data"] == []


def _entitled(customer: str) -> set[str]:
    ents = stripe.entitlements.ActiveEntitlement.list(customer=customer, limit=100)
    return {e.lookup_key for e in ents.data}


def _summaries(customer: str) -> list[stripe.Event]:
    events = stripe.Event.list(type="entitlements.active_entitlement_summary.updated", limit=100)
    return [e for e in events.data if e.data.object["customer"] == customer]


def test_product_feature_changes_reach_existing_subscriptions_at_their_next_period(
    emulator: EmulatorServer,
) -> None:
    """docs.stripe.com/billing/entitlements: existing subscriptions create active
    entitlements for product feature changes at the start of the next billing period."""
    clock, cus, _pm = clock_customer()
    exports = stripe.entitlements.Feature.create(name="Exports", lookup_key="exports")
    api = stripe.entitlements.Feature.create(name="API", lookup_key="api")
    plan = price(1000, name="Pro")
    product = str(plan.product)
    attached = stripe.Product.create_feature(product, entitlement_feature=exports.id)
    stripe.Subscription.create(customer=cus.id, items=[{"price": plan.id}])
    assert _entitled(cus.id) == {"exports"}
    assert len(_summaries(cus.id)) == 1

    stripe.Product.create_feature(product, entitlement_feature=api.id)
    stripe.Product.delete_feature(product, attached.id)
    # Nothing changes for the existing subscriber, and no event is sent.
    assert _entitled(cus.id) == {"exports"}
    assert len(_summaries(cus.id)) == 1
    # A new subscription gets the product's features as they are now.
    _clock2, newcomer, _pm2 = clock_customer()
    stripe.Subscription.create(customer=newcomer.id, items=[{"price": plan.id}])
    assert _entitled(newcomer.id) == {"api"}
    # Mid-period moments do not pick the change up either.
    advance(clock, ts(2026, 1, 20))
    assert _entitled(cus.id) == {"exports"}

    advance(clock, ts(2026, 2, 1, 1))  # the renewal starts the next billing period
    assert _entitled(cus.id) == {"api"}
    summaries = _summaries(cus.id)
    assert len(summaries) == 2
    latest = summaries[0].to_dict()
    assert [e["lookup_key"] for e in latest["data"]["object"]["entitlements"]["data"]] == ["api"]
    previous = latest["data"]["previous_attributes"]["entitlements"]["data"]
    assert [e["lookup_key"] for e in previous] == ["exports"]
    assert latest["request"]["id"] is None
    assert latest["created"] == ts(2026, 2, 1)


def test_item_change_applies_the_new_products_current_features(
    emulator: EmulatorServer,
) -> None:
    _clock, cus, _pm = clock_customer()
    reports = stripe.entitlements.Feature.create(name="Reports", lookup_key="reports")
    starter, pro = price(1000, name="Starter"), price(3000, name="Pro")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": starter.id}])
    assert _entitled(cus.id) == set()
    stripe.Product.create_feature(str(starter.product), entitlement_feature=reports.id)
    stripe.Product.create_feature(str(pro.product), entitlement_feature=reports.id)
    assert _entitled(cus.id) == set()
    item = sub["items"].data[0]
    stripe.Subscription.modify(sub.id, items=[{"id": item.id, "price": pro.id}])
    assert _entitled(cus.id) == {"reports"}
    assert len(_summaries(cus.id)) == 1


def test_past_due_entitlements_are_configurable(emulator: EmulatorServer) -> None:
    config = helper(emulator, "GET", "/_emulator/billing/config")
    assert config["past_due_keeps_entitlements"] is True
    helper(emulator, "POST", "/_emulator/billing/config", {"past_due_keeps_entitlements": False})
    clock, cus, _pm = clock_customer()
    feature = stripe.entitlements.Feature.create(name="Reports", lookup_key="reports")
    plan = price(1000)
    stripe.Product.create_feature(str(plan.product), entitlement_feature=feature.id)
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": plan.id}])
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=failing.id)
    advance(clock, ts(2026, 2, 1, 2))
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    assert stripe.entitlements.ActiveEntitlement.list(customer=cus.id).data == []


def test_real_clock_subscription_and_tick(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(payment_method="pm_card_visa")
    pm = stripe.PaymentMethod.list(customer=cus.id).data[0]
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1000).id}], default_payment_method=pm.id
    )
    assert sub.status == "active"
    assert sub.test_clock is None
    assert helper(emulator, "POST", "/_emulator/billing/tick", {})["steps"] == 0  # nothing due


def test_customer_deletion_cancels_subscriptions(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    stripe.Customer.delete(cus.id)
    assert stripe.Subscription.retrieve(sub.id).status == "canceled"


def test_real_clock_pass_expires_incomplete(emulator: EmulatorServer) -> None:
    helper(emulator, "POST", "/_emulator/billing/config", {"incomplete_expiry_seconds": 1})
    cus = stripe.Customer.create(payment_method="pm_card_chargeCustomerFail")
    pm = stripe.PaymentMethod.list(customer=cus.id).data[0]
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1000).id}], default_payment_method=pm.id
    )
    assert sub.status == "incomplete"
    time.sleep(2.1)
    # The background pass may have run first; either way it is done now.
    assert helper(emulator, "POST", "/_emulator/billing/tick", {})["steps"] in (0, 1)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "incomplete_expired"
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).status == "void"


def test_default_incomplete_confirmed_with_elements_style_flow(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer(card=None)
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1800).id}],
        payment_behavior="default_incomplete",
        payment_settings={"save_default_payment_method": "on_subscription"},
        expand=["latest_invoice.confirmation_secret", "latest_invoice.payments"],
    )
    assert sub.status == "incomplete"
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice)
    assert inv.attempt_count == 0
    assert inv.payments is not None
    pi_id = str(inv.payments.data[0].payment.payment_intent)
    assert stripe.PaymentIntent.retrieve(pi_id).status == "requires_payment_method"
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    pi = stripe.PaymentIntent.confirm(pi_id, payment_method=pm.id)
    assert pi.status == "succeeded"
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert sub.default_payment_method == pm.id
    assert stripe.Invoice.retrieve(inv.id).status == "paid"


def test_preview_of_a_new_subscription_stores_nothing(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    plan = price(2500)
    coupon = stripe.Coupon.create(percent_off=10, duration="forever")
    preview = stripe.Invoice.create_preview(
        customer=cus.id,
        subscription_details={"items": [{"price": plan.id, "quantity": 2}]},
        discounts=[{"coupon": coupon.id}],
    )
    assert preview.status == "draft"
    assert (preview.subtotal, preview.total, preview.amount_due) == (5000, 4500, 4500)
    assert preview.billing_reason == "subscription_create"
    assert stripe.Subscription.list(customer=cus.id, status="all").data == []
    assert stripe.Invoice.list(customer=cus.id).data == []
    assert stripe.Coupon.retrieve(coupon.id).times_redeemed == 0


def test_renewal_webhooks_are_delivered_and_verify(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = stripe.WebhookEndpoint.create(
        url=webhook_receiver.url, enabled_events=["invoice.paid", "customer.subscription.updated"]
    )
    assert endpoint.secret is not None
    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(700).id}])
    advance(clock, ts(2026, 2, 1, 2))
    got = webhook_receiver.wait_for(4)
    events = [
        stripe.Webhook.construct_event(
            r.body.decode(), r.headers["Stripe-Signature"], endpoint.secret
        )
        for r in got
    ]
    renewal_paid = [
        e
        for e in events
        if e.type == "invoice.paid" and e.data.object["billing_reason"] == "subscription_cycle"
    ]
    assert len(renewal_paid) == 1
    assert renewal_paid[0].created == ts(2026, 2, 1, 1)  # finalised an hour after the period
    assert renewal_paid[0]["request"]["id"] is None
    rolled = [
        e
        for e in events
        if e.type == "customer.subscription.updated"
        and e.data.object["items"]["data"][0]["current_period_start"] == ts(2026, 2, 1)
    ]
    assert len(rolled) == 1
    previous = rolled[0].data.previous_attributes
    assert previous is not None
    assert previous["items"]["data"][0]["current_period_start"] == T0
    assert sub.id == rolled[0].data.object["id"]


def test_delete_subscription_discount(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    coupon = stripe.Coupon.create(percent_off=50, duration="forever")
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": price(1000).id}], discounts=[{"coupon": coupon.id}]
    )
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_paid == 500
    deleted = stripe.Subscription.delete_discount(sub.id)
    assert deleted.deleted is True
    assert stripe.Subscription.retrieve(sub.id).discounts == []
    advance(clock, ts(2026, 2, 1, 2))
    assert invoices_of(sub.id)[-1].amount_paid == 1000


def test_manual_invoice_auto_advance_finalises_after_an_hour(emulator: EmulatorServer) -> None:
    clock, cus, _pm = clock_customer()
    stripe.InvoiceItem.create(customer=cus.id, amount=4200, currency="usd")
    inv = stripe.Invoice.create(
        customer=cus.id, auto_advance=True, pending_invoice_items_behavior="include"
    )
    assert inv.automatically_finalizes_at == T0 + 3600
    advance(clock, T0 + 3600 + 60)
    inv = stripe.Invoice.retrieve(inv.id)
    assert (inv.status, inv.amount_paid) == ("paid", 4200)
    assert inv.status_transitions.finalized_at == T0 + 3600


def test_promotion_code_restrictions(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    coupon = stripe.Coupon.create(percent_off=10, duration="once")
    minimum = stripe.PromotionCode.create(
        promotion={"type": "coupon", "coupon": coupon.id},
        code="BIG",
        restrictions={"minimum_amount": 2000, "minimum_amount_currency": "usd"},
    )
    first_time = stripe.PromotionCode.create(
        promotion={"type": "coupon", "coupon": coupon.id},
        code="NEW",
        restrictions={"first_time_transaction": True},
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Subscription.create(
            customer=cus.id,
            items=[{"price": price(1500).id}],
            discounts=[{"promotion_code": minimum.id}],
        )
    assert err.value.param == "discounts[0][promotion_code]"
    ok = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1000).id, "quantity": 2}],
        discounts=[{"promotion_code": first_time.id}],
    )
    assert stripe.Invoice.retrieve(str(ok.latest_invoice)).amount_paid == 1800
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.create(
            customer=cus.id,
            items=[{"price": price(1000).id}],
            discounts=[{"promotion_code": first_time.id}],
        )
