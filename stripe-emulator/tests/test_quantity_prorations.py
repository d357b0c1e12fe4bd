"""Seat (quantity) changes billed as Stripe bills them, through the stock SDK.

Clock at 2026-01-01T00:00Z; a 4-seat subscription at 5.00 a seat (20.00 a
month). January has 31 days, so on Jan 16 12:00 exactly half of the period
is left: 4 -> 6 seats credits -10.00 (4 seats, half) and charges +15.00
(6 seats, half).
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import advance, clock_customer, event_types, invoices_of, price, ts

TIMES = "\u00d7"  # the multiplication sign in Stripe's "4 x Seat" line descriptions
HALF = ts(2026, 1, 16, 12)
FEB_1 = ts(2026, 2, 1)


def _seats(quantity: int = 4, card: str = "pm_card_visa") -> tuple[Any, Any, Any]:
    clock, cus, _pm = clock_customer(card=card)
    seat = price(500, name="Seat")
    sub = stripe.Subscription.create(
        customer=cus.id, items=[{"price": seat.id, "quantity": quantity}]
    )
    return clock, cus, sub


def _pending(cus: Any) -> list[Any]:
    items = stripe.InvoiceItem.list(customer=cus.id, pending=True).data
    return sorted(items, key=lambda ii: ii.amount)


def _item_id(sub: Any) -> str:
    return str(sub["items"].data[0].id)


def test_create_prorations_lines_as_stripe_makes_them(emulator: EmulatorServer) -> None:
    """docs.stripe.com/billing/subscriptions/prorations

    "How prorations work": unused-time credit, remaining-time debit, the `proration` property.
    """
    clock, cus, sub = _seats()
    first = stripe.Invoice.retrieve(str(sub.latest_invoice))
    advance(clock, HALF)
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 6}])
    credit, debit = _pending(cus)
    assert (credit.amount, debit.amount) == (-1000, 1500)
    assert credit.description == f"Unused time on 4 {TIMES} Seat after 16 Jan 2026"
    assert debit.description == f"Remaining time on 6 {TIMES} Seat after 16 Jan 2026"
    assert (credit.quantity, debit.quantity) == (4, 6)
    assert credit.proration
    assert debit.proration
    for ii in (credit, debit):
        assert (ii.period.start, ii.period.end) == (HALF, FEB_1)
        assert ii.parent.subscription_details.subscription == sub.id
        assert ii.parent.subscription_details.subscription_item == _item_id(sub)
    # The credit points at the line of the invoice that billed the 4 seats.
    credited = credit.proration_details.credited_items
    assert credited.type == "invoice_line_items"
    assert credited.invoice_line_item_details.invoice == first.id
    assert credited.invoice_line_item_details.invoice_line_items == [first.lines.data[0].id]
    assert debit.proration_details.credited_items is None
    # Nothing is billed now; the next invoice carries both lines.
    assert len(invoices_of(sub.id)) == 1
    advance(clock, FEB_1 + 2 * 3600)
    renewal = invoices_of(sub.id)[-1]
    assert sorted(line.amount for line in renewal.lines.data) == [-1000, 1500, 3000]
    assert renewal.amount_paid == 3500
    line = next(ln for ln in renewal.lines.data if ln.amount == -1000).to_dict()
    details = line["parent"]["invoice_item_details"]
    assert details["proration"] is True
    assert details["proration_details"]["credited_items"] == {
        "invoice": first.id,
        "invoice_line_items": [first.lines.data[0].id],
    }


def test_quantity_one_reads_without_a_count(emulator: EmulatorServer) -> None:
    """gist.github.com/matthewarkin/27bcfdf622eb91d3508ea082d0ad50b8

    A Stripe API response's line: "Unused time on monthly widgets after 03 Mar 2017" (quantity
    1: no count; the day in two digits). Stripe's docs show no line wording for this.
    """
    clock, cus, sub = _seats(quantity=1)
    advance(clock, ts(2026, 1, 5))
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 2}])
    credit, debit = _pending(cus)
    assert credit.description == "Unused time on Seat after 05 Jan 2026"
    assert debit.description == f"Remaining time on 2 {TIMES} Seat after 05 Jan 2026"


def test_second_change_credits_the_pending_debit(emulator: EmulatorServer) -> None:
    """docs.stripe.com/changelog/dahlia/2026-05-27/invoice-item-proration-credited-items

    `type=invoice_item` names a pending debit.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 6}])
    first_debit = _pending(cus)[-1]
    advance(clock, ts(2026, 1, 24, 6))  # a quarter of January left
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 5}])
    newest = stripe.InvoiceItem.list(customer=cus.id, limit=2).data
    credit = next(ii for ii in newest if ii.amount < 0).to_dict()
    assert credit["amount"] == -750  # 6 seats x 5.00 x 1/4
    assert credit["proration_details"]["credited_items"] == {
        "invoice_item": first_debit.id,
        "invoice_line_item_details": None,
        "type": "invoice_item",
    }


def test_subscription_item_endpoint_prorates_the_same(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscription_items/update

    `quantity`, `proration_behavior`, `proration_date`.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    item = stripe.SubscriptionItem.modify(_item_id(sub), quantity=6)
    assert item.quantity == 6
    assert [ii.amount for ii in _pending(cus)] == [-1000, 1500]
    # always_invoice from the item endpoint: the pending lines and the new
    # ones (6 -> 8 seats: -15.00 + 20.00) go on an invoice paid at once.
    stripe.SubscriptionItem.modify(_item_id(sub), quantity=8, proration_behavior="always_invoice")
    inv = stripe.Invoice.retrieve(str(stripe.Subscription.retrieve(sub.id).latest_invoice))
    assert (inv.billing_reason, inv.status) == ("subscription_update", "paid")
    assert inv.amount_paid == 1000
    assert _pending(cus) == []


def test_none_changes_the_quantity_without_lines(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscriptions/update

    `proration_behavior=none`: "Disable creating prorations in this request."
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    stripe.Subscription.modify(
        sub.id, items=[{"id": _item_id(sub), "quantity": 6}], proration_behavior="none"
    )
    assert _pending(cus) == []
    assert "invoiceitem.created" not in event_types()
    advance(clock, FEB_1 + 2 * 3600)
    assert invoices_of(sub.id)[-1].amount_paid == 3000


def test_proration_date_prorates_from_that_moment(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscriptions/update

    `proration_date`: prorations calculated as though updated at that time.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    jan_11 = ts(2026, 1, 11)  # 21 of 31 days left
    stripe.SubscriptionItem.modify(_item_id(sub), quantity=6, proration_date=jan_11)
    credit, debit = _pending(cus)
    # 2000 x 21/31 = 1354.84 and 3000 x 21/31 = 2032.26, rounded half up.
    assert (credit.amount, debit.amount) == (-1355, 2032)
    assert (credit.period.start, credit.period.end) == (jan_11, FEB_1)
    assert credit.description == f"Unused time on 4 {TIMES} Seat after 11 Jan 2026"


def test_preview_shows_the_lines_the_update_makes(emulator: EmulatorServer) -> None:
    """docs.stripe.com/billing/subscriptions/prorations

    "Preview a proration"; `proration_date` applies "exactly the same prorations that were
    previewed" (API reference, subscriptions/update).
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    when = ts(2026, 1, 20)
    preview = stripe.Invoice.create_preview(
        subscription=sub.id,
        subscription_details={
            "items": [{"id": _item_id(sub), "quantity": 6}],
            "proration_date": when,
        },
    )
    previewed = sorted(
        (line.amount, line.description) for line in preview.lines.data if line.amount != 3000
    )
    stripe.Subscription.modify(
        sub.id, items=[{"id": _item_id(sub), "quantity": 6}], proration_date=when
    )
    made = sorted((ii.amount, ii.description) for ii in _pending(cus))
    assert previewed == made
    assert [a for a, _d in made] == [-774, 1161]  # 2000 / 3000 x 12/31
    assert preview.total == -774 + 1161 + 3000


def test_always_invoice_bills_and_pays_at_once(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscriptions/update

    `proration_behavior=always_invoice`: "Always invoice immediately for prorations."
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    since = HALF
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": _item_id(sub), "quantity": 6}],
        proration_behavior="always_invoice",
    )
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.billing_reason, inv.status, inv.amount_paid) == ("subscription_update", "paid", 500)
    assert sorted(line.amount for line in inv.lines.data) == [-1000, 1500]
    assert all(
        line.to_dict()["parent"]["invoice_item_details"]["proration"] for line in inv.lines.data
    )
    assert _pending(cus) == []
    types = event_types(since=since, customer=cus.id)
    order = [
        t
        for t in types
        if t
        in (
            "customer.subscription.updated",
            "invoiceitem.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
        )
    ]
    assert order == [
        "invoiceitem.created",
        "invoiceitem.created",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
    ]
    updated = stripe.Event.list(type="customer.subscription.updated", limit=1).data[0]
    previous = updated.to_dict()["data"]["previous_attributes"]
    assert previous["items"]["data"][0]["quantity"] == 4
    assert updated.data.object["items"]["data"][0]["quantity"] == 6


def test_always_invoice_decrease_credits_the_customer_balance(emulator: EmulatorServer) -> None:
    """docs.stripe.com/billing/customer/balance

    A negative invoice total becomes a credit on the customer's balance, applied to the next
    invoice.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": _item_id(sub), "quantity": 2}],
        proration_behavior="always_invoice",
    )
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.total, inv.amount_due, inv.status) == (-500, 0, "paid")
    assert inv.ending_balance == -500
    assert stripe.Customer.retrieve(cus.id).balance == -500
    txns = stripe.Customer.list_balance_transactions(cus.id).data
    assert [(t.amount, t.type, t.invoice) for t in txns] == [(-500, "applied_to_invoice", inv.id)]
    advance(clock, FEB_1 + 2 * 3600)
    renewal = invoices_of(sub.id)[-1]
    assert (renewal.total, renewal.amount_paid) == (1000, 500)
    assert stripe.Customer.retrieve(cus.id).balance == 0


def test_create_prorations_decrease_reduces_the_next_invoice(emulator: EmulatorServer) -> None:
    """docs.stripe.com/billing/subscriptions/prorations

    "Negative prorations aren't automatically refunded": the credit lands on the next invoice.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 3}])
    assert [ii.amount for ii in _pending(cus)] == [-1000, 750]
    advance(clock, FEB_1 + 2 * 3600)
    renewal = invoices_of(sub.id)[-1]
    assert (renewal.total, renewal.amount_paid) == (1500 - 250, 1250)


def test_always_invoice_with_a_failing_card_allow_incomplete(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscriptions/update

    `payment_behavior=allow_incomplete`: past_due when the payment fails.
    """
    clock, cus, sub = _seats()
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=failing.id)
    advance(clock, HALF)
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": _item_id(sub), "quantity": 6}],
        proration_behavior="always_invoice",
    )
    assert sub.status == "past_due"
    assert sub["items"].data[0].quantity == 6
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.amount_remaining, inv.attempt_count) == ("open", 500, 1)


def test_always_invoice_with_a_failing_card_error_if_incomplete(
    emulator: EmulatorServer,
) -> None:
    """docs.stripe.com/api/subscriptions/update

    `error_if_incomplete`: a 402 and the subscription is not updated.
    """
    clock, cus, sub = _seats()
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    stripe.Subscription.modify(sub.id, default_payment_method=failing.id)
    advance(clock, HALF)
    with pytest.raises(stripe.CardError) as err:
        stripe.Subscription.modify(
            sub.id,
            items=[{"id": _item_id(sub), "quantity": 6}],
            proration_behavior="always_invoice",
            payment_behavior="error_if_incomplete",
        )
    assert err.value.http_status == 402
    sub = stripe.Subscription.retrieve(sub.id)
    assert (sub.status, sub["items"].data[0].quantity) == ("active", 4)
    assert stripe.InvoiceItem.list(customer=cus.id).data == []
    assert len(invoices_of(sub.id)) == 1


def test_always_invoice_default_incomplete_awaits_confirmation(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/subscriptions/update

    `default_incomplete`: past_due, awaiting explicit confirmation of the invoice's
    PaymentIntent.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": _item_id(sub), "quantity": 6}],
        proration_behavior="always_invoice",
        payment_behavior="default_incomplete",
    )
    assert sub.status == "past_due"
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice), expand=["payments"])
    assert (inv.status, inv.attempt_count, inv.amount_remaining) == ("open", 0, 500)
    assert [c.amount for c in stripe.Charge.list(customer=cus.id).data] == [2000]  # not tried
    pi_id = inv.to_dict()["payments"]["data"][0]["payment"]["payment_intent"]
    assert stripe.PaymentIntent.retrieve(pi_id).status == "requires_confirmation"
    stripe.PaymentIntent.confirm(pi_id)
    assert stripe.Invoice.retrieve(inv.id).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_idempotent_replay_returns_the_same_update(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/idempotent_requests

    The same key returns the saved result, nothing is done twice.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    params: dict[str, Any] = {
        "items": [{"id": _item_id(sub), "quantity": 6}],
        "proration_behavior": "always_invoice",
        "idempotency_key": "seats-4-to-6",
    }
    first = stripe.Subscription.modify(sub.id, **params)
    again = stripe.Subscription.modify(sub.id, **params)
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.to_dict() == first.to_dict()
    assert len(invoices_of(sub.id)) == 2
    assert len(stripe.InvoiceItem.list(customer=cus.id).data) == 2
    item = stripe.SubscriptionItem.modify(_item_id(sub), quantity=7, idempotency_key="to-7")
    replay = stripe.SubscriptionItem.modify(_item_id(sub), quantity=7, idempotency_key="to-7")
    assert replay.last_response is not None
    assert replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert replay.to_dict() == item.to_dict()
    assert len(stripe.InvoiceItem.list(customer=cus.id).data) == 4


def test_quantity_zero_credits_the_unused_seats(emulator: EmulatorServer) -> None:
    """github.com/stripe/openapi/issues/93

    Subscription items accept quantity 0 through /v1/subscription_items.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    item = stripe.SubscriptionItem.modify(_item_id(sub), quantity=0)
    assert item.quantity == 0
    assert [ii.amount for ii in _pending(cus)] == [-1000]
    advance(clock, FEB_1 + 2 * 3600)
    renewal = invoices_of(sub.id)[-1]
    assert renewal.total == -1000
    assert stripe.Customer.retrieve(cus.id).balance == -1000


@pytest.mark.parametrize("endpoint", ["subscription", "subscription_item"])
def test_negative_quantity_is_refused(emulator: EmulatorServer, endpoint: str) -> None:
    """github.com/stripe/openapi/issues/93

    Stripe's parameter_invalid_integer answer, "This value must be greater than or equal to N.".
    """
    _clock, cus, sub = _seats()

    def change() -> None:
        if endpoint == "subscription":
            stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": -1}])
        else:
            stripe.SubscriptionItem.modify(_item_id(sub), quantity=-1)

    with pytest.raises(stripe.InvalidRequestError) as err:
        change()
    assert err.value.http_status == 400
    assert err.value.code == "parameter_invalid_integer"
    assert str(err.value.user_message) == "This value must be greater than or equal to 0."
    assert err.value.param == ("items[0][quantity]" if endpoint == "subscription" else "quantity")
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 4
    assert stripe.InvoiceItem.list(customer=cus.id).data == []


def _seat_portal(proration: str, *, minimum: int = 2, maximum: int = 8) -> tuple[Any, Any, str]:
    """A 4-seat subscription at half period and a portal session whose configuration
    lets the customer pick 2-8 seats of the same price."""
    clock, cus, sub = _seats()
    seat = sub["items"].data[0].price
    config = stripe.billing_portal.Configuration.create(
        features={
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["quantity"],
                "proration_behavior": proration,
                "products": [
                    {
                        "product": str(seat.product),
                        "prices": [seat.id],
                        "adjustable_quantity": {
                            "enabled": True,
                            "minimum": minimum,
                            "maximum": maximum,
                        },
                    }
                ],
            }
        }
    )
    advance(clock, HALF)
    session = stripe.billing_portal.Session.create(
        customer=cus.id, configuration=config.id, return_url="https://app.example/billing"
    )
    return cus, sub, str(session.url)


def test_portal_seat_change_within_the_configured_range(emulator: EmulatorServer) -> None:
    """docs.stripe.com/changelog/basil/2025-07-30/customer-portal-subscription-update-quantity-limits

    `adjustable_quantity {enabled, minimum, maximum}` bounds what the customer may pick.
    """
    from ._browser import Browser

    cus, sub, url = _seat_portal("create_prorations")
    browser = Browser(emulator.url)
    choose = browser.get(url + f"/subscriptions/{sub.id}/update")
    assert 'min="2" max="8"' in choose.text
    action = choose.form_action("Continue")
    seat = sub["items"].data[0].price.id
    for wrong, message in (("1", "between 2 and 8"), ("9", "between 2 and 8"), ("x", "whole")):
        page = browser.follow(browser.get(f"{action}?price={seat}&quantity={wrong}"))
        assert message in page.visible_text()
    confirm = browser.get(f"{action}?price={seat}&quantity=6")
    assert "Seat x 6" in confirm.visible_text()
    # A forged POST outside the range is refused on the server too.
    forged = browser.submit(confirm, "Confirm", {"quantity": "12"})
    assert "between 2 and 8" in browser.follow(forged).visible_text()
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 4
    done = browser.submit(confirm, "Confirm")
    assert done.status == 303
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 6
    credit, debit = _pending(cus)
    assert (credit.amount, debit.amount) == (-1000, 1500)
    assert debit.description == f"Remaining time on 6 {TIMES} Seat after 16 Jan 2026"
    updated = stripe.Event.list(type="customer.subscription.updated", limit=1).data[0]
    as_dict = updated.to_dict()
    assert as_dict["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 4
    assert as_dict["request"]["id"] is None  # a portal action, not an API request
    created = stripe.Event.list(type="invoiceitem.created", limit=5).data
    assert sorted(e.data.object.amount for e in created) == [-1000, 1500]


def test_portal_seat_change_with_always_invoice(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/customer_portal/configurations/create

    `features.subscription_update.proration_behavior` applies to the portal's changes.
    """
    from ._browser import Browser

    cus, sub, url = _seat_portal("always_invoice")
    browser = Browser(emulator.url)
    choose = browser.get(url + f"/subscriptions/{sub.id}/update")
    seat = sub["items"].data[0].price.id
    confirm = browser.get(f"{choose.form_action('Continue')}?price={seat}&quantity=2")
    # 2 seats fewer for half of January: the credit is kept on the balance.
    assert "$5.00" in confirm.visible_text()
    browser.submit(confirm, "Confirm")
    sub = stripe.Subscription.retrieve(sub.id)
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.billing_reason, inv.status, inv.total) == ("subscription_update", "paid", -500)
    assert stripe.Customer.retrieve(cus.id).balance == -500
    assert _pending(cus) == []


def test_preview_always_invoice_is_the_invoice_the_update_makes(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/invoices/create_preview

    `subscription_details[proration_behavior]`: with always_invoice the preview is the invoice
    made at once.
    """
    clock, _cus, sub = _seats()
    advance(clock, HALF)
    change = [{"id": _item_id(sub), "quantity": 6}]
    preview = stripe.Invoice.create_preview(
        subscription=sub.id,
        subscription_details={
            "items": change,
            "proration_behavior": "always_invoice",
            "proration_date": HALF,
        },
    )
    sub = stripe.Subscription.modify(
        sub.id, items=change, proration_behavior="always_invoice", proration_date=HALF
    )
    made = stripe.Invoice.retrieve(str(sub.latest_invoice))

    def lines(inv: Any) -> list[tuple[int, str]]:
        return sorted((line.amount, line.description) for line in inv.lines.data)

    assert lines(preview) == lines(made)
    assert (preview.total, made.total, made.amount_paid) == (500, 500, 500)


def test_preview_refuses_a_negative_quantity(emulator: EmulatorServer) -> None:
    """github.com/stripe/openapi/issues/93

    The parameter_invalid_integer answer names the request's own parameter.
    """
    _clock, _cus, sub = _seats()
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.create_preview(
            subscription=sub.id,
            subscription_details={"items": [{"id": _item_id(sub), "quantity": -2}]},
        )
    assert err.value.param == "subscription_details[items][0][quantity]"
    assert err.value.code == "parameter_invalid_integer"


def test_invoice_upcoming_event_carries_the_pending_prorations(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/events/types

    `invoice.upcoming`: the invoice as it would be, days before it is made.
    """
    clock, _cus, sub = _seats()
    advance(clock, HALF)
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 6}])
    advance(clock, FEB_1 - 3 * 86400)
    upcoming = stripe.Event.list(type="invoice.upcoming", limit=1).data[0].data.object
    assert sorted(line.amount for line in upcoming.lines.data) == [-1000, 1500, 3000]
    assert upcoming.total == 3500


@pytest.mark.parametrize(
    ("mode", "eight_seats"),
    [
        ("graduated", 5 * 500 + 3 * 400),  # each tier's seats at that tier's price
        ("volume", 8 * 400),  # every seat at the price of the tier 8 falls in
    ],
)
def test_tiered_seat_price_prorates_per_quantity(
    emulator: EmulatorServer, mode: str, eight_seats: int
) -> None:
    """docs.stripe.com/products-prices/pricing-models

    Tiered pricing: `graduated` and `volume` tiers priced by quantity.
    """
    clock, cus, _pm = clock_customer()
    tiered = stripe.Price.create(
        product=stripe.Product.create(name="Seat").id,
        currency="usd",
        recurring={"interval": "month"},
        billing_scheme="tiered",
        tiers_mode=mode,
        tiers=[{"up_to": 5, "unit_amount": 500}, {"up_to": "inf", "unit_amount": 400}],
    )
    sub = stripe.Subscription.create(customer=cus.id, items=[{"price": tiered.id, "quantity": 4}])
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).amount_paid == 2000
    advance(clock, HALF)
    change = {"items": [{"id": _item_id(sub), "quantity": 8}], "proration_date": HALF}
    preview = stripe.Invoice.create_preview(subscription=sub.id, subscription_details=change)
    stripe.Subscription.modify(sub.id, **change)
    made = [ii.amount for ii in _pending(cus)]
    assert made == [-1000, eight_seats // 2]
    assert sorted(line.amount for line in preview.lines.data) == sorted([*made, eight_seats])
    advance(clock, FEB_1 + 2 * 3600)
    assert invoices_of(sub.id)[-1].amount_paid == eight_seats - 1000 + eight_seats // 2


def test_preview_credit_points_at_the_debit_on_the_same_preview(emulator: EmulatorServer) -> None:
    """docs.stripe.com/api/invoices/create_preview

    Lines of a preview reference its own temporary line ids, as credited_items does.
    """
    clock, _cus, sub = _seats()
    advance(clock, HALF)
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 6}])
    preview = stripe.Invoice.create_preview(
        subscription=sub.id,
        subscription_details={"items": [{"id": _item_id(sub), "quantity": 5}]},
    )
    lines = [line.to_dict() for line in preview.lines.data]
    debit = next(ln for ln in lines if ln["amount"] == 1500)
    credit = next(ln for ln in lines if ln["amount"] == -1500)  # 6 seats, half of January
    assert credit["parent"]["invoice_item_details"]["proration_details"]["credited_items"] == {
        "invoice": preview.id,
        "invoice_line_items": [debit["id"]],
    }


def test_proration_date_before_the_period_is_refused(emulator: EmulatorServer) -> None:
    """github.com/bitwarden/server/pull/4118

    Stripe refuses a proration_date before the current billing period began.
    """
    clock, cus, sub = _seats()
    advance(clock, HALF)
    before = ts(2025, 12, 31)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionItem.modify(_item_id(sub), quantity=6, proration_date=before)
    assert err.value.param == "proration_date"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.create_preview(
            subscription=sub.id,
            subscription_details={
                "items": [{"id": _item_id(sub), "quantity": 6}],
                "proration_date": before,
            },
        )
    assert err.value.param == "subscription_details[proration_date]"
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 4
    assert stripe.InvoiceItem.list(customer=cus.id).data == []


def test_credit_after_a_renewal_points_at_the_renewal_line(emulator: EmulatorServer) -> None:
    """docs.stripe.com/changelog/dahlia/2026-05-27/invoice-item-proration-credited-items

    The credited debit is the line that billed the current period, not an older one.
    """
    clock, cus, sub = _seats()
    advance(clock, FEB_1 + 2 * 3600)
    renewal = invoices_of(sub.id)[-1]
    advance(clock, ts(2026, 2, 15))  # 14 of 28 February days left
    stripe.Subscription.modify(sub.id, items=[{"id": _item_id(sub), "quantity": 2}])
    credit = _pending(cus)[0].to_dict()
    assert credit["amount"] == -1000
    details = credit["proration_details"]["credited_items"]["invoice_line_item_details"]
    assert details == {"invoice": renewal.id, "invoice_line_items": [renewal.lines.data[0].id]}
