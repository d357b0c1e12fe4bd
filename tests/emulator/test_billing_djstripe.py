"""dj-stripe 2.11 accepts the billing engine's objects (sync_from_stripe_data).

dj-stripe re-fetches related objects with its own `expand[]` and API
version; the emulator must answer those calls too.
"""

from __future__ import annotations

import json

import pytest
import stripe
from stripe_emulator import EmulatorServer

from .helpers import advance, clock_customer, price, ts

pytestmark = pytest.mark.django_db


def test_djstripe_syncs_subscription_invoices_and_payments(emulator: EmulatorServer) -> None:
    from djstripe import models as dj

    clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": price(1000).id}])
    advance(clock, ts(2026, 2, 1, 2))
    synced_sub = dj.Subscription.sync_from_stripe_data(stripe.Subscription.retrieve(sub.id))
    assert synced_sub.id == sub.id
    assert synced_sub.status == "active"
    invoices = stripe.Invoice.list(subscription=sub.id).data
    assert len(invoices) == 2
    for inv in invoices:
        synced = dj.Invoice.sync_from_stripe_data(inv)
        assert synced.id == inv.id
        assert synced.status == "paid"
    pis = stripe.PaymentIntent.list(customer=cus.id).data
    for pi in pis:
        assert dj.PaymentIntent.sync_from_stripe_data(pi).stripe_data["status"] == "succeeded"
    for ch in stripe.Charge.list(customer=cus.id).data:
        assert dj.Charge.sync_from_stripe_data(ch).stripe_data["amount"] == 1000
    item = stripe.SubscriptionItem.retrieve(sub["items"].data[0].id)
    assert dj.SubscriptionItem.sync_from_stripe_data(item).id == item.id


def test_djstripe_syncs_proration_items_setup_intents_and_refunds(
    emulator: EmulatorServer,
) -> None:
    from djstripe import models as dj

    clock, cus, _pm = clock_customer()
    basic, pro = price(1000, name="Basic"), price(3000, name="Pro")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    advance(clock, ts(2026, 1, 11))
    stripe.Subscription.modify(sub.id, items=[{"id": sub["items"].data[0].id, "price": pro.id}])
    for ii in stripe.InvoiceItem.list(customer=cus.id).data:
        assert dj.InvoiceItem.sync_from_stripe_data(ii).id == ii.id
    seti = stripe.SetupIntent.create(customer=cus.id, payment_method="pm_card_visa", confirm=True)
    assert dj.SetupIntent.sync_from_stripe_data(seti).stripe_data["status"] == "succeeded"
    charge = stripe.Charge.list(customer=cus.id).data[0]
    refund = stripe.Refund.create(charge=charge.id, amount=300)
    assert dj.Refund.sync_from_stripe_data(refund).id == refund.id
    listed = stripe.Event.list(type="customer.subscription.updated", limit=1).data[0]
    # The raw JSON, as a webhook delivers it (to_dict() would hold Decimals).
    raw = stripe.Event.retrieve(listed.id).last_response
    assert raw is not None
    processed = dj.Event.process(data=json.loads(raw.body))
    assert processed.type == "customer.subscription.updated"
