"""Resources through the real stripe SDK: catalog, customers, payment methods,
discounts, entitlements, meters, test clocks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer, clock
from stripe_emulator.context import Ctx
from stripe_emulator.resources.entitlements import recompute_active_entitlements


def _event_types() -> list[str]:
    return [e.type for e in stripe.Event.list(limit=100).auto_paging_iter()]


# -- products and prices ------------------------------------------------------


def test_product_crud_and_events(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="Pro", metadata={"tier": "pro"})
    assert product.active is True
    assert product.default_price is None
    updated = stripe.Product.modify(product.id, description="Best plan")
    assert updated.description == "Best plan"
    assert updated.updated >= product.updated
    archived = stripe.Product.modify(product.id, active=False)
    assert archived.active is False
    assert [p.id for p in stripe.Product.list(active=False).data] == [product.id]
    assert stripe.Product.list(active=True).data == []
    assert stripe.Product.delete(product.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Product.retrieve(product.id)
    assert info.value.http_status == 404
    assert _event_types() == [
        "product.deleted",
        "product.updated",
        "product.updated",
        "product.created",
    ]
    previous = stripe.Event.list(type="product.updated").data[0].to_dict()
    assert previous["data"]["previous_attributes"]["active"] is True


def test_product_with_default_price_data_and_custom_id(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(
        id="prod_custom",
        name="Team",
        default_price_data={
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
        },
        expand=["default_price"],
    )
    assert product.id == "prod_custom"
    price = product.default_price
    assert isinstance(price, stripe.Price)
    assert price.unit_amount == 1500
    assert price.product == "prod_custom"
    assert price.type == "recurring"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.delete(product.id)  # it has prices
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.create(id="prod_custom", name="dup")


def test_price_create_and_validation(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="P")
    price = stripe.Price.create(
        product=product.id,
        currency="USD",
        unit_amount=2000,
        recurring={"interval": "year", "interval_count": 1},
        nickname="yearly",
    )
    assert price.currency == "usd"
    assert price.unit_amount_decimal == 2000
    assert price.recurring is not None
    assert price.recurring.interval == "year"
    assert price.recurring.usage_type == "licensed"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Price.create(product=product.id, currency="usd")
    assert info.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Price.create(product="prod_nope", currency="usd", unit_amount=1)
    assert info.value.param == "product"
    assert info.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Price.create(
            product=product.id, currency="usd", unit_amount=1, recurring={"interval": "fortnight"}
        )
    assert info.value.param == "recurring[interval]"


def test_price_lookup_keys_and_transfer(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="P")
    old = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=1000,
        lookup_key="pro_monthly",
        recurring={"interval": "month"},
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Price.create(
            product=product.id, currency="usd", unit_amount=1200, lookup_key="pro_monthly"
        )
    assert info.value.param == "lookup_key"
    new = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=1200,
        lookup_key="pro_monthly",
        transfer_lookup_key=True,
        recurring={"interval": "month"},
    )
    assert stripe.Price.retrieve(old.id).lookup_key is None
    found = stripe.Price.list(lookup_keys=["pro_monthly", "other"])
    assert [p.id for p in found.data] == [new.id]
    archived = stripe.Price.modify(old.id, active=False)
    assert archived.active is False
    assert [p.id for p in stripe.Price.list(active=True).data] == [new.id]
    assert [p.id for p in stripe.Price.list(product=product.id, type="recurring").data] == [
        new.id,
        old.id,
    ]
    searched = stripe.Price.search(query="lookup_key:'pro_monthly' AND active:'true'")
    assert [p.id for p in searched.data] == [new.id]
    event = stripe.Event.list(type="price.updated").data[-1].to_dict()
    assert event["data"]["previous_attributes"] == {"lookup_key": "pro_monthly"}
    assert event["data"]["object"]["id"] == old.id


def test_price_includables_need_expand(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="P")
    price = stripe.Price.create(
        product=product.id,
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 10, "unit_amount": 100}, {"up_to": "inf", "unit_amount": 50}],
        currency_options={"eur": {"unit_amount": 90}},
        recurring={"interval": "month"},
    )
    plain = stripe.Price.retrieve(price.id).to_dict()
    assert "tiers" not in plain
    assert "currency_options" not in plain
    full = stripe.Price.retrieve(price.id, expand=["tiers", "currency_options", "product"])
    assert full.tiers is not None
    assert [t.up_to for t in full.tiers] == [10, None]
    assert full.currency_options is not None
    assert full.to_dict()["currency_options"]["eur"]["unit_amount"] == 90
    assert isinstance(full.product, stripe.Product)
    listed = stripe.Price.list(expand=["data.product", "data.tiers"])
    assert isinstance(listed.data[0].product, stripe.Product)


def test_product_and_customer_search(emulator: EmulatorServer) -> None:
    stripe.Product.create(name="Gold plan", metadata={"kind": "plan"})
    stripe.Product.create(name="Addon", metadata={"kind": "addon"})
    hits = stripe.Product.search(query="name~'gold'")
    assert [p.name for p in hits.data] == ["Gold plan"]
    assert len(stripe.Product.search(query="-metadata['kind']:'plan'").data) == 1


# -- customers and payment methods ----------------------------------------------


def test_payment_method_tokens_attach_and_default(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(email="pm@example.com")
    pm = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    assert pm.id.startswith("pm_")
    assert pm.id != "pm_card_visa"
    assert pm.customer == cus.id
    assert pm.card is not None
    assert (pm.card.brand, pm.card.last4) == ("visa", "4242")
    assert pm.card.fingerprint
    cus = stripe.Customer.modify(
        cus.id,
        invoice_settings={"default_payment_method": pm.id},
        expand=["invoice_settings.default_payment_method"],
    )
    assert cus.invoice_settings is not None
    default = cus.invoice_settings.default_payment_method
    assert isinstance(default, stripe.PaymentMethod)
    assert default.id == pm.id
    detached = stripe.PaymentMethod.detach(pm.id)
    assert detached.customer is None
    assert stripe.Customer.retrieve(cus.id).invoice_settings.default_payment_method is None  # type: ignore[union-attr]
    types = _event_types()
    assert "payment_method.attached" in types
    assert "payment_method.detached" in types
    with pytest.raises(stripe.InvalidRequestError):
        stripe.PaymentMethod.attach(pm.id, customer=cus.id)  # detached ones are spent


def test_default_payment_method_must_be_attached(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create()
    loose = stripe.PaymentMethod.create(type="card", card={"token": "tok_visa"})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.modify(cus.id, invoice_settings={"default_payment_method": loose.id})
    assert info.value.param == "invoice_settings[default_payment_method]"


def test_customer_create_with_payment_method_and_test_clock(emulator: EmulatorServer) -> None:
    tclock = stripe.test_helpers.TestClock.create(frozen_time=1_750_000_000, name="c")
    cus = stripe.Customer.create(payment_method="pm_card_mastercard", test_clock=tclock.id)
    assert cus.test_clock == tclock.id
    methods = stripe.Customer.list_payment_methods(cus.id, type="card")
    assert [m.card.brand for m in methods.data] == ["mastercard"]  # type: ignore[union-attr]
    assert stripe.Customer.list(test_clock=tclock.id).data[0].id == cus.id
    one = stripe.Customer.retrieve_payment_method(cus.id, methods.data[0].id)
    assert one.id == methods.data[0].id


@pytest.mark.parametrize(
    ("token", "decline_code", "code"),
    [
        ("pm_card_visa_chargeDeclined", "generic_decline", "card_declined"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds", "card_declined"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ],
)
def test_decline_cards_cannot_be_attached(
    emulator: EmulatorServer, token: str, decline_code: str, code: str
) -> None:
    cus = stripe.Customer.create()
    with pytest.raises(stripe.CardError) as info:
        stripe.PaymentMethod.attach(token, customer=cus.id)
    assert info.value.http_status == 402
    assert info.value.code == code
    assert info.value.error is not None
    assert info.value.error.decline_code == decline_code
    assert stripe.PaymentMethod.list(customer=cus.id, type="card").data == []


def test_charge_customer_fail_card_attaches(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create()
    pm = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    assert pm.card is not None
    assert pm.card.last4 == "0341"
    stored = emulator.emulator.store.get(pm.id)
    assert stored is not None
    assert stored["_test_card"]["behaviour"] == "charge_fail"


def test_card_numbers_and_incorrect_number(emulator: EmulatorServer) -> None:
    pm = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4000002760003184", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        billing_details={"name": "Jenny Rosen", "email": "jenny@example.com"},
    )
    assert pm.card is not None
    assert pm.card.last4 == "3184"
    assert pm.card.checks is not None
    assert pm.card.checks.cvc_check == "pass"
    assert pm.billing_details.name == "Jenny Rosen"
    with pytest.raises(stripe.CardError) as info:
        stripe.PaymentMethod.create(
            type="card", card={"number": "4242424242424241", "exp_month": 1, "exp_year": 2035}
        )
    assert info.value.code == "incorrect_number"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.PaymentMethod.create(type="card", card={"number": "4242424242424242"})
    assert missing.value.param == "card[exp_month]"


def test_payment_method_update_requires_customer(emulator: EmulatorServer) -> None:
    pm = stripe.PaymentMethod.create(type="card", card={"token": "tok_visa"})
    with pytest.raises(stripe.InvalidRequestError):
        stripe.PaymentMethod.modify(pm.id, metadata={"a": "b"})
    cus = stripe.Customer.create()
    stripe.PaymentMethod.attach(pm.id, customer=cus.id)
    updated = stripe.PaymentMethod.modify(pm.id, card={"exp_year": 2040}, metadata={"a": "b"})
    assert updated.card is not None
    assert updated.card.exp_year == 2040
    assert "payment_method.updated" in _event_types()


# -- coupons and promotion codes ------------------------------------------------


def test_coupons_and_promotion_codes(emulator: EmulatorServer) -> None:
    coupon = stripe.Coupon.create(
        percent_off=25, duration="repeating", duration_in_months=3, name="Quarter off"
    )
    assert coupon.valid is True
    assert coupon.percent_off == 25
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Coupon.create(duration="once")  # neither percent_off nor amount_off
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Coupon.create(amount_off=500, duration="once")  # no currency
    promo = stripe.PromotionCode.create(
        promotion={"type": "coupon", "coupon": coupon.id}, code="SPRING25", max_redemptions=10
    )
    assert promo.code == "SPRING25"
    assert promo.promotion.coupon == coupon.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.PromotionCode.create(
            promotion={"type": "coupon", "coupon": coupon.id}, code="spring25"
        )
    assert info.value.param == "code"
    assert [p.id for p in stripe.PromotionCode.list(code="SPRING25").data] == [promo.id]
    off = stripe.PromotionCode.modify(promo.id, active=False)
    assert off.active is False
    expanded = stripe.PromotionCode.retrieve(promo.id, expand=["promotion.coupon"])
    assert isinstance(expanded.promotion.coupon, stripe.Coupon)
    assert stripe.Coupon.delete(coupon.id).deleted is True
    assert _event_types()[:3] == [
        "coupon.deleted",
        "promotion_code.updated",
        "promotion_code.created",
    ]


# -- entitlements ------------------------------------------------------------


def test_features_and_product_features(emulator: EmulatorServer) -> None:
    feature = stripe.entitlements.Feature.create(name="Exports", lookup_key="exports")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.entitlements.Feature.create(name="Dup", lookup_key="exports")
    product = stripe.Product.create(name="Pro")
    pf = stripe.Product.create_feature(product.id, entitlement_feature=feature.id)
    assert pf.entitlement_feature.lookup_key == "exports"
    assert [f.id for f in stripe.Product.list_features(product.id).data] == [pf.id]
    assert stripe.Product.retrieve_feature(product.id, pf.id).id == pf.id
    assert stripe.Product.delete_feature(product.id, pf.id).deleted is True
    assert stripe.Product.list_features(product.id).data == []
    stripe.entitlements.Feature.modify(feature.id, active=False)
    assert stripe.entitlements.Feature.list().data == []
    assert [f.id for f in stripe.entitlements.Feature.list(archived=True).data] == [feature.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.create_feature(product.id, entitlement_feature=feature.id)


def _store_subscription(emulator: EmulatorServer, customer: str, price: str, status: str) -> str:
    sub = {
        "id": "sub_test_" + status,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "created": 1,
        "items": {"object": "list", "data": [{"price": price}]},
    }
    emulator.emulator.store.put(sub)
    return str(sub["id"])


def test_active_entitlements_follow_subscriptions(emulator: EmulatorServer) -> None:
    feature = stripe.entitlements.Feature.create(name="Seats", lookup_key="seats")
    product = stripe.Product.create(name="Pro")
    stripe.Product.create_feature(product.id, entitlement_feature=feature.id)
    price = stripe.Price.create(
        product=product.id, currency="usd", unit_amount=100, recurring={"interval": "month"}
    )
    cus = stripe.Customer.create()
    assert stripe.entitlements.ActiveEntitlement.list(customer=cus.id).data == []
    emu = emulator.emulator
    sub_id = _store_subscription(emulator, cus.id, price.id, "active")
    with emu.store.atomic():
        assert recompute_active_entitlements(emu.context(), cus.id) is True
        assert recompute_active_entitlements(emu.context(), cus.id) is False
    emu.dispatcher.notify()
    ents = stripe.entitlements.ActiveEntitlement.list(customer=cus.id)
    assert [e.lookup_key for e in ents.data] == ["seats"]
    assert stripe.entitlements.ActiveEntitlement.retrieve(ents.data[0].id).feature == feature.id
    summary = stripe.Event.list(type="entitlements.active_entitlement_summary.updated").data[0]
    body = summary.to_dict()
    assert body["data"]["object"]["customer"] == cus.id
    assert [e["lookup_key"] for e in body["data"]["object"]["entitlements"]["data"]] == ["seats"]
    assert body["request"]["id"] is None
    # Attaching a feature changes no existing customer's entitlements (Stripe
    # applies it at their next billing period) and sends no event.
    extra = stripe.entitlements.Feature.create(name="API", lookup_key="api")
    stripe.Product.create_feature(product.id, entitlement_feature=extra.id)
    keys = {e.lookup_key for e in stripe.entitlements.ActiveEntitlement.list(customer=cus.id).data}
    assert keys == {"seats"}
    assert len(stripe.Event.list(type="entitlements.active_entitlement_summary.updated").data) == 1
    sub = emu.store.get(sub_id)
    assert sub is not None
    sub["status"] = "canceled"
    emu.store.put(sub)
    with emu.store.atomic():
        assert recompute_active_entitlements(emu.context(), cus.id) is True
    assert stripe.entitlements.ActiveEntitlement.list(customer=cus.id).data == []


# -- meters ------------------------------------------------------------------


def test_meters_and_meter_events(emulator: EmulatorServer) -> None:
    meter = stripe.billing.Meter.create(
        display_name="API calls", event_name="api_call", default_aggregation={"formula": "sum"}
    )
    # Meter events must be dated within 35 days before the customer's time.
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_700_000_200)
    cus = stripe.Customer.create(test_clock=clock.id)
    for value in ("3", "4"):
        event = stripe.billing.MeterEvent.create(
            event_name="api_call",
            payload={"stripe_customer_id": cus.id, "value": value},
            timestamp=1_700_000_100,
        )
        assert event.event_name == "api_call"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.billing.MeterEvent.create(event_name="nope", payload={"value": "1"})
    summaries = stripe.billing.Meter.list_event_summaries(
        meter.id, customer=cus.id, start_time=1_700_000_000, end_time=1_700_003_600
    )
    assert [s.aggregated_value for s in summaries.data] == [7.0]
    off = stripe.billing.Meter.deactivate(meter.id)
    assert off.status == "inactive"
    assert stripe.billing.Meter.reactivate(meter.id).status == "active"
    assert "billing.meter.deactivated" in _event_types()


# -- test clocks --------------------------------------------------------------


@pytest.fixture
def advance_recorder() -> Iterator[list[tuple[str, int, int]]]:
    calls: list[tuple[str, int, int]] = []

    def handler(ctx: Ctx, tclock: dict[str, Any], target: int) -> None:
        calls.append((tclock["id"], tclock["frozen_time"], target))
        if target == 1_700_099_999:
            raise RuntimeError("boom")

    clock.register_advance_handler(handler)
    yield calls
    clock.ADVANCE_HANDLERS.remove(handler)


def test_test_clock_lifecycle_and_advance_hook(
    emulator: EmulatorServer, advance_recorder: list[tuple[str, int, int]]
) -> None:
    tclock = stripe.test_helpers.TestClock.create(frozen_time=1_700_000_000, name="billing")
    assert tclock.status == "ready"
    advanced = stripe.test_helpers.TestClock.advance(tclock.id, frozen_time=1_700_086_400)
    assert advanced.status == "advancing"
    assert advance_recorder == [(tclock.id, 1_700_000_000, 1_700_086_400)]
    after = stripe.test_helpers.TestClock.retrieve(tclock.id)
    assert (after.status, after.frozen_time) == ("ready", 1_700_086_400)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.test_helpers.TestClock.advance(tclock.id, frozen_time=1_700_000_000)
    types = _event_types()
    assert types[:3] == [
        "test_helpers.test_clock.ready",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
    ]
    stripe.test_helpers.TestClock.advance(tclock.id, frozen_time=1_700_099_999)
    failed = stripe.test_helpers.TestClock.retrieve(tclock.id)
    assert failed.status == "internal_failure"
    assert [c.id for c in stripe.test_helpers.TestClock.list().data] == [tclock.id]
    assert stripe.test_helpers.TestClock.delete(tclock.id).deleted is True
    assert stripe.test_helpers.TestClock.list().data == []


def test_test_clock_with_customer_param(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create()
    tclock = stripe.test_helpers.TestClock.create(frozen_time=1_700_000_000, customer=cus.id)
    assert stripe.Customer.retrieve(cus.id).test_clock == tclock.id
    stripe.test_helpers.TestClock.delete(tclock.id)
    assert stripe.Customer.retrieve(cus.id).deleted is True


def test_account(emulator: EmulatorServer) -> None:
    account = stripe.Account.retrieve()
    assert account.id.startswith("acct_")
    assert account.charges_enabled is True
