"""Customer portal: configurations and sessions through the SDK, the portal pages
through plain HTTP form posts; every action must emit the API's events."""

from __future__ import annotations

import calendar
import json
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from stripe_emulator import EmulatorServer

from ._browser import Browser, Page

RETURN = "https://app.example/account/billing"
JAN_1_2027 = calendar.timegm((2027, 1, 1, 0, 0, 0, 0, 0, 0))


@dataclass
class World:
    clock: stripe.test_helpers.TestClock
    customer: stripe.Customer
    basic: stripe.Price
    pro: stripe.Price
    sub: stripe.Subscription
    config: stripe.billing_portal.Configuration


def features(**over: Any) -> dict[str, Any]:
    return {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "customer_update": {"enabled": True, "allowed_updates": ["email"]},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive", "missing_features", "other"],
            },
        },
        **over,
    }


def plan_update(basic: stripe.Price, pro: stripe.Price, proration: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "default_allowed_updates": ["price"],
        "proration_behavior": proration,
        "products": [
            {"product": str(basic.product), "prices": [basic.id]},
            {"product": str(pro.product), "prices": [pro.id]},
        ],
    }


def build(proration: str = "create_prorations", **feature_over: Any) -> World:
    clock = stripe.test_helpers.TestClock.create(frozen_time=JAN_1_2027)
    customer = stripe.Customer.create(
        email="pat@example.com",
        name="Pat",
        test_clock=clock.id,
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": None},
    )
    pm = stripe.Customer.list_payment_methods(customer.id).data[0]
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    basic_p = stripe.Product.create(name="Basic")
    pro_p = stripe.Product.create(name="Pro")
    basic = stripe.Price.create(
        product=basic_p.id, unit_amount=1000, currency="usd", recurring={"interval": "month"}
    )
    pro = stripe.Price.create(
        product=pro_p.id, unit_amount=2000, currency="usd", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": basic.id}])
    assert sub.status == "active"
    feats = features(subscription_update=plan_update(basic, pro, proration))
    feats.update(feature_over)
    config = stripe.billing_portal.Configuration.create(
        features=feats, business_profile={"headline": "Acme billing"}
    )
    return World(clock, customer, basic, pro, sub, config)


def open_portal(w: World, **kwargs: Any) -> str:
    session = stripe.billing_portal.Session.create(
        customer=w.customer.id, return_url=RETURN, configuration=w.config.id, **kwargs
    )
    return str(session.url)


def last_event(kind: str) -> stripe.Event:
    data = stripe.Event.list(type=kind, limit=1).data
    assert data, f"no {kind} event"
    return data[0]


def sub_dict(sub_id: str) -> dict[str, Any]:
    return stripe.Subscription.retrieve(sub_id).to_dict()


# --------------------------------------------------------------------------
# API


def test_configuration_crud(emulator: EmulatorServer) -> None:
    first = stripe.billing_portal.Configuration.create(
        features={"invoice_history": {"enabled": True}},
        default_return_url=RETURN,
        metadata={"k": "v"},
    )
    assert first.is_default is True
    assert first.active is True
    assert first.features.invoice_history.enabled is True
    assert first.features.subscription_cancel.enabled is False
    assert first.default_return_url == RETURN
    second = stripe.billing_portal.Configuration.create(
        features={
            "subscription_cancel": {
                "enabled": True,
                "mode": "immediately",
                "proration_behavior": "create_prorations",
            }
        }
    )
    assert second.is_default is False
    updated = stripe.billing_portal.Configuration.modify(second.id, name="Immediate")
    assert updated.name == "Immediate"
    assert last_event("billing_portal.configuration.updated").data.object.id == second.id
    assert stripe.billing_portal.Configuration.retrieve(first.id).id == first.id
    listed = stripe.billing_portal.Configuration.list(is_default=True).data
    assert [c.id for c in listed] == [first.id]
    assert len(stripe.billing_portal.Configuration.list().data) == 2


def test_configuration_validation(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Configuration.create(
            features={"subscription_update": {"enabled": True}}
        )
    assert exc.value.param == "features[subscription_update][products]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Configuration.create(
            features={
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "at_period_end",
                    "proration_behavior": "create_prorations",
                }
            }
        )
    assert exc.value.param == "features[subscription_cancel][proration_behavior]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Configuration.create(features={"bogus": {"enabled": True}})
    assert "Received unknown parameter" in str(exc.value)


def test_session_needs_a_configuration(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="a@example.com")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Session.create(customer=customer.id, return_url=RETURN)
    assert "default configuration" in str(exc.value)
    config = stripe.billing_portal.Configuration.create(
        features={"invoice_history": {"enabled": True}}
    )
    session = stripe.billing_portal.Session.create(customer=customer.id, return_url=RETURN)
    assert session.configuration == config.id
    assert session.customer == customer.id
    assert session.return_url == RETURN
    assert session.flow is None
    assert session.id.startswith("bps_")
    assert session.url.startswith(f"{emulator.url}/portal/")
    assert last_event("billing_portal.session.created").data.object.id == session.id


def test_flow_data_validation(emulator: EmulatorServer) -> None:
    w = build()
    other = stripe.Customer.create(email="other@example.com")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Session.create(
            customer=other.id,
            configuration=w.config.id,
            return_url=RETURN,
            flow_data={
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": w.sub.id},
            },
        )
    assert exc.value.param == "flow_data[subscription_cancel][subscription]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Session.create(
            customer=w.customer.id,
            configuration=w.config.id,
            flow_data={"type": "customer_update"},
        )
    assert exc.value.param == "flow_data[type]"
    session = stripe.billing_portal.Session.create(
        customer=w.customer.id,
        configuration=w.config.id,
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": w.sub.id,
                "items": [{"id": w.sub["items"].data[0].id, "price": w.pro.id}],
            },
            "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN + "?ok"}},
        },
    )
    flow = session.to_dict()["flow"]
    assert flow["type"] == "subscription_update_confirm"
    stray = stripe.Price.create(
        product=str(w.pro.product), unit_amount=1, currency="usd", recurring={"interval": "month"}
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.billing_portal.Session.create(
            customer=w.customer.id,
            configuration=w.config.id,
            flow_data={
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": w.sub.id,
                    "items": [{"id": w.sub["items"].data[0].id, "price": stray.id}],
                },
            },
        )
    assert exc.value.param == "flow_data[subscription_update_confirm][items][0][price]"
    assert flow["subscription_update_confirm"]["items"][0]["price"] == w.pro.id
    assert flow["after_completion"]["redirect"]["return_url"] == RETURN + "?ok"


# --------------------------------------------------------------------------
# pages


def test_home_shows_subscription_and_links(emulator: EmulatorServer) -> None:
    w = build()
    browser = Browser(emulator.url)
    page = browser.get(open_portal(w))
    assert page.status == 200
    text = page.visible_text()
    assert "Acme billing" in text
    assert "Basic" in text
    assert "$10.00 per month" in text
    assert "Your plan renews on 1 Feb 2027." in text
    assert "Visa ending in 4242" in text
    assert page.links()["\u2190 Return to Stripe Emulator"] == RETURN
    links = page.links()
    assert links["Update plan"].endswith(f"/subscriptions/{w.sub.id}/update")
    assert links["Cancel plan"].endswith(f"/subscriptions/{w.sub.id}/cancel")
    assert "Update payment method" in links
    invoice = stripe.Invoice.retrieve(str(w.sub.latest_invoice))
    assert links["View invoice"] == invoice.hosted_invoice_url
    assert links["Download PDF"] == invoice.invoice_pdf
    assert browser.get(links["View invoice"]).status == 200


def test_unknown_portal_url_and_csrf(emulator: EmulatorServer) -> None:
    browser = Browser(emulator.url)
    assert browser.get("/portal/doesnotexist").status == 404
    w = build()
    url = open_portal(w)
    resp = browser.post(url + f"/subscriptions/{w.sub.id}/cancel", {"reason": "other"})
    assert resp.status == 403
    assert sub_dict(w.sub.id)["cancel_at_period_end"] is False


def test_cancel_at_period_end_then_renew(emulator: EmulatorServer) -> None:
    w = build()
    browser = Browser(emulator.url)
    home = browser.get(open_portal(w))
    cancel_page = browser.get(home.links()["Cancel plan"])
    text = cancel_page.visible_text()
    assert "stays available until the end of your billing period on 1 Feb 2027" in text
    assert cancel_page.has_input(cancel_page.label_for("It's too expensive"))
    done = browser.submit(cancel_page, "Cancel plan", {"reason": "too_expensive"})
    assert done.status == 303
    home = browser.follow(done)
    assert "Your plan will be canceled on 1 Feb 2027." in home.visible_text()
    assert "Renew plan" in home.buttons()
    assert "Cancel plan" not in home.links()

    sub = sub_dict(w.sub.id)
    assert sub["cancel_at_period_end"] is True
    assert sub["status"] == "active"
    assert sub["cancellation_details"]["feedback"] == "too_expensive"
    evt = last_event("customer.subscription.updated")
    assert evt.data.object.cancel_at_period_end is True
    assert evt.data.to_dict()["previous_attributes"]["cancel_at_period_end"] is False

    renewed = browser.submit(home, "Renew plan")
    assert renewed.status == 303
    assert "Your plan will renew as usual." in browser.follow(renewed).visible_text()
    assert sub_dict(w.sub.id)["cancel_at_period_end"] is False
    evt = last_event("customer.subscription.updated")
    assert evt.data.object.cancel_at_period_end is False
    assert evt.data.to_dict()["previous_attributes"]["cancel_at_period_end"] is True


def test_cancel_immediately(emulator: EmulatorServer) -> None:
    w = build()
    stripe.billing_portal.Configuration.modify(
        w.config.id,
        features={"subscription_cancel": {"mode": "immediately", "enabled": True}},
    )
    browser = Browser(emulator.url)
    page = browser.get(open_portal(w) + f"/subscriptions/{w.sub.id}/cancel")
    assert "canceled immediately" in page.visible_text()
    done = browser.submit(page, "Cancel plan")
    assert done.status == 303
    assert sub_dict(w.sub.id)["status"] == "canceled"
    assert last_event("customer.subscription.deleted").data.object.id == w.sub.id
    home = browser.follow(done)
    assert "You have no active subscription." in home.visible_text()


def test_update_plan_with_proration_preview(emulator: EmulatorServer) -> None:
    w = build(proration="always_invoice")
    # Half of January (31 days) has passed: -$5.00 for Basic, +$10.00 for Pro.
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 31 * 86400 // 2)
    browser = Browser(emulator.url)
    home = browser.get(open_portal(w))
    choose = browser.get(home.links()["Update plan"])
    assert "Current plan" in choose.visible_text()
    assert "$20.00 per month" in choose.visible_text()
    confirm = browser.get(choose.form_action("Continue") + f"?price={w.pro.id}")
    text = confirm.visible_text()
    assert "Amount due today: $5.00" in text, text
    done = browser.submit(confirm, "Confirm")
    assert done.status == 303
    assert "Your plan was updated to Pro." in browser.follow(done).visible_text()
    sub = sub_dict(w.sub.id)
    assert sub["items"]["data"][0]["price"]["id"] == w.pro.id
    evt = last_event("customer.subscription.updated")
    assert "items" in evt.data.to_dict()["previous_attributes"]
    invoice = stripe.Invoice.retrieve(sub["latest_invoice"])
    assert invoice.billing_reason == "subscription_update"
    assert invoice.amount_paid == 500
    assert invoice.status == "paid"


def test_downgrade_preview_says_where_the_credit_goes(emulator: EmulatorServer) -> None:
    w = build()  # create_prorations: the change is settled on the next invoice
    lite_p = stripe.Product.create(name="Lite")
    mini_p = stripe.Product.create(name="Mini")
    lite = stripe.Price.create(
        product=lite_p.id, unit_amount=200, currency="usd", recurring={"interval": "month"}
    )
    mini = stripe.Price.create(
        product=mini_p.id, unit_amount=800, currency="usd", recurring={"interval": "month"}
    )
    update = plan_update(w.basic, w.pro, "create_prorations")
    update["products"] += [
        {"product": lite_p.id, "prices": [lite.id]},
        {"product": mini_p.id, "prices": [mini.id]},
    ]
    stripe.billing_portal.Configuration.modify(
        w.config.id, features={"subscription_update": update}
    )
    # Half of January has passed: $5.00 of Basic is unused.
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 31 * 86400 // 2)
    browser = Browser(emulator.url)
    choose = browser.get(browser.get(open_portal(w)).links()["Update plan"])
    action = choose.form_action("Continue")

    # To Mini ($8): -$5.00 + $4.00; the next invoice is $8.00 - $1.00.
    text = browser.get(action + f"?price={mini.id}").visible_text()
    assert (
        "A credit of $1.00 for unused time will be deducted from your next invoice. "
        "Next invoice total: $7.00"
    ) in text, text
    # To Lite ($2): -$5.00 + $1.00; more credit than the next invoice ($2.00).
    confirm = browser.get(action + f"?price={lite.id}")
    text = confirm.visible_text()
    assert (
        "A credit of $4.00 for unused time. Your next invoice will be $0.00, and the "
        "remaining credit of $2.00 will be applied to your future invoices."
    ) in text, text
    assert "-$" not in text

    assert browser.submit(confirm, "Confirm").status == 303
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 32 * 86400)
    # What the page said: the February invoice is $0.00 and $2.00 is left as credit.
    assert stripe.Customer.retrieve(w.customer.id).balance == -200
    february = stripe.Invoice.retrieve(str(stripe.Subscription.retrieve(w.sub.id).latest_invoice))
    assert february.amount_due == 0


def test_portal_names_the_business(emulator: EmulatorServer) -> None:
    w = build()
    stripe.billing_portal.Configuration.modify(
        w.config.id,
        business_profile={
            "privacy_policy_url": "https://acme.example/privacy",
            "terms_of_service_url": "https://acme.example/terms",
        },
    )
    status = urllib.request.urlopen(
        urllib.request.Request(
            emulator.url + "/_emulator/account",
            data=json.dumps({"business_name": "Acme Cloud"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
    ).status
    assert status == 200
    page = Browser(emulator.url).get(open_portal(w))
    links = page.links()
    assert links["\u2190 Return to Acme Cloud"] == RETURN
    assert links["Terms"] == "https://acme.example/terms"
    assert links["Privacy"] == "https://acme.example/privacy"
    assert "Stripe Emulator" not in page.visible_text()


def test_update_plan_rejects_prices_not_offered(emulator: EmulatorServer) -> None:
    w = build()
    stray = stripe.Price.create(
        product=str(w.pro.product), unit_amount=1, currency="usd", recurring={"interval": "month"}
    )
    browser = Browser(emulator.url)
    url = open_portal(w)
    page = browser.get(url + f"/subscriptions/{w.sub.id}/update/confirm?price={stray.id}")
    assert page.status == 303
    assert "Choose one of the plans listed." in browser.follow(page).visible_text()


def test_update_payment_method(emulator: EmulatorServer) -> None:
    w = build()
    browser = Browser(emulator.url)
    form = browser.get(open_portal(w) + "/payment-method")
    for label in ("Card number", "Expiration (MM / YY)", "CVC", "Cardholder name"):
        assert form.has_input(form.label_for(label)), label
    declined = browser.submit(
        form, "Save payment method", {"card_number": "4000000000000002", "card_expiry": "1/30"}
    )
    assert "Your card was declined." in declined.visible_text()
    ok = browser.submit(
        form,
        "Save payment method",
        {"card_number": "5555 5555 5555 4444", "card_expiry": "11 / 31", "card_cvc": "123"},
    )
    assert ok.status == 303
    home = browser.follow(ok)
    assert "Mastercard ending in 4444" in home.visible_text()
    customer = stripe.Customer.retrieve(w.customer.id)
    new_pm = customer.to_dict()["invoice_settings"]["default_payment_method"]
    assert stripe.PaymentMethod.retrieve(str(new_pm)).to_dict()["card"]["last4"] == "4444"
    assert sub_dict(w.sub.id)["default_payment_method"] == new_pm
    assert last_event("payment_method.attached").data.object.id == new_pm


def test_payment_method_update_pays_past_due_invoice(emulator: EmulatorServer) -> None:
    w = build()
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=w.customer.id)
    stripe.Customer.modify(w.customer.id, invoice_settings={"default_payment_method": failing.id})
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 32 * 86400)
    sub = sub_dict(w.sub.id)
    assert sub["status"] == "past_due"
    browser = Browser(emulator.url)
    home = browser.get(open_portal(w))
    assert "Your latest payment failed." in home.visible_text()
    form = browser.get(home.links()["Update payment method"])
    done = browser.submit(form, "Save payment method", {"card_number": "4242424242424242"})
    assert done.status == 303
    sub = sub_dict(w.sub.id)
    assert sub["status"] == "active"
    assert stripe.Invoice.retrieve(sub["latest_invoice"]).status == "paid"


# --------------------------------------------------------------------------
# deep links


def test_deep_link_cancel_with_redirect(emulator: EmulatorServer) -> None:
    w = build()
    url = open_portal(
        w,
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": w.sub.id},
            "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN + "?c=1"}},
        },
    )
    browser = Browser(emulator.url)
    landing = browser.get(url)
    assert landing.status == 303
    assert landing.location.endswith(f"/subscriptions/{w.sub.id}/cancel")
    page = browser.follow(landing)
    done = browser.submit(page, "Cancel plan")
    assert done.status == 303
    assert done.location == RETURN + "?c=1"
    assert sub_dict(w.sub.id)["cancel_at_period_end"] is True
    # The flow is finished: the portal home is shown normally afterwards.
    assert browser.get(url).status == 200


def test_deep_link_update_confirm_with_hosted_confirmation(emulator: EmulatorServer) -> None:
    w = build()
    url = open_portal(
        w,
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": w.sub.id,
                "items": [{"id": w.sub["items"].data[0].id, "price": w.pro.id}],
            },
            "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "Welcome to Pro!"},
            },
        },
    )
    browser = Browser(emulator.url)
    confirm = browser.follow(browser.get(url))
    assert "Confirm your new plan" in confirm.visible_text()
    done = browser.submit(confirm, "Confirm")
    assert done.location.endswith("/done")
    assert "Welcome to Pro!" in browser.follow(done).visible_text()
    assert sub_dict(w.sub.id)["items"]["data"][0]["price"]["id"] == w.pro.id


def test_deep_link_payment_method_update(emulator: EmulatorServer) -> None:
    w = build()
    url = open_portal(w, flow_data={"type": "payment_method_update"})
    browser = Browser(emulator.url)
    landing = browser.get(url)
    assert landing.location.endswith("/payment-method")
    page: Page = browser.follow(landing)
    assert "Card number" in page.visible_text()


def test_deep_link_subscription_update(emulator: EmulatorServer) -> None:
    w = build()
    url = open_portal(
        w,
        flow_data={
            "type": "subscription_update",
            "subscription_update": {"subscription": w.sub.id},
        },
    )
    browser = Browser(emulator.url)
    page = browser.follow(browser.get(url))
    assert "Update plan" in page.visible_text()
    assert "Continue" in page.buttons()


def test_update_billing_information(emulator: EmulatorServer) -> None:
    w = build()
    stripe.billing_portal.Configuration.modify(
        w.config.id,
        features={"customer_update": {"enabled": True, "allowed_updates": ["email", "name"]}},
    )
    browser = Browser(emulator.url)
    home = browser.get(open_portal(w))
    form = browser.get(home.links()["Update information"])
    assert form.has_input(form.label_for("Email"))
    assert form.has_input(form.label_for("Name"))
    assert not form.label_for("Phone")
    bad = browser.submit(form, "Save information", {"email": "nope", "name": "Pat"})
    assert "Enter a valid email address." in bad.visible_text()
    done = browser.submit(
        form, "Save information", {"email": "pat.new@example.com", "name": "Pat <New>"}
    )
    assert done.status == 303
    home = browser.follow(done)
    assert "Pat <New>" in home.visible_text()
    assert "Pat <New>" not in home.text  # escaped
    customer = stripe.Customer.retrieve(w.customer.id)
    assert customer.email == "pat.new@example.com"
    evt = last_event("customer.updated")
    assert evt.data.to_dict()["previous_attributes"]["email"] == "pat@example.com"


def test_past_due_recovery_with_3ds_card(emulator: EmulatorServer) -> None:
    w = build()
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=w.customer.id)
    stripe.Customer.modify(w.customer.id, invoice_settings={"default_payment_method": failing.id})
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 32 * 86400)
    assert sub_dict(w.sub.id)["status"] == "past_due"
    browser = Browser(emulator.url)
    portal = open_portal(w)
    form = browser.get(portal + "/payment-method")
    resp = browser.submit(form, "Save payment method", {"card_number": "4000002760003184"})
    # "Always authenticate": once to save the card (SetupIntent) ...
    assert resp.status == 303
    assert resp.location.startswith("/3ds/seti_")
    finish = browser.submit(browser.follow(resp), "Complete authentication")
    assert finish.location == urlsplit(portal).path + "/payment-method/finish"
    resp = browser.follow(finish)
    # ... and again for the on-session payment of the overdue invoice.
    assert resp.status == 303
    assert resp.location.startswith("/3ds/pi_")
    challenge = browser.follow(resp)
    back = browser.submit(challenge, "Complete authentication")
    assert back.status == 303
    assert back.location == urlsplit(portal).path
    sub = sub_dict(w.sub.id)
    assert sub["status"] == "active"
    assert stripe.Invoice.retrieve(sub["latest_invoice"]).status == "paid"


def test_payment_method_update_3ds_setup(emulator: EmulatorServer) -> None:
    w = build()
    browser = Browser(emulator.url)
    portal = open_portal(w)
    form = browser.get(portal + "/payment-method")
    resp = browser.submit(form, "Save payment method", {"card_number": "4000002500003155"})
    assert resp.location.startswith("/3ds/seti_")
    seti_id = resp.location.split("/")[2].split("?")[0]
    failed = browser.follow(browser.submit(browser.follow(resp), "Fail authentication"))
    assert failed.status == 303
    page = browser.follow(failed)
    assert "unable to authenticate your payment method" in page.visible_text()
    assert stripe.SetupIntent.retrieve(seti_id).status == "requires_payment_method"
    customer = stripe.Customer.retrieve(w.customer.id).to_dict()
    old_default = customer["invoice_settings"]["default_payment_method"]
    assert stripe.PaymentMethod.retrieve(old_default).to_dict()["card"]["last4"] == "4242"

    resp = browser.submit(page, "Save payment method", {"card_number": "4000002500003155"})
    done = browser.follow(browser.submit(browser.follow(resp), "Complete authentication"))
    assert done.status == 303
    assert "Your payment method was updated." in browser.follow(done).visible_text()
    customer = stripe.Customer.retrieve(w.customer.id).to_dict()
    new_default = customer["invoice_settings"]["default_payment_method"]
    assert stripe.PaymentMethod.retrieve(new_default).to_dict()["card"]["last4"] == "3155"
    assert sub_dict(w.sub.id)["default_payment_method"] == new_default
    assert "setup_intent.succeeded" in [e.type for e in stripe.Event.list(limit=50).data]


def test_update_billing_address(emulator: EmulatorServer) -> None:
    w = build()
    stripe.billing_portal.Configuration.modify(
        w.config.id,
        features={"customer_update": {"enabled": True, "allowed_updates": ["email", "address"]}},
    )
    browser = Browser(emulator.url)
    home = browser.get(open_portal(w))
    form = browser.get(home.links()["Update information"])
    for label in ("Email", "Address line 1", "City", "Postal code", "Country (2-letter code)"):
        assert form.has_input(form.label_for(label)), label
    address = {
        "address_line1": "9 Elm Road",
        "address_city": "Leeds",
        "address_postal_code": "LS1 1AA",
        "address_country": "gbr",
    }
    bad = browser.submit(form, "Save information", address)
    assert "2-letter code" in bad.visible_text()
    done = browser.submit(form, "Save information", {**address, "address_country": "gb"})
    assert done.status == 303
    home = browser.follow(done)
    assert "9 Elm Road" in home.visible_text()
    customer = stripe.Customer.retrieve(w.customer.id).to_dict()
    assert customer["address"]["line1"] == "9 Elm Road"
    assert customer["address"]["country"] == "GB"
    assert customer["email"] == "pat@example.com"  # unchanged field left alone


def test_portal_scopes_to_its_customer_and_escapes(emulator: EmulatorServer) -> None:
    w = build()
    stripe.Product.modify(str(w.basic.product), name="<script>alert(1)</script>")
    other_customer = stripe.Customer.create(email="o@example.com", payment_method="pm_card_visa")
    pm = stripe.Customer.list_payment_methods(other_customer.id).data[0]
    other = stripe.Subscription.create(
        customer=other_customer.id, items=[{"price": w.pro.id}], default_payment_method=pm.id
    )
    browser = Browser(emulator.url)
    url = open_portal(w)
    home = browser.get(url)
    assert "<script>alert(1)</script>" in home.visible_text()
    assert "<script>" not in home.text
    for path in (f"/subscriptions/{other.id}/cancel", f"/subscriptions/{other.id}/update"):
        assert browser.get(url + path).status == 404
    form = browser.get(url + f"/subscriptions/{w.sub.id}/cancel")
    resp = browser.post(url + f"/subscriptions/{other.id}/cancel", {"token": form.token()})
    assert resp.status == 404
    assert sub_dict(other.id)["cancel_at_period_end"] is False


def test_update_quantity(emulator: EmulatorServer) -> None:
    w = build(proration="always_invoice")
    update = plan_update(w.basic, w.pro, "always_invoice")
    update["default_allowed_updates"] = ["price", "quantity"]
    update["products"][0]["adjustable_quantity"] = {"enabled": True, "minimum": 1, "maximum": 5}
    stripe.billing_portal.Configuration.modify(
        w.config.id, features={"subscription_update": update}
    )
    stripe.test_helpers.TestClock.advance(w.clock.id, frozen_time=JAN_1_2027 + 31 * 86400 // 2)
    browser = Browser(emulator.url)
    url = open_portal(w)
    choose = browser.get(url + f"/subscriptions/{w.sub.id}/update")
    assert choose.has_input(choose.label_for("Quantity"))
    action = choose.form_action("Continue")
    same = browser.get(f"{action}?price={w.basic.id}&quantity=1")
    assert "Choose a different plan or quantity." in browser.follow(same).visible_text()
    too_many = browser.get(f"{action}?price={w.basic.id}&quantity=6")
    assert "between 1 and 5" in browser.follow(too_many).visible_text()
    confirm = browser.get(f"{action}?price={w.basic.id}&quantity=3")
    text = confirm.visible_text()
    assert "Basic x 3" in text
    # Two more seats for half of January: 2 x $10.00 / 2.
    assert "Amount due today: $10.00" in text, text
    done = browser.submit(confirm, "Confirm")
    assert done.status == 303
    item = sub_dict(w.sub.id)["items"]["data"][0]
    assert item["quantity"] == 3
    assert item["price"]["id"] == w.basic.id
    home = browser.follow(done)
    assert "Basic x 3" in home.visible_text()


def test_cancel_flow_with_retention_offer(emulator: EmulatorServer) -> None:
    w = build()
    coupon = stripe.Coupon.create(percent_off=50, duration="repeating", duration_in_months=3)
    url = open_portal(
        w,
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {
                "subscription": w.sub.id,
                "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
            },
        },
    )
    browser = Browser(emulator.url)
    page = browser.follow(browser.get(url))
    assert "Stay and get 50% off." in page.visible_text()
    done = browser.submit(page, "Accept offer")
    assert done.status == 303
    assert "The discount was applied to your plan." in browser.follow(done).visible_text()
    sub = sub_dict(w.sub.id)
    assert sub["cancel_at_period_end"] is False
    assert sub["discounts"]


def test_portal_url_expires_after_an_idle_hour(emulator: EmulatorServer) -> None:
    w = build()
    session = stripe.billing_portal.Session.create(
        customer=w.customer.id, configuration=w.config.id, return_url=RETURN
    )
    browser = Browser(emulator.url)
    assert browser.get(str(session.url)).status == 200
    store = emulator.emulator.store
    with store.atomic():
        stored = store.get(session.id)
        assert stored is not None
        stored["_last_seen"] -= 3601
        store.put(stored)
    page = browser.get(str(session.url))
    assert page.status == 404
    assert "expired" in page.visible_text()


def test_update_plan_ends_trial_and_resets_anchor(emulator: EmulatorServer) -> None:
    w = build()
    trial_sub = stripe.Subscription.create(
        customer=w.customer.id, items=[{"price": w.basic.id}], trial_period_days=14
    )
    update = plan_update(w.basic, w.pro, "create_prorations")
    update["trial_update_behavior"] = "end_trial"
    update["billing_cycle_anchor"] = "now"
    stripe.billing_portal.Configuration.modify(
        w.config.id, features={"subscription_update": update}
    )
    browser = Browser(emulator.url)
    url = open_portal(w)
    confirm = browser.get(url + f"/subscriptions/{trial_sub.id}/update/confirm?price={w.pro.id}")
    assert confirm.status == 200
    assert browser.submit(confirm, "Confirm").status == 303
    sub = sub_dict(trial_sub.id)
    assert sub["status"] == "active"
    assert sub["items"]["data"][0]["price"]["id"] == w.pro.id
    assert sub["trial_end"] <= sub["items"]["data"][0]["current_period_start"]
