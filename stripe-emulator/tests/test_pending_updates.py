"""Pending updates: `payment_behavior=pending_if_incomplete` (stock SDK over HTTP).

docs.stripe.com/billing/subscriptions/pending-updates and
.../pending-updates-reference. A monthly $10 plan from 2026-01-01; on Jan 11
(21 of 31 days left) an upgrade to $30 with `always_invoice` bills
-677 (10.00 x 21/31) + 2032 (30.00 x 21/31) = 1355 at once.
"""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer

from ._browser import Browser
from .billing_helpers import DAY, HOUR, T0, advance, clock_customer, helper, price, ts

UPGRADE_AT = T0 + 10 * DAY


def _events(kind: str, sub_id: str) -> list[stripe.Event]:
    found = list(stripe.Event.list(type=kind, limit=100).auto_paging_iter())
    return [e for e in reversed(found) if e.data.object.id == sub_id]


def _subscribed(card: str) -> tuple[stripe.test_helpers.TestClock, stripe.Subscription, str]:
    """A $10/month subscription paid with 4242, then `card` as its payment method."""
    clock, cus, _pm = clock_customer()
    basic = price(1000, name="Basic")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    assert sub.status == "active"
    pm = stripe.PaymentMethod.attach(card, customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=pm.id)
    advance(clock, UPGRADE_AT)
    return clock, sub, price(3000, name="Pro").id


def _upgrade(sub: stripe.Subscription, pro: str) -> stripe.Subscription:
    return stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "price": pro}],
        proration_behavior="always_invoice",
        payment_behavior="pending_if_incomplete",
    )


def test_declined_upgrade_is_held_then_applied_when_paid(emulator: EmulatorServer) -> None:
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    basic = sub["items"].data[0].price.id
    held = _upgrade(sub, pro)

    assert held.status == "active"
    assert held["items"].data[0].price.id == basic  # keeps its old items meanwhile
    pending = held.pending_update
    assert pending is not None
    assert pending.expires_at == UPGRADE_AT + 23 * HOUR
    assert pending.subscription_items is not None
    assert [i.price.id for i in pending.subscription_items] == [pro]
    assert pending.billing_cycle_anchor is None
    assert pending.trial_end is None
    inv = stripe.Invoice.retrieve(str(held.latest_invoice))
    assert inv.status == "open"
    assert inv.billing_reason == "subscription_update"
    assert inv.amount_due == 1355
    assert stripe.SubscriptionItem.retrieve(sub["items"].data[0].id).price.id == basic

    updates = _events("customer.subscription.updated", sub.id)
    # activation, the default payment method, the held update: none shows the new plan
    assert len(updates) == 3
    assert {u.data.object["items"].data[0].price.id for u in updates} == {basic}
    assert updates[-1].data.previous_attributes is not None
    previous = updates[-1].data.previous_attributes.to_dict()
    assert previous["pending_update"] is None
    assert "items" not in previous
    assert "latest_invoice" in previous
    assert _events("customer.subscription.pending_update_applied", sub.id) == []

    # Another failed attempt changes nothing ...
    with pytest.raises(stripe.CardError):
        stripe.Invoice.pay(inv.id)
    again = stripe.Subscription.retrieve(sub.id)
    assert again.status == "active"
    assert again.pending_update is not None

    # ... paying with a good card applies the update.
    visa = stripe.PaymentMethod.attach("pm_card_visa", customer=str(sub.customer))
    assert stripe.Invoice.pay(inv.id, payment_method=visa.id).status == "paid"
    applied = stripe.Subscription.retrieve(sub.id)
    assert applied.pending_update is None
    assert applied["items"].data[0].price.id == pro
    assert applied.status == "active"
    assert stripe.SubscriptionItem.retrieve(applied["items"].data[0].id).price.id == pro
    [applied_event] = _events("customer.subscription.pending_update_applied", sub.id)
    assert applied_event.data.object["items"]["data"][0]["price"]["id"] == pro
    last_update = _events("customer.subscription.updated", sub.id)[-1]
    assert last_update.data.previous_attributes is not None
    assert "items" in last_update.data.previous_attributes.to_dict()


def test_unpaid_pending_update_expires_after_23_hours(emulator: EmulatorServer) -> None:
    clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    held = _upgrade(sub, pro)
    inv_id = str(held.latest_invoice)
    advance(clock, UPGRADE_AT + 22 * HOUR)
    assert stripe.Subscription.retrieve(sub.id).pending_update is not None
    advance(clock, UPGRADE_AT + 24 * HOUR)

    after = stripe.Subscription.retrieve(sub.id)
    assert after.pending_update is None
    assert after.status == "active"
    assert after["items"].data[0].price.id != pro
    assert stripe.Invoice.retrieve(inv_id).status == "void"
    [expired] = _events("customer.subscription.pending_update_expired", sub.id)
    assert expired.created == UPGRADE_AT + 23 * HOUR
    assert expired.data.object["pending_update"] is None
    voided = [e for e in stripe.Event.list(type="invoice.voided") if e.data.object.id == inv_id]
    assert len(voided) == 1


def test_3ds_upgrade_applies_after_authentication(emulator: EmulatorServer) -> None:
    """4000 0025 0000 3155 attached through the API (never set up) needs 3-D
    Secure for the upgrade's off-session charge; completing it applies the update."""
    _clock, sub, pro = _subscribed("pm_card_authenticationRequiredOnSetup")
    held = _upgrade(sub, pro)
    assert held.pending_update is not None
    inv = stripe.Invoice.retrieve(str(held.latest_invoice), expand=["payments"])
    assert inv.status == "open"
    assert inv.payments is not None
    pi = stripe.PaymentIntent.retrieve(str(inv.payments.data[0].payment.payment_intent))
    assert pi.status == "requires_action"
    assert pi.next_action is not None
    assert pi.next_action.redirect_to_url is not None
    assert str(pi.next_action.redirect_to_url.url).endswith(f"/3ds/{pi.id}")

    # What "Complete authentication" on the /3ds page does.
    helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi.id}/authenticate",
        {"succeed": True},
    )
    assert stripe.Invoice.retrieve(inv.id).status == "paid"
    applied = stripe.Subscription.retrieve(sub.id)
    assert applied.pending_update is None
    assert applied["items"].data[0].price.id == pro
    assert len(_events("customer.subscription.pending_update_applied", sub.id)) == 1


def test_3ds_failed_authentication_keeps_old_plan(emulator: EmulatorServer) -> None:
    clock, sub, pro = _subscribed("pm_card_authenticationRequiredOnSetup")
    held = _upgrade(sub, pro)
    inv = stripe.Invoice.retrieve(str(held.latest_invoice), expand=["payments"])
    assert inv.payments is not None
    pi_id = str(inv.payments.data[0].payment.payment_intent)
    helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi_id}/authenticate",
        {"succeed": False},
    )
    still = stripe.Subscription.retrieve(sub.id)
    assert still.pending_update is not None
    assert still["items"].data[0].price.id != pro
    advance(clock, UPGRADE_AT + DAY)
    assert stripe.Subscription.retrieve(sub.id).pending_update is None
    assert stripe.Invoice.retrieve(inv.id).status == "void"


def test_paid_upgrade_applies_at_once(emulator: EmulatorServer) -> None:
    _clock, sub, pro = _subscribed("pm_card_visa")
    done = _upgrade(sub, pro)
    assert done.pending_update is None
    assert done["items"].data[0].price.id == pro
    assert stripe.Invoice.retrieve(str(done.latest_invoice)).status == "paid"
    assert _events("customer.subscription.pending_update_applied", sub.id) == []


def test_update_without_invoice_applies_at_once(emulator: EmulatorServer) -> None:
    """`create_prorations` makes no invoice, so there is nothing to wait for."""
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    done = stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "price": pro}],
        payment_behavior="pending_if_incomplete",
    )
    assert done.pending_update is None
    assert done["items"].data[0].price.id == pro


def test_subscription_item_update_is_held(emulator: EmulatorServer) -> None:
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    item_id = sub["items"].data[0].id
    item = stripe.SubscriptionItem.modify(
        item_id,
        price=pro,
        proration_behavior="always_invoice",
        payment_behavior="pending_if_incomplete",
    )
    assert item.price.id != pro  # the item keeps its price until the invoice is paid
    held = stripe.Subscription.retrieve(sub.id)
    assert held.pending_update is not None
    assert held.pending_update.subscription_items is not None
    assert held.pending_update.subscription_items[0].price.id == pro


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"description": "Pro plan"}, "description"),
        ({"cancel_at_period_end": True}, "cancel_at_period_end"),
        ({"default_payment_method": "pm_card_visa"}, "default_payment_method"),
    ],
)
def test_unsupported_parameters_are_refused(
    emulator: EmulatorServer, extra: dict[str, object], param: str
) -> None:
    _clock, sub, pro = _subscribed("pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Subscription.modify(
            sub.id,
            items=[{"id": sub["items"].data[0].id, "price": pro}],
            payment_behavior="pending_if_incomplete",
            **extra,
        )
    assert exc.value.http_status == 400
    assert exc.value.error is not None
    assert exc.value.error.type == "invalid_request_error"
    assert exc.value.param == param
    assert "pending_if_incomplete" in str(exc.value.user_message)
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].price.id != pro


def test_unsupported_item_parameters_are_refused(emulator: EmulatorServer) -> None:
    _clock, sub, pro = _subscribed("pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.SubscriptionItem.modify(
            sub["items"].data[0].id,
            price=pro,
            tax_rates=["txr_unknown"],
            payment_behavior="pending_if_incomplete",
        )
    assert exc.value.param == "tax_rates"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Subscription.modify(
            sub.id,
            items=[{"id": sub["items"].data[0].id, "price": pro, "tax_rates": ["txr_unknown"]}],
            payment_behavior="pending_if_incomplete",
        )
    assert exc.value.param == "items[0][tax_rates]"


def test_send_invoice_subscriptions_refuse_pending_updates(emulator: EmulatorServer) -> None:
    _clock, cus, _pm = clock_customer()
    sub = stripe.Subscription.create(
        customer=cus.id,
        items=[{"price": price(1000).id}],
        collection_method="send_invoice",
        days_until_due=30,
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Subscription.modify(
            sub.id,
            items=[{"id": sub["items"].data[0].id, "price": price(3000).id}],
            payment_behavior="pending_if_incomplete",
        )
    assert exc.value.param == "payment_behavior"


def test_hosted_invoice_page_with_3155_applies_the_update(emulator: EmulatorServer) -> None:
    """The customer pays the held invoice on its hosted page with 4000 0025 0000 3155,
    passes 3-D Secure, and the upgrade takes effect."""
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    held = _upgrade(sub, pro)
    inv = stripe.Invoice.retrieve(str(held.latest_invoice))
    browser = Browser(emulator.url)
    page = browser.get(str(inv.hosted_invoice_url))
    resp = browser.submit(page, "Pay $13.55", {"card_number": "4000002500003155"})
    assert resp.status == 303
    assert resp.location.startswith("/3ds/pi_")
    done = browser.submit(browser.follow(resp), "Complete authentication")
    assert done.location == f"/invoices/{inv.id}"
    assert stripe.Invoice.retrieve(inv.id).status == "paid"
    applied = stripe.Subscription.retrieve(sub.id)
    assert applied.pending_update is None
    assert applied["items"].data[0].price.id == pro


def test_payment_intent_confirm_applies_the_update(emulator: EmulatorServer) -> None:
    """Confirming the held invoice's PaymentIntent with 3155 on-session needs
    3-D Secure; once authenticated the invoice is paid and the update applied."""
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    held = _upgrade(sub, pro)
    inv = stripe.Invoice.retrieve(str(held.latest_invoice), expand=["payments"])
    assert inv.payments is not None
    pi_id = str(inv.payments.data[0].payment.payment_intent)
    card = stripe.PaymentMethod.attach(
        "pm_card_authenticationRequiredOnSetup", customer=str(sub.customer)
    )
    pi = stripe.PaymentIntent.confirm(
        pi_id, payment_method=card.id, return_url="https://app.test/done"
    )
    assert pi.status == "requires_action"
    assert stripe.Subscription.retrieve(sub.id).pending_update is not None
    helper(
        emulator,
        "POST",
        f"/_emulator/billing/payment_intents/{pi_id}/authenticate",
        {"succeed": True},
    )
    assert stripe.PaymentIntent.retrieve(pi_id).status == "succeeded"
    applied = stripe.Subscription.retrieve(sub.id)
    assert applied.pending_update is None
    assert applied["items"].data[0].price.id == pro


def test_metadata_and_discounts_wait_with_the_update(emulator: EmulatorServer) -> None:
    """Since 2026-05-27.dahlia `metadata` and `discounts` may go with
    pending_if_incomplete: held in pending_update, applied (metadata merged) when paid."""
    _clock, sub, pro = _subscribed("pm_card_chargeCustomerFail")
    stripe.Subscription.modify(sub.id, metadata={"team": "t1", "plan": "basic"})
    coupon = stripe.Coupon.create(percent_off=10, duration="forever")
    held = stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "price": pro}],
        proration_behavior="always_invoice",
        payment_behavior="pending_if_incomplete",
        metadata={"plan": "pro"},
        discounts=[{"coupon": coupon.id}],
    )
    assert held.metadata.to_dict() == {"team": "t1", "plan": "basic"}
    assert held.discounts == []
    assert held.pending_update is not None
    assert held.pending_update.metadata is not None
    assert held.pending_update.metadata.to_dict() == {"plan": "pro"}
    assert held.pending_update.discounts is not None
    assert len(held.pending_update.discounts) == 1
    visa = stripe.PaymentMethod.attach("pm_card_visa", customer=str(sub.customer))
    stripe.Invoice.pay(str(held.latest_invoice), payment_method=visa.id)
    applied = stripe.Subscription.retrieve(sub.id)
    assert applied.metadata.to_dict() == {"team": "t1", "plan": "pro"}
    assert len(applied.discounts) == 1
    assert applied["items"].data[0].price.id == pro


def test_expiry_is_capped_at_the_period_end(emulator: EmulatorServer) -> None:
    """Five hours before the renewal the update expires at the period end
    (before the renewal, which then bills the old plan)."""
    clock, cus, _pm = clock_customer()
    basic = price(1000, name="Basic")
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": basic.id}])
    card = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=card.id)
    renewal = ts(2026, 2, 1)
    advance(clock, renewal - 5 * HOUR)
    held = _upgrade(sub, price(3000, name="Pro").id)
    assert held.pending_update is not None
    assert held.pending_update.expires_at == renewal
    stripe.Subscription.modify(sub.id, default_payment_method=_pm)
    advance(clock, renewal + 2 * HOUR)
    after = stripe.Subscription.retrieve(sub.id)
    assert after.pending_update is None
    assert after["items"].data[0].price.id == basic.id
    assert after["items"].data[0].current_period_start == renewal
    cycle = stripe.Invoice.retrieve(str(after.latest_invoice))
    assert cycle.billing_reason == "subscription_cycle"
    assert cycle.amount_paid == 1000
    [expired] = _events("customer.subscription.pending_update_expired", sub.id)
    assert expired.created == renewal
