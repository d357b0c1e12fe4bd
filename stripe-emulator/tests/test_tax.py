"""Tax: Tax Rates, manual rates on invoices and subscriptions, automatic tax
(the emulator's rate table, README "Automatic tax"), Checkout address and tax
ID collection, all through the stock SDK."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

from ._browser import Browser
from .billing_helpers import DAY, T0, advance, clock_customer, invoices_of


def _taxed_price(amount: int, behavior: str = "exclusive", *, recurring: bool = True) -> Any:
    product = stripe.Product.create(name="Pro")
    extra: dict[str, Any] = {"recurring": {"interval": "month"}} if recurring else {}
    return stripe.Price.create(
        product=product.id, unit_amount=amount, currency="usd", tax_behavior=behavior, **extra
    )


def _customer(address: dict[str, str] | None, **extra: Any) -> stripe.Customer:
    params: dict[str, Any] = {"email": "tax@example.com", **extra}
    if address is not None:
        params["address"] = address
    customer = stripe.Customer.create(**params)
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    return customer


def _first_invoice(sub: stripe.Subscription) -> dict[str, Any]:
    return stripe.Invoice.retrieve(str(sub.latest_invoice)).to_dict()


def _events(kind: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in stripe.Event.list(type=kind, limit=100).data]


def test_tax_rate_create_retrieve_update_list(emulator: EmulatorServer) -> None:
    rate = stripe.TaxRate.create(
        display_name="VAT",
        percentage=20,
        inclusive=True,
        country="FR",
        jurisdiction="FR",
        tax_type="vat",
        metadata={"k": "v"},
    )
    assert rate.id.startswith("txr_")
    assert (rate.percentage, rate.inclusive, rate.active, rate.country) == (20.0, True, True, "FR")
    assert stripe.TaxRate.retrieve(rate.id).display_name == "VAT"
    updated = stripe.TaxRate.modify(rate.id, active=False, description="old")
    assert (updated.active, updated.description) == (False, "old")
    assert [r.id for r in stripe.TaxRate.list(active=False).data] == [rate.id]
    assert stripe.TaxRate.list(active=True).data == []
    created = _events("tax_rate.created")
    assert created[0]["data"]["object"]["id"] == rate.id
    changed = _events("tax_rate.updated")[0]["data"]
    assert changed["previous_attributes"] == {"active": True, "description": None}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.TaxRate.retrieve("txr_missing")
    assert missing.value.http_status == 404


def test_tax_rates_on_subscription_items_and_defaults(emulator: EmulatorServer) -> None:
    sales = stripe.TaxRate.create(display_name="Sales tax", percentage=10, inclusive=False)
    vat = stripe.TaxRate.create(display_name="VAT", percentage=25, inclusive=True)
    plan = _taxed_price(1000, "unspecified")
    addon = _taxed_price(1250, "unspecified")
    customer = _customer(None)
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": plan.id}, {"price": addon.id, "tax_rates": [vat.id]}],
        default_tax_rates=[sales.id],
    )
    assert [r.id for r in sub.default_tax_rates or []] == [sales.id]
    inv = _first_invoice(sub)
    lines = {ln["pricing"]["price_details"]["price"]: ln for ln in inv["lines"]["data"]}
    plan_tax = lines[plan.id]["taxes"]
    assert plan_tax == [
        {
            "amount": 100,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": sales.id},
            "taxability_reason": "not_available",
            "taxable_amount": 1000,
            "type": "tax_rate_details",
        }
    ]
    # 1250 including 25 %: 1000 taxable, 250 tax, already in the amount.
    assert [
        (t["amount"], t["taxable_amount"], t["tax_behavior"]) for t in lines[addon.id]["taxes"]
    ] == [(250, 1000, "inclusive")]
    assert inv["subtotal"] == 2250
    assert inv["subtotal_excluding_tax"] == 2000
    assert inv["total"] == 2350
    assert inv["total_excluding_tax"] == 2000
    assert inv["amount_paid"] == 2350
    assert sorted(t["amount"] for t in inv["total_taxes"]) == [100, 250]
    assert inv["status"] == "paid"


def test_tax_rates_on_invoice_and_invoice_items(emulator: EmulatorServer) -> None:
    default = stripe.TaxRate.create(display_name="GST", percentage=5, inclusive=False)
    special = stripe.TaxRate.create(display_name="Special", percentage=8.5, inclusive=False)
    customer = _customer(None)
    inv = stripe.Invoice.create(customer=customer.id, default_tax_rates=[default.id])
    stripe.InvoiceItem.create(customer=customer.id, invoice=inv.id, amount=2000, currency="usd")
    stripe.InvoiceItem.create(
        customer=customer.id, invoice=inv.id, amount=1000, currency="usd", tax_rates=[special.id]
    )
    inv = stripe.Invoice.retrieve(inv.id)
    data = inv.to_dict()
    taxes = sorted(
        (ln["amount"], t["amount"], t["tax_rate_details"]["tax_rate"])
        for ln in data["lines"]["data"]
        for t in ln["taxes"]
    )
    assert taxes == [(1000, 85, special.id), (2000, 100, default.id)]
    assert data["total"] == 3185
    assert data["total_excluding_tax"] == 3000
    assert [r["id"] for r in data["default_tax_rates"]] == [default.id]
    paid = stripe.Invoice.pay(inv.id)
    assert paid.amount_paid == 3185


def test_unknown_or_inactive_tax_rate_is_a_400(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000)
    customer = _customer(None)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe.Subscription.create(
            customer=customer.id, items=[{"price": plan.id}], default_tax_rates=["txr_nope"]
        )
    err = unknown.value
    assert err.http_status == 400
    assert err.code == "resource_missing"
    assert err.param == "default_tax_rates[0]"
    assert "No such tax rate: 'txr_nope'" in str(err.user_message)
    inactive = stripe.TaxRate.create(display_name="Old", percentage=5, inclusive=False)
    stripe.TaxRate.modify(inactive.id, active=False)
    with pytest.raises(stripe.InvalidRequestError) as off:
        stripe.InvoiceItem.create(
            customer=customer.id, amount=100, currency="usd", tax_rates=[inactive.id]
        )
    assert off.value.http_status == 400
    assert off.value.param == "tax_rates[0]"
    with pytest.raises(stripe.InvalidRequestError) as item_rate:
        stripe.Subscription.create(
            customer=customer.id, items=[{"price": plan.id, "tax_rates": ["txr_gone"]}]
        )
    assert item_rate.value.param == "items[0][tax_rates][0]"
    # Nothing was created by the refused requests.
    assert stripe.Subscription.list(customer=customer.id).data == []


def test_automatic_tax_us_customer_in_taxed_state(emulator: EmulatorServer) -> None:
    plan = _taxed_price(2000)
    customer = _customer(
        {
            "line1": "1 Market St",
            "city": "San Francisco",
            "state": "CA",
            "postal_code": "94105",
            "country": "US",
        }
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
    )
    assert sub.automatic_tax.enabled is True
    inv = _first_invoice(sub)
    assert inv["automatic_tax"]["status"] == "complete"
    assert inv["automatic_tax"]["enabled"] is True
    (tax,) = inv["total_taxes"]
    # The emulator's table: California 7.25 %.
    assert (tax["amount"], tax["taxability_reason"], tax["taxable_amount"]) == (
        145,
        "standard_rated",
        2000,
    )
    assert inv["total"] == 2145
    page = Browser(emulator.url).get(inv["hosted_invoice_url"]).visible_text()
    assert "Sales Tax - CA (7.25%)" in page
    assert inv["amount_paid"] == 2145
    rate = stripe.TaxRate.retrieve(tax["tax_rate_details"]["tax_rate"])
    assert (rate.state, rate.percentage, rate.active, rate.tax_type) == (
        "CA",
        7.25,
        False,
        "sales_tax",
    )
    # Automatic-tax rates are not listed, as on Stripe.
    assert stripe.TaxRate.list().data == []
    shown = stripe.Customer.retrieve(customer.id, expand=["tax"]).to_dict()["tax"]
    assert shown["automatic_tax"] == "supported"
    assert shown["location"] == {"country": "US", "source": "billing_address", "state": "CA"}


def test_automatic_tax_inclusive_price_keeps_the_total(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1190, "inclusive")
    customer = _customer(
        {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
    )
    inv = _first_invoice(sub)
    (tax,) = inv["total_taxes"]
    assert (tax["amount"], tax["tax_behavior"], tax["taxable_amount"]) == (190, "inclusive", 1000)
    assert inv["total"] == 1190
    assert inv["total_excluding_tax"] == 1000


def test_automatic_tax_eu_business_reverse_charge(emulator: EmulatorServer) -> None:
    plan = _taxed_price(5000)
    customer = _customer(
        {"line1": "Rue 1", "city": "Paris", "postal_code": "75001", "country": "FR"}
    )
    stripe.Customer.create_tax_id(customer.id, type="eu_vat", value="FRAB123456789")
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
    )
    inv = _first_invoice(sub)
    (tax,) = inv["total_taxes"]
    assert (tax["amount"], tax["taxability_reason"]) == (0, "reverse_charge")
    assert inv["lines"]["data"][0]["taxes"][0]["taxability_reason"] == "reverse_charge"
    assert inv["total"] == 5000
    assert inv["customer_tax_ids"] == [{"type": "eu_vat", "value": "FRAB123456789"}]
    rate = stripe.TaxRate.retrieve(tax["tax_rate_details"]["tax_rate"])
    assert (rate.country, rate.percentage, rate.effective_percentage) == ("FR", 20.0, 0.0)
    page = Browser(emulator.url).get(inv["hosted_invoice_url"]).visible_text()
    assert "VAT - FR (0%), reverse charge" in page
    # The same customer without the VAT ID is a consumer: French VAT.
    other = _customer({"line1": "Rue 2", "city": "Lyon", "postal_code": "69001", "country": "FR"})
    consumer = stripe.Subscription.create(
        customer=other.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
    )
    assert _first_invoice(consumer)["total"] == 6000


def test_automatic_tax_untaxed_country_and_exempt_customer(emulator: EmulatorServer) -> None:
    plan = _taxed_price(3000)
    hk = _customer({"line1": "1 Queen's Rd", "city": "Hong Kong", "country": "HK"})
    jp = _customer({"line1": "1-1", "city": "Tokyo", "postal_code": "100-0001", "country": "JP"})
    exempt = _customer(
        {
            "line1": "1 Main",
            "city": "Austin",
            "state": "TX",
            "postal_code": "73301",
            "country": "US",
        },
        tax_exempt="exempt",
    )
    reasons = {}
    for customer in (hk, jp, exempt):
        sub = stripe.Subscription.create(
            customer=customer.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
        )
        inv = _first_invoice(sub)
        assert inv["total"] == 3000
        assert inv["amount_paid"] == 3000
        reasons[customer.id] = inv["total_taxes"][0]["taxability_reason"]
    assert reasons == {
        hk.id: "not_subject_to_tax",
        jp.id: "not_collecting",
        exempt.id: "customer_exempt",
    }


def test_automatic_tax_needs_location_and_tax_behavior(emulator: EmulatorServer) -> None:
    unspecified = _taxed_price(1000, "unspecified")
    located = _customer(
        {
            "line1": "1 Main",
            "city": "Austin",
            "state": "TX",
            "postal_code": "73301",
            "country": "US",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as behavior:
        stripe.Subscription.create(
            customer=located.id, items=[{"price": unspecified.id}], automatic_tax={"enabled": True}
        )
    assert behavior.value.param == "items[0][price]"
    plan = _taxed_price(1000)
    nowhere = _customer(None)
    with pytest.raises(stripe.InvalidRequestError) as location:
        stripe.Subscription.create(
            customer=nowhere.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
        )
    assert location.value.code == "customer_tax_location_invalid"
    draft = stripe.Invoice.create(customer=nowhere.id, automatic_tax={"enabled": True})
    assert draft.automatic_tax.status == "requires_location_inputs"
    stripe.Customer.modify(
        nowhere.id, address={"country": "US", "state": "NY", "postal_code": "10001"}
    )
    stripe.InvoiceItem.create(
        customer=nowhere.id,
        invoice=draft.id,
        pricing={"price": _taxed_price(1000, recurring=False).id},
    )
    final = stripe.Invoice.finalize_invoice(draft.id)
    assert final.automatic_tax.status == "complete"
    assert final.total == 1040  # New York 4 % in the emulator's table


def test_create_preview_with_automatic_tax(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000)
    customer = _customer(
        {
            "line1": "1 Main",
            "city": "Seattle",
            "state": "WA",
            "postal_code": "98101",
            "country": "US",
        }
    )
    preview = stripe.Invoice.create_preview(
        customer=customer.id,
        automatic_tax={"enabled": True},
        subscription_details={"items": [{"price": plan.id}]},
    )
    assert preview.total == 1065
    assert preview.total_taxes
    assert preview.total_taxes[0].amount == 65
    # customer_details previews another address without changing the customer.
    moved = stripe.Invoice.create_preview(
        customer=customer.id,
        automatic_tax={"enabled": True},
        customer_details={"address": {"country": "DE", "postal_code": "10115", "city": "Berlin"}},
        subscription_details={"items": [{"price": plan.id}]},
    )
    assert moved.total == 1190
    unchanged = stripe.Customer.retrieve(customer.id).address
    assert unchanged
    assert unchanged.country == "US"
    assert stripe.Subscription.list(customer=customer.id).data == []


def _checkout_page(
    emulator: EmulatorServer, session: stripe.checkout.Session
) -> tuple[Browser, Any]:
    browser = Browser(emulator.url)
    return browser, browser.get(str(session.url))


def test_checkout_collects_address_and_tax_id_reverse_charge(emulator: EmulatorServer) -> None:
    plan = _taxed_price(4000)
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": plan.id, "quantity": 1}],
        success_url="https://example.com/ok",
        automatic_tax={"enabled": True},
        billing_address_collection="required",
        tax_id_collection={"enabled": True},
    )
    assert session.automatic_tax.status == "requires_location_inputs"
    assert session.tax_id_collection
    assert session.tax_id_collection.enabled is True
    browser, page = _checkout_page(emulator, session)
    for label in (
        "Address line 1",
        "Country (2-letter code)",
        "Business name",
        "Tax ID (for example DE123456789)",
    ):
        assert page.has_input(page.label_for(label)), label
    assert "Calculated from your address" in page.visible_text()
    fields = {
        "email": "biz@example.com",
        "card_number": "4242424242424242",
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "address_line1": "Hauptstr. 1",
        "address_city": "Berlin",
        "address_postal_code": "10115",
        "address_country": "de",
        "is_business": "yes",
        "business_name": "Muster GmbH",
    }
    bad = browser.submit(page, "Subscribe", {**fields, "tax_id": "DE12"})
    assert "Your tax ID is invalid." in bad.visible_text()
    done = browser.submit(page, "Subscribe", {**fields, "tax_id": "DE123456789"})
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id).to_dict()
    assert final["status"] == "complete"
    assert final["customer_details"]["address"]["country"] == "DE"
    assert final["customer_details"]["tax_ids"] == [{"type": "eu_vat", "value": "DE123456789"}]
    assert final["customer_details"]["business_name"] == "Muster GmbH"
    assert final["automatic_tax"]["status"] == "complete"
    assert final["total_details"]["amount_tax"] == 0
    assert final["amount_total"] == 4000
    customer = stripe.Customer.retrieve(final["customer"], expand=["tax_ids"]).to_dict()
    assert customer["address"]["city"] == "Berlin"
    assert [(t["type"], t["value"]) for t in customer["tax_ids"]["data"]] == [
        ("eu_vat", "DE123456789")
    ]
    sub = stripe.Subscription.retrieve(final["subscription"])
    assert sub.automatic_tax.enabled is True
    inv = _first_invoice(sub)
    assert inv["total_taxes"][0]["taxability_reason"] == "reverse_charge"
    assert inv["amount_paid"] == 4000
    assert _events("customer.tax_id.created")


def test_checkout_automatic_tax_for_a_consumer(emulator: EmulatorServer) -> None:
    price = _taxed_price(2500, recurring=False)
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 2}],
        success_url="https://example.com/ok",
        automatic_tax={"enabled": True},
    )
    browser, page = _checkout_page(emulator, session)
    done = browser.submit(
        page,
        "Pay",
        {
            "email": "buyer@example.com",
            "card_number": "4242424242424242",
            "card_expiry": "12 / 34",
            "card_cvc": "123",
            "address_line1": "1 Main",
            "address_city": "Miami",
            "address_state": "FL",
            "address_postal_code": "33101",
            "address_country": "US",
        },
    )
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id, expand=["line_items"]).to_dict()
    assert final["total_details"]["amount_tax"] == 300  # Florida 6 % of 5000
    assert final["amount_total"] == 5300
    assert final["line_items"]["data"][0]["amount_tax"] == 300
    pi = stripe.PaymentIntent.retrieve(final["payment_intent"])
    assert pi.amount == 5300


def test_checkout_existing_customer_customer_update(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000)
    customer = stripe.Customer.create(email="old@example.com", name="Old name")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.checkout.Session.create(
            mode="subscription",
            customer=customer.id,
            line_items=[{"price": plan.id, "quantity": 1}],
            success_url="https://example.com/ok",
            automatic_tax={"enabled": True},
        )
    assert refused.value.code == "customer_tax_location_invalid"
    assert "customer_update[address]" in str(refused.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        stripe.checkout.Session.create(
            mode="subscription",
            line_items=[{"price": plan.id, "quantity": 1}],
            success_url="https://example.com/ok",
            customer_update={"address": "auto"},
        )
    assert no_customer.value.param == "customer_update"
    located = stripe.Customer.create(
        email="x@example.com", address={"country": "DE", "postal_code": "10115", "city": "Berlin"}
    )
    for update, needed in (({}, "customer_update[name]"), ({"name": "auto"}, None)):
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": located.id,
            "line_items": [{"price": plan.id, "quantity": 1}],
            "success_url": "https://example.com/ok",
            "tax_id_collection": {"enabled": True},
        }
        if update:
            params["customer_update"] = update
        if needed:
            with pytest.raises(stripe.InvalidRequestError) as name_needed:
                stripe.checkout.Session.create(**params)
            assert needed in str(name_needed.value.user_message)
        else:
            assert stripe.checkout.Session.create(**params).status == "open"
    with pytest.raises(stripe.InvalidRequestError) as address_needed:
        stripe.checkout.Session.create(
            mode="subscription",
            customer=customer.id,
            line_items=[{"price": plan.id, "quantity": 1}],
            success_url="https://example.com/ok",
            tax_id_collection={"enabled": True},
            customer_update={"name": "auto"},
        )
    assert "customer_update[address] to auto" in str(address_needed.value.user_message)
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": plan.id, "quantity": 1}],
        success_url="https://example.com/ok",
        automatic_tax={"enabled": True},
        tax_id_collection={"enabled": True},
        customer_update={"address": "auto", "name": "auto"},
    )
    browser, page = _checkout_page(emulator, session)
    done = browser.submit(
        page,
        "Subscribe",
        {
            "card_number": "4242424242424242",
            "card_expiry": "12 / 34",
            "card_cvc": "123",
            "address_line1": "10 Downing St",
            "address_city": "London",
            "address_postal_code": "SW1A 2AA",
            "address_country": "GB",
            "is_business": "yes",
            "business_name": "Acme Ltd",
            "tax_id": "GB123456789",
        },
    )
    assert done.status == 303
    updated = stripe.Customer.retrieve(customer.id)
    assert updated.name == "Acme Ltd"
    saved = [e for e in _events("customer.updated") if e["data"]["object"]["id"] == customer.id]
    assert saved[0]["data"]["previous_attributes"]["name"] == "Old name"
    assert saved[0]["data"]["previous_attributes"]["address"] is None
    assert updated.address
    assert updated.address.country == "GB"
    final = stripe.checkout.Session.retrieve(session.id).to_dict()
    assert final["customer_details"]["tax_ids"] == [{"type": "gb_vat", "value": "GB123456789"}]
    assert final["total_details"]["amount_tax"] == 0


def test_checkout_manual_tax_rates_on_line_items(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000, "unspecified")
    rate = stripe.TaxRate.create(display_name="VAT", percentage=20, inclusive=False)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe.checkout.Session.create(
            mode="subscription",
            line_items=[{"price": plan.id, "quantity": 1, "tax_rates": ["txr_unknown"]}],
            success_url="https://example.com/ok",
        )
    assert unknown.value.http_status == 400
    assert unknown.value.param == "line_items[0][tax_rates][0]"
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": plan.id, "quantity": 1, "tax_rates": [rate.id]}],
        success_url="https://example.com/ok",
    )
    assert session.amount_total == 1200
    assert session.total_details
    assert session.total_details.amount_tax == 200
    done = emulator_complete(emulator, session.id)
    assert done["status"] == "complete"
    sub = stripe.Subscription.retrieve(done["subscription"])
    assert [r.id for r in sub["items"].data[0].tax_rates or []] == [rate.id]
    assert _first_invoice(sub)["total"] == 1200


def emulator_complete(emulator: EmulatorServer, session_id: str) -> dict[str, Any]:
    from .billing_helpers import helper

    helper(
        emulator,
        "POST",
        f"/_emulator/checkout/sessions/{session_id}/complete",
        {"card": "4242424242424242", "email": "h@example.com"},
    )
    return stripe.checkout.Session.retrieve(session_id).to_dict()


def test_renewal_without_location_fails_finalization(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000)
    clock, customer, _pm = clock_customer()
    stripe.Customer.modify(
        customer.id, address={"country": "US", "state": "TX", "postal_code": "73301"}
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": plan.id}], automatic_tax={"enabled": True}
    )
    assert _first_invoice(sub)["total"] == 1063  # Texas 6.25 %
    stripe.Customer.modify(customer.id, address="")
    advance(clock, T0 + 32 * DAY)
    renewal = invoices_of(sub.id)[-1].to_dict()
    assert renewal["billing_reason"] == "subscription_cycle"
    assert renewal["status"] == "draft"
    assert renewal["automatic_tax"]["status"] == "requires_location_inputs"
    assert renewal["automatic_tax"]["disabled_reason"] == "finalization_requires_location_inputs"
    assert renewal["last_finalization_error"]["code"] == "customer_tax_location_invalid"
    failed = _events("invoice.finalization_failed")
    assert [e["data"]["object"]["id"] for e in failed] == [renewal["id"]]


def test_tax_rates_changed_on_a_live_subscription(emulator: EmulatorServer) -> None:
    plan = _taxed_price(1000, "unspecified")
    customer = _customer(None)
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": plan.id}])
    assert _first_invoice(sub)["total_taxes"] == []
    rate = stripe.TaxRate.create(display_name="GST", percentage=10, inclusive=False)
    updated = stripe.Subscription.modify(sub.id, default_tax_rates=[rate.id])
    assert [r.id for r in updated.default_tax_rates or []] == [rate.id]
    changed = _events("customer.subscription.updated")[0]["data"]
    assert changed["previous_attributes"] == {"default_tax_rates": []}
    assert stripe.Invoice.create_preview(subscription=sub.id).total == 1100
    item_id = updated["items"].data[0].id
    other = stripe.TaxRate.create(display_name="VAT", percentage=20, inclusive=False)
    item = stripe.SubscriptionItem.modify(item_id, tax_rates=[other.id], proration_behavior="none")
    assert [r.id for r in item.tax_rates or []] == [other.id]
    # The item's own rates win over the subscription's defaults.
    assert stripe.Invoice.create_preview(subscription=sub.id).total == 1200
    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe.SubscriptionItem.modify(item_id, tax_rates=["txr_nope"])
    assert bad.value.param == "tax_rates[0]"
