"""Checkout Sessions: the API through the stripe SDK, the hosted page through plain
HTTP form posts (as a browser sends them), and the test helpers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from stripe_emulator import EmulatorServer

from ._browser import Browser, Page

SUCCESS = "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://app.example/pricing"


def stored(emulator: EmulatorServer, object_id: str) -> dict[str, Any]:
    obj = emulator.emulator.store.get(object_id)
    assert obj is not None, object_id
    return obj


def stored_all(emulator: EmulatorServer, kind: str) -> list[dict[str, Any]]:
    return emulator.emulator.store.all(kind)


def event_types() -> list[str]:
    return [str(e.type) for e in stripe.Event.list(limit=100).auto_paging_iter()][::-1]


def helper(emulator: EmulatorServer, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def plan() -> stripe.Price:
    product = stripe.Product.create(name="Pro <b>plan</b>")
    return stripe.Price.create(
        product=product.id, unit_amount=2000, currency="usd", recurring={"interval": "month"}
    )


def make_session(price: stripe.Price, **kwargs: Any) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
    }
    params.update(kwargs)
    return stripe.checkout.Session.create(**params)


def pay(browser: Browser, session: stripe.checkout.Session, card: str, **extra: str) -> Page:
    page = browser.get(session.url)
    assert page.status == 200
    button = "Start trial" if "Start trial" in page.buttons() else "Subscribe"
    fields = {
        "email": "buyer@example.com",
        "card_number": card,
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "cardholder_name": "Ada Lovelace",
    }
    fields.update(extra)
    return browser.submit(page, button, fields)


# --------------------------------------------------------------------------
# API


def test_create_session_shape_and_retrieve(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(
        plan,
        client_reference_id="user_42",
        metadata={"plan": "pro"},
        subscription_data={"metadata": {"account": "a1"}},
    )
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.mode == "subscription"
    assert session.ui_mode == "hosted_page"
    assert session.url == f"{emulator.url}/checkout/{session.id}"
    assert session.expires_at - session.created == 24 * 3600
    assert session.amount_subtotal == 2000
    assert session.amount_total == 2000
    assert session.currency == "usd"
    assert session.client_reference_id == "user_42"
    assert session.to_dict()["metadata"] == {"plan": "pro"}
    assert session.customer is None
    assert session.subscription is None
    assert session.payment_method_collection == "always"
    assert "line_items" not in session.to_dict()  # includable: only when expanded

    again = stripe.checkout.Session.retrieve(session.id, expand=["line_items"])
    line = again.to_dict()["line_items"]["data"][0]
    assert line["price"]["id"] == plan.id
    assert line["amount_total"] == 2000
    assert line["description"] == "Pro <b>plan</b>"
    items = stripe.checkout.Session.list_line_items(session.id)
    assert [i.quantity for i in items.data] == [1]


def test_list_filters(emulator: EmulatorServer, plan: stripe.Price) -> None:
    customer = stripe.Customer.create(email="known@example.com")
    a = make_session(plan, customer=customer.id)
    b = make_session(plan)
    stripe.checkout.Session.expire(b.id)
    assert [s.id for s in stripe.checkout.Session.list(customer=customer.id).data] == [a.id]
    assert [s.id for s in stripe.checkout.Session.list(status="expired").data] == [b.id]
    assert {s.id for s in stripe.checkout.Session.list().data} == {a.id, b.id}


def test_validation_errors(emulator: EmulatorServer, plan: stripe.Price) -> None:
    customer = stripe.Customer.create(email="x@example.com")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(plan, customer=customer.id, customer_email="y@example.com")
    assert exc.value.param == "customer_email"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.checkout.Session.create(mode="subscription", success_url=SUCCESS)
    assert exc.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(plan, ui_mode="embedded_page")
    assert exc.value.param == "success_url"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(plan, ui_mode="hosted")  # pre-dahlia name
    assert exc.value.param == "ui_mode"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(plan, allow_promotion_codes=True, discounts=[{"coupon": "nope"}])
    assert exc.value.param == "discounts"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.checkout.Session.retrieve("cs_test_missing")
    assert exc.value.http_status == 404


def test_embedded_session_has_client_secret_not_url(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": plan.id, "quantity": 1}],
        ui_mode="embedded_page",
        return_url="https://app.example/return?session_id={CHECKOUT_SESSION_ID}",
    )
    assert session.url is None
    assert session.client_secret
    assert session.client_secret.startswith(session.id + "_secret_")


def test_expire_endpoint_emits_event_and_page_says_expired(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    session = make_session(plan)
    url = session.url
    expired = stripe.checkout.Session.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None
    assert stripe.Event.list(type="checkout.session.expired").data[0].data.object.id == session.id
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.expire(session.id)
    page = Browser(emulator.url).get(url)
    assert page.status == 200
    assert "has expired" in page.text


def test_expires_when_test_clock_passes_expires_at(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_900_000_000)
    customer = stripe.Customer.create(email="c@example.com", test_clock=clock.id)
    session = make_session(plan, customer=customer.id)
    assert session.created == 1_900_000_000
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1_900_000_000 + 25 * 3600)
    assert stripe.checkout.Session.retrieve(session.id).status == "expired"
    evt = stripe.Event.list(type="checkout.session.expired").data[0]
    assert evt.data.object.id == session.id
    assert evt.created == session.expires_at


# --------------------------------------------------------------------------
# hosted page


def test_page_shows_items_fields_and_subscribe(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    session = make_session(plan)
    page = Browser(emulator.url).get(session.url)
    assert page.status == 200
    assert page.content_type.startswith("text/html")
    for label in ("Email", "Card number", "Expiration (MM / YY)", "CVC", "Cardholder name"):
        assert page.has_input(page.label_for(label)), label
    assert page.buttons() == ["Subscribe"]
    text = page.visible_text()
    assert "Pro <b>plan</b>" in text  # escaped, shown literally
    assert "<b>plan</b>" not in page.text.replace("&lt;b&gt;plan&lt;/b&gt;", "")
    assert "$20.00 per month" in text
    assert page.links()["\u2190 Back to Stripe Emulator"] == CANCEL
    assert "Promotion code" not in text


def test_page_names_the_business_from_the_accounts_public_details(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    session = make_session(plan)
    browser = Browser(emulator.url)
    assert "Terms" not in browser.get(session.url).links()  # none set: no legal links
    # The server's configured name (--business-name) is the default.
    config = emulator.emulator.config
    saved, config.business_name = config.business_name, "Configured Co"
    try:
        assert browser.get(session.url).links()["\u2190 Back to Configured Co"] == CANCEL
    finally:
        config.business_name = saved
    status, details = helper(
        emulator,
        "/_emulator/account",
        {
            "business_name": "Acme <Cloud>",
            "terms_of_service_url": "https://acme.example/terms",
            "privacy_policy_url": "https://acme.example/privacy",
        },
    )
    assert status == 200
    assert details["business_name"] == "Acme <Cloud>"
    page = browser.get(session.url)
    links = page.links()
    assert links["\u2190 Back to Acme <Cloud>"] == CANCEL
    assert "Stripe Emulator" not in page.visible_text()
    assert "Acme &lt;Cloud&gt;" in page.text  # escaped
    assert links["Terms"] == "https://acme.example/terms"
    assert links["Privacy"] == "https://acme.example/privacy"
    account = stripe.Account.retrieve()
    assert account.business_profile is not None
    assert account.business_profile.name == "Acme <Cloud>"
    assert account.settings is not None
    assert account.settings.dashboard.display_name == "Acme <Cloud>"


def test_account_helper_rejects_bad_details(emulator: EmulatorServer) -> None:
    status, body = helper(emulator, "/_emulator/account", {"name": "Acme"})
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "name"
    assert body["error"]["message"] == "Received unknown parameter: name"
    status, body = helper(emulator, "/_emulator/account", {"privacy_policy_url": "acme.example"})
    assert status == 400
    assert body["error"]["param"] == "privacy_policy_url"
    status, body = helper(emulator, "/_emulator/account", {"business_name": ""})
    assert (status, body["business_name"]) == (200, "Stripe Emulator")


def test_trial_page_says_start_trial(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan, subscription_data={"trial_period_days": 14})
    assert session.amount_total == 0
    page = Browser(emulator.url).get(session.url)
    assert page.buttons() == ["Start trial"]
    assert "14 days free, then $20.00 per month" in page.visible_text()


def test_known_customer_email_is_readonly(emulator: EmulatorServer, plan: stripe.Price) -> None:
    customer = stripe.Customer.create(email="known@example.com")
    session = make_session(plan, customer=customer.id)
    page = Browser(emulator.url).get(session.url)
    assert 'value="known@example.com" readonly' in page.text


def test_unknown_session_and_csrf(emulator: EmulatorServer, plan: stripe.Price) -> None:
    browser = Browser(emulator.url)
    assert browser.get("/checkout/cs_test_nope").status == 404
    assert "not exist" in browser.get("/checkout/cs_test_nope").text
    session = make_session(plan)
    resp = browser.post(session.url, {"email": "a@example.com", "card_number": "4242424242424242"})
    assert resp.status == 403
    assert stripe.checkout.Session.retrieve(session.id).status == "open"


def test_pay_with_4242_redirects_and_completes(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    session = make_session(plan, client_reference_id="user_1")
    resp = pay(Browser(emulator.url), session, "4242 4242 4242 4242")
    assert resp.status == 303
    assert resp.location == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    assert parse_qs(urlsplit(resp.location).query)["session_id"] == [session.id]

    done = stripe.checkout.Session.retrieve(session.id)
    assert done.status == "complete"
    assert done.payment_status == "paid"
    assert done.customer
    assert done.subscription
    assert done.invoice
    assert done.to_dict()["customer_details"]["email"] == "buyer@example.com"
    assert done.url is None
    sub = stored(emulator, done.subscription)
    assert sub["status"] == "active"
    assert sub["customer"] == done.customer
    pm = stored(emulator, sub["default_payment_method"])
    assert pm["card"]["last4"] == "4242"
    assert pm["customer"] == done.customer
    customer = stripe.Customer.retrieve(done.customer)
    assert customer.email == "buyer@example.com"
    assert customer.name == "Ada Lovelace"
    assert stored(emulator, done.invoice)["status"] == "paid"
    expanded = stripe.checkout.Session.retrieve(
        session.id, expand=["subscription", "customer", "invoice", "line_items"]
    ).to_dict()
    assert expanded["subscription"]["status"] == "active"
    assert expanded["customer"]["email"] == "buyer@example.com"
    assert expanded["invoice"]["amount_paid"] == 2000
    assert expanded["line_items"]["data"][0]["price"]["unit_amount"] == 2000
    by_sub = stripe.checkout.Session.list(subscription=str(done.subscription)).data
    assert [s.id for s in by_sub] == [session.id]

    types = event_types()
    assert types.count("checkout.session.completed") == 1
    assert types.index("customer.created") < types.index("customer.subscription.created")
    assert types.index("invoice.paid") < types.index("checkout.session.completed")
    evt = stripe.Event.list(type="checkout.session.completed").data[0]
    assert evt.data.object.subscription == done.subscription
    assert evt.data.object.client_reference_id == "user_1"
    assert evt.to_dict()["request"]["id"] is None  # caused by the customer on the page

    # The page now says so, and posting again does nothing.
    page = Browser(emulator.url).get(session.url)
    assert "complete" in page.visible_text()


def test_trial_checkout(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan, subscription_data={"trial_period_days": 7})
    resp = pay(Browser(emulator.url), session, "4242424242424242")
    assert resp.status == 303
    done = stripe.checkout.Session.retrieve(session.id)
    assert done.payment_status == "no_payment_required"
    sub = stored(emulator, done.subscription)
    assert sub["status"] == "trialing"
    assert sub["trial_end"] - sub["trial_start"] == 7 * 86400
    assert sub["default_payment_method"]


def test_trial_without_card_when_if_required(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(
        plan,
        payment_method_collection="if_required",
        subscription_data={
            "trial_period_days": 30,
            "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
        },
    )
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    assert "No payment method is needed today." in page.visible_text()
    assert 'name="card_number"' in page.text
    assert "required>" not in page.text.split('name="card_number"')[1].split(">")[0] + ">"
    resp = browser.submit(page, "Start trial", {"email": "trial@example.com"})
    assert resp.status == 303, resp.text
    done = stripe.checkout.Session.retrieve(session.id)
    sub = stored(emulator, done.subscription)
    assert sub["status"] == "trialing"
    assert sub["default_payment_method"] is None
    assert stored_all(emulator, "payment_method") == []


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4000000000000341", "Your card was declined."),
        ("4242424242424241", "Your card number is incorrect."),
    ],
)
def test_declines_are_shown_inline_and_session_stays_open(
    emulator: EmulatorServer, plan: stripe.Price, card: str, message: str
) -> None:
    session = make_session(plan)
    resp = pay(Browser(emulator.url), session, card)
    assert resp.status == 200
    assert message in resp.visible_text()
    assert 'value="buyer@example.com"' in resp.text  # what was typed is kept
    assert stripe.checkout.Session.retrieve(session.id).status == "open"
    assert stored_all(emulator, "subscription") == []
    assert stored_all(emulator, "customer") == []
    assert "checkout.session.completed" not in event_types()
    # The customer fixes the card and succeeds on the same session.
    ok = pay(Browser(emulator.url), session, "4242424242424242")
    assert ok.status == 303
    assert stripe.checkout.Session.retrieve(session.id).status == "complete"


@pytest.mark.parametrize("card", ["4000002500003155", "4000002760003184"])
def test_3ds_complete_authentication(
    emulator: EmulatorServer, plan: stripe.Price, card: str
) -> None:
    browser = Browser(emulator.url)
    session = make_session(plan)
    resp = pay(browser, session, card)
    assert resp.status == 303
    assert resp.location == f"/3ds/{session.id}"
    challenge = browser.follow(resp)
    assert challenge.buttons() == ["Complete authentication", "Fail authentication"]
    assert "$20.00" in challenge.visible_text()
    assert stored_all(emulator, "subscription") == []  # nothing before authentication
    done = browser.submit(challenge, "Complete authentication")
    assert done.status == 303
    assert done.location == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.status == "complete"
    assert stored(emulator, final.subscription)["status"] == "active"


@pytest.mark.parametrize(
    ("card", "after_trial"),
    [("4000002500003155", "active"), ("4000002760003184", "past_due")],
)
def test_trial_checkout_sets_the_card_up_for_the_charge_at_trial_end(
    emulator: EmulatorServer, plan: stripe.Price, card: str, after_trial: str
) -> None:
    """Nothing is due on a trial: Checkout saves the card with a SetupIntent,
    authenticated on the page (3DS cards), so the off-session charge at the trial's
    end needs no authentication for 3155 ("authenticate unless set up"); 3184 asks
    for it on every payment."""
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_800_000_000)
    customer = stripe.Customer.create(email="trial@example.com", test_clock=clock.id)
    session = make_session(plan, customer=customer.id, subscription_data={"trial_period_days": 7})
    browser = Browser(emulator.url)
    resp = pay(browser, session, card)
    assert resp.location == f"/3ds/{session.id}"  # 3-D Secure on the page
    done = browser.submit(browser.follow(resp), "Complete authentication")
    assert done.location == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.setup_intent is None  # the subscription's, not the session's
    sub = stripe.Subscription.retrieve(str(final.subscription))
    assert sub.status == "trialing"
    assert sub.pending_setup_intent is None
    setis = stripe.SetupIntent.list(customer=customer.id).data
    assert [(s.status, s.usage, s.payment_method) for s in setis] == [
        ("succeeded", "off_session", sub.default_payment_method)
    ]
    types = event_types()
    assert types.index("setup_intent.succeeded") < types.index("customer.subscription.created")
    assert "setup_intent.created" in types
    assert "payment_intent.requires_action" not in types

    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1_800_000_000 + 8 * 86400)
    assert stripe.Subscription.retrieve(sub.id).status == after_trial
    invoice = stripe.Invoice.retrieve(str(stripe.Subscription.retrieve(sub.id).latest_invoice))
    assert invoice.billing_reason == "subscription_cycle"
    assert invoice.status == ("paid" if after_trial == "active" else "open")


def test_3ds_fail_authentication_keeps_session_open(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    browser = Browser(emulator.url)
    session = make_session(plan)
    challenge = browser.follow(pay(browser, session, "4000002500003155"))
    back = browser.submit(challenge, "Fail authentication")
    assert back.status == 303
    assert back.location == f"/checkout/{session.id}"
    page = browser.follow(back)
    assert "unable to authenticate your payment method" in page.visible_text()
    assert stripe.checkout.Session.retrieve(session.id).status == "open"
    assert stored_all(emulator, "subscription") == []
    # The message is shown once.
    assert "unable to authenticate" not in browser.get(session.url).visible_text()


def test_promotion_code_on_page(emulator: EmulatorServer, plan: stripe.Price) -> None:
    coupon = stripe.Coupon.create(percent_off=25, duration="forever")
    stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id}, code="SAVE25")
    session = make_session(plan, allow_promotion_codes=True)
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    code_input = page.label_for("Promotion code")
    assert page.has_input(code_input)
    assert "Apply" in page.buttons()

    bad = browser.submit(page, "Apply", {"promotion_code": "NOPE"})
    assert "This code is invalid." in bad.visible_text()
    applied = browser.submit(page, "Apply", {"promotion_code": "save25"})
    assert "Code SAVE25 applied." in applied.visible_text()
    assert "-$5.00" in applied.visible_text()
    assert "$15.00" in applied.visible_text()
    s = stripe.checkout.Session.retrieve(session.id)
    assert s.amount_total == 1500
    assert s.to_dict()["total_details"]["amount_discount"] == 500
    assert s.to_dict()["discounts"][0]["promotion_code"]

    resp = pay(browser, session, "4242424242424242")
    assert resp.status == 303
    done = stripe.checkout.Session.retrieve(session.id)
    assert done.amount_total == 1500
    inv = stored(emulator, done.invoice)
    assert inv["amount_paid"] == 1500
    promo = stripe.PromotionCode.list(code="SAVE25").data[0]
    assert promo.times_redeemed == 1


def test_discounts_param(emulator: EmulatorServer, plan: stripe.Price) -> None:
    coupon = stripe.Coupon.create(amount_off=500, currency="usd", duration="once")
    session = make_session(plan, discounts=[{"coupon": coupon.id}])
    assert session.amount_total == 1500
    assert session.to_dict()["total_details"]["amount_discount"] == 500
    page = Browser(emulator.url).get(session.url)
    assert "Promotion code" not in page.visible_text()
    assert "-$5.00" in page.visible_text()


# --------------------------------------------------------------------------
# test helpers


def test_helper_complete_and_fail(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan)
    status, body = helper(
        emulator, f"/_emulator/checkout/sessions/{session.id}/fail", {"card": "4000000000000002"}
    )
    assert status == 200
    assert body["status"] == "error"
    assert body["error"]["decline_code"] == "generic_decline"
    assert stripe.checkout.Session.retrieve(session.id).status == "open"

    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4242424242424242", "email": "helper@example.com"},
    )
    assert status == 200
    assert body["status"] == "complete"
    assert body["redirect_url"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    done = stripe.checkout.Session.retrieve(session.id)
    assert done.status == "complete"
    assert stripe.Customer.retrieve(done.customer).email == "helper@example.com"

    status, body = helper(emulator, f"/_emulator/checkout/sessions/{session.id}/complete", {})
    assert status == 400
    assert "no longer active" in body["error"]["message"]


def test_helper_decline_returns_402(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan)
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"payment_method": "pm_card_chargeDeclinedInsufficientFunds"},
    )
    assert status == 402
    assert body["error"]["decline_code"] == "insufficient_funds"
    assert body["error"]["session"]["status"] == "open"


def test_helper_3ds(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan)
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4000002760003184"},
    )
    assert status == 200
    assert body["status"] == "requires_action"
    assert body["authentication_url"] == f"{emulator.url}/3ds/{session.id}"
    status, body = helper(
        emulator, f"/_emulator/checkout/sessions/{session.id}/authenticate", {"succeed": True}
    )
    assert body["status"] == "complete"
    # One call with "authenticate": true does both steps.
    other = make_session(plan)
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{other.id}/complete",
        {"card": "4000002500003155", "authenticate": False},
    )
    assert status == 402
    assert body["error"]["code"] == "payment_intent_authentication_failure"


def test_helper_card_defaults(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(plan, subscription_data={"trial_period_days": 3})
    status, body = helper(emulator, f"/_emulator/checkout/sessions/{session.id}/complete", {})
    assert status == 200
    assert body["session"]["status"] == "complete"
    assert body["session"]["subscription"]
    started = time.time()
    assert stored(emulator, body["session"]["subscription"])["status"] == "trialing"
    assert time.time() - started < 5


def test_payment_mode(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="Lifetime licence")
    price = stripe.Price.create(product=product.id, unit_amount=9900, currency="usd")
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 2}],
        success_url=SUCCESS,
        payment_intent_data={"metadata": {"order": "o1"}},
    )
    assert session.amount_total == 19800
    assert session.customer_creation == "if_required"
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    assert page.buttons() == ["Pay"]
    assert "$198.00" in page.visible_text()
    fields = {"email": "guest@example.com", "card_number": "4000000000000002"}
    declined = browser.submit(page, "Pay", fields)
    assert "Your card was declined." in declined.visible_text()
    assert stripe.PaymentIntent.list().data == []
    done = browser.submit(page, "Pay", {**fields, "card_number": "4242424242424242"})
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.status == "complete"
    assert final.payment_status == "paid"
    assert final.customer is None  # guest checkout
    pi = stripe.PaymentIntent.retrieve(str(final.payment_intent))
    assert pi.status == "succeeded"
    assert pi.amount == 19800
    assert pi.to_dict()["metadata"] == {"order": "o1"}
    listed = stripe.checkout.Session.list(payment_intent=pi.id).data
    assert [s.id for s in listed] == [session.id]


def test_payment_mode_customer_creation_always_with_3ds(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="Credits")
    price = stripe.Price.create(product=product.id, unit_amount=500, currency="usd")
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 1}],
        customer_creation="always",
        success_url=SUCCESS,
    )
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4000002760003184", "authenticate": True, "email": "c@example.com"},
    )
    assert status == 200
    assert body["status"] == "complete"
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.customer
    assert stripe.PaymentIntent.retrieve(str(final.payment_intent)).status == "succeeded"


def test_payment_mode_invoice_creation_makes_a_paid_invoice(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="buyer@example.com", name="Buyer")
    product = stripe.Product.create(name="1,000 credits")
    price = stripe.Price.create(product=product.id, unit_amount=1000, currency="usd")
    session = stripe.checkout.Session.create(
        mode="payment",
        customer=customer.id,
        line_items=[{"price": price.id, "quantity": 1}],
        success_url=SUCCESS,
        invoice_creation={
            "enabled": True,
            "invoice_data": {"metadata": {"pack": "credits_1000"}, "footer": "Thanks"},
        },
    )
    assert session.invoice_creation is not None
    assert session.invoice_creation.enabled
    assert session.invoice is None  # created once the payment succeeds
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4242424242424242"},
    )
    assert status == 200, body
    final = stripe.checkout.Session.retrieve(session.id, expand=["invoice"])
    assert final.payment_status == "paid"
    invoice = final.invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.total, invoice.amount_paid) == ("paid", 1000, 1000)
    assert invoice.customer == customer.id
    assert invoice.metadata is not None
    assert invoice.metadata.to_dict() == {"pack": "credits_1000"}
    assert invoice.footer == "Thanks"
    assert [line.amount for line in invoice.lines.data] == [1000]
    assert invoice.lines.data[0].description == "1,000 credits"
    # No second payment: the invoice records the session's PaymentIntent.
    assert [pi.id for pi in stripe.PaymentIntent.list(customer=customer.id).data] == [
        final.payment_intent
    ]
    payments = stripe.InvoicePayment.list(invoice=invoice.id).data
    assert [p.payment.payment_intent for p in payments] == [final.payment_intent]
    types = event_types()
    assert "invoice.paid" in types
    assert "checkout.session.completed" in types


def test_payment_mode_without_invoice_creation_has_no_invoice(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="plain@example.com")
    product = stripe.Product.create(name="Credits")
    price = stripe.Price.create(product=product.id, unit_amount=500, currency="usd")
    session = stripe.checkout.Session.create(
        mode="payment",
        customer=customer.id,
        line_items=[{"price": price.id, "quantity": 1}],
        success_url=SUCCESS,
    )
    assert session.invoice_creation is not None
    assert not session.invoice_creation.enabled
    helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4242424242424242"},
    )
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.payment_status == "paid"
    assert final.invoice is None
    assert stripe.Invoice.list(customer=customer.id).data == []


def test_setup_mode_creates_a_setup_intent(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="saver@example.com")
    session = stripe.checkout.Session.create(
        mode="setup", currency="usd", customer=customer.id, success_url=SUCCESS
    )
    assert session.payment_status == "no_payment_required"
    assert session.amount_total is None
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    assert page.buttons() == ["Save card"]
    challenge = browser.follow(
        browser.submit(page, "Save card", {"card_number": "4000002500003155"})
    )
    done = browser.submit(challenge, "Complete authentication")
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id)
    assert final.status == "complete"
    seti = stripe.SetupIntent.retrieve(str(final.setup_intent))
    assert seti.status == "succeeded"
    pm = stripe.PaymentMethod.retrieve(str(seti.payment_method))
    assert pm.customer == customer.id
    assert "setup_intent.succeeded" in event_types()


def test_address_phone_terms_and_custom_text(emulator: EmulatorServer, plan: stripe.Price) -> None:
    session = make_session(
        plan,
        billing_address_collection="required",
        phone_number_collection={"enabled": True},
        consent_collection={"terms_of_service": "required"},
        custom_text={
            "submit": {"message": "Cancel any time from your account page."},
            "terms_of_service_acceptance": {"message": "I accept the Acme terms."},
        },
    )
    assert session.to_dict()["consent_collection"]["terms_of_service"] == "required"
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    for label in (
        "Address line 1",
        "City",
        "Postal code",
        "Country (2-letter code)",
        "Phone number",
    ):
        assert page.has_input(page.label_for(label)), label
    assert page.has_input(page.label_for("I accept the Acme terms."))
    assert "Cancel any time from your account page." in page.visible_text()
    fields = {
        "email": "addr@example.com",
        "card_number": "4242424242424242",
        "address_line1": "1 Main St",
        "address_city": "Springfield",
        "address_postal_code": "12345",
        "address_country": "us",
        "phone": "+1 555 0100",
    }
    missing = browser.submit(page, "Subscribe", {**fields, "address_city": ""})
    assert "Your city is incomplete." in missing.visible_text()
    no_terms = browser.submit(page, "Subscribe", fields)
    assert "You must agree to the terms of service" in no_terms.visible_text()
    done = browser.submit(page, "Subscribe", {**fields, "terms": "accepted"})
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id).to_dict()
    assert final["consent"]["terms_of_service"] == "accepted"
    assert final["customer_details"]["address"]["country"] == "US"
    assert final["customer_details"]["phone"] == "+1 555 0100"
    customer = stripe.Customer.retrieve(final["customer"]).to_dict()
    assert customer["address"]["line1"] == "1 Main St"
    assert customer["phone"] == "+1 555 0100"


def test_expires_at_param(emulator: EmulatorServer, plan: stripe.Price) -> None:
    now = int(time.time())
    session = make_session(plan, expires_at=now + 3600)
    assert session.expires_at == now + 3600
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(plan, expires_at=now + 60)
    assert exc.value.param == "expires_at"
    with pytest.raises(stripe.InvalidRequestError):
        make_session(plan, expires_at=now + 2 * 86400)


def test_subscription_with_one_time_setup_fee(emulator: EmulatorServer, plan: stripe.Price) -> None:
    fee_product = stripe.Product.create(name="Setup fee")
    fee = stripe.Price.create(product=fee_product.id, unit_amount=5000, currency="usd")
    session = make_session(
        plan,
        line_items=[{"price": plan.id, "quantity": 2}, {"price": fee.id, "quantity": 1}],
        subscription_data={"trial_period_days": 7},
    )
    # The trial defers the plan; the fee is due today.
    assert session.amount_subtotal == 5000
    assert session.amount_total == 5000
    page = Browser(emulator.url).get(session.url)
    text = page.visible_text()
    assert "Due today: $50.00 for one-time items." in text
    assert "Setup fee" in text
    assert "Qty 2" in text
    resp = pay(Browser(emulator.url), session, "4242424242424242")
    assert resp.status == 303
    done = stripe.checkout.Session.retrieve(session.id)
    assert done.payment_status == "paid"
    sub = stored(emulator, str(done.subscription))
    assert sub["status"] == "trialing"
    assert [(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]] == [(plan.id, 2)]
    invoice = stripe.Invoice.retrieve(str(done.invoice))
    assert invoice.amount_paid == 5000
    descriptions = [line.description or "" for line in invoice.lines.data]
    assert any("Setup fee" in d for d in descriptions), descriptions


def test_known_customer_can_pay_with_saved_card(
    emulator: EmulatorServer, plan: stripe.Price
) -> None:
    customer = stripe.Customer.create(email="saved@example.com", payment_method="pm_card_visa")
    pm = stripe.Customer.list_payment_methods(customer.id).data[0]
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    browser = Browser(emulator.url)

    typed = make_session(plan, customer=customer.id)
    page = browser.get(typed.url)
    assert page.has_input(page.label_for("Visa ending in 4242"))
    # A typed card number wins over the saved card.
    declined = browser.submit(page, "Subscribe", {"card_number": "4000000000000002"})
    assert "Your card was declined." in declined.visible_text()

    done = browser.submit(page, "Subscribe")  # saved card selected, nothing typed
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(typed.id)
    assert final.customer == customer.id
    sub = stored(emulator, str(final.subscription))
    assert sub["status"] == "active"
    assert sub["default_payment_method"] == pm.id
    assert len(stripe.Customer.list_payment_methods(customer.id).data) == 1


def test_coupon_scope_and_currency(emulator: EmulatorServer, plan: stripe.Price) -> None:
    other_product = stripe.Product.create(name="Add-on")
    addon = stripe.Price.create(
        product=other_product.id, unit_amount=1000, currency="usd", recurring={"interval": "month"}
    )
    items = [{"price": plan.id, "quantity": 1}, {"price": addon.id, "quantity": 1}]
    scoped = stripe.Coupon.create(
        amount_off=3000,
        currency="usd",
        duration="once",
        applies_to={"products": [other_product.id]},
    )
    session = make_session(plan, line_items=items, discounts=[{"coupon": scoped.id}])
    # Only the add-on's $10.00 can be discounted.
    assert session.to_dict()["total_details"]["amount_discount"] == 1000
    assert session.amount_total == 2000
    euros = stripe.Coupon.create(amount_off=500, currency="eur", duration="once")
    session = make_session(plan, line_items=items, discounts=[{"coupon": euros.id}])
    assert session.amount_total == 3000
    half = stripe.Coupon.create(percent_off=50, duration="once")
    session = make_session(plan, line_items=items, discounts=[{"coupon": half.id}])
    assert session.amount_total == 1500


def test_no_postal_code_is_asked_in_hong_kong(emulator: EmulatorServer, plan: stripe.Price) -> None:
    """Hong Kong has no postal codes: Checkout takes its address without one (not the US's)."""
    session = make_session(plan, billing_address_collection="required")
    browser = Browser(emulator.url)
    page = browser.get(session.url)
    assert "Leave empty where there are no postal codes" in page.visible_text()
    fields = {
        "email": "hk@example.com",
        "card_number": "4242424242424242",
        "address_line1": "1 Queen's Road Central",
        "address_city": "Central",
        "address_state": "Hong Kong Island",
        "address_country": "us",
    }
    missing = browser.submit(page, "Subscribe", fields)
    assert "Your postal code is incomplete." in missing.visible_text()
    done = browser.submit(page, "Subscribe", {**fields, "address_country": "hk"})
    assert done.status == 303
    final = stripe.checkout.Session.retrieve(session.id).to_dict()
    address = final["customer_details"]["address"]
    assert (address["country"], address["postal_code"]) == ("HK", None)
    assert stripe.Customer.retrieve(final["customer"]).to_dict()["address"]["country"] == "HK"
