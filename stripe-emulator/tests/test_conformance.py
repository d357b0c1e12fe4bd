"""The conformance checker itself: it must catch what it claims to catch."""

from __future__ import annotations

import copy
import json

import stripe

from stripe_emulator import EmulatorServer
from stripe_emulator.conformance import ConformanceCollector, check, coverage, fixtures


def _sample(name: str) -> dict[str, object]:
    return copy.deepcopy(fixtures()[name])


def test_stripe_sample_customer_conforms() -> None:
    assert check(_sample("customer")) == []


def test_detects_unknown_field_like_removed_subscription_periods() -> None:
    sub = _sample("subscription")
    sub["current_period_end"] = 123
    assert any("current_period_end: not a field" in p for p in check(sub))


def test_detects_missing_required_field_bad_enum_and_bad_type() -> None:
    cus = _sample("customer")
    del cus["livemode"]
    cus["tax_exempt"] = "sometimes"
    cus["balance"] = "0"
    problems = "\n".join(check(cus))
    assert "livemode: required field missing" in problems
    assert "tax_exempt: 'sometimes' not in" in problems
    assert "balance" in problems


def test_checks_nested_and_expanded_objects() -> None:
    price = _sample("price")
    price["recurring"] = {"interval": "month"}  # missing nested fields
    price["product"] = {"id": "prod_1", "object": "product"}  # expanded but incomplete
    problems = "\n".join(check(price))
    assert "recurring.interval_count: required field missing" in problems
    assert "product.name: required field missing" in problems


def test_coverage_lists_fields_missing_against_fixtures() -> None:
    cus = _sample("customer")
    del cus["invoice_prefix"]
    assert coverage(cus) == ["invoice_prefix"]


def test_collector_reports_violations_and_bad_errors() -> None:
    collector = ConformanceCollector()
    collector.hook("GET", "/v1/customers/x", 200, {"id": "x", "object": "customer"})
    collector.hook("GET", "/v1/x", 400, {"message": "no error hash"})
    problems = collector.violations()
    assert any("required field missing" in p for p in problems)
    assert any("without an `error` hash" in p for p in problems)


def test_every_emulator_object_type_conforms_and_coverage_report(
    emulator: EmulatorServer,
) -> None:
    collector = ConformanceCollector()
    emulator.emulator.response_hooks.append(collector.hook)
    try:
        product = stripe.Product.create(name="P")
        stripe.Price.create(
            product=product.id, currency="usd", unit_amount=5, expand=["currency_options", "tiers"]
        )
        cus = stripe.Customer.create(payment_method="pm_card_visa")
        stripe.Customer.list_payment_methods(cus.id)
        coupon = stripe.Coupon.create(amount_off=100, currency="usd", duration="once")
        stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id})
        stripe.WebhookEndpoint.create(url="http://127.0.0.1:9/x", enabled_events=["*"])
        stripe.test_helpers.TestClock.create(frozen_time=1_700_000_000)
        stripe.Event.list(limit=100)
    finally:
        emulator.emulator.response_hooks.remove(collector.hook)
    assert collector.violations() == []
    report = collector.report()
    for name in (
        "product",
        "price",
        "customer",
        "payment_method",
        "coupon",
        "promotion_code",
        "webhook_endpoint",
        "test_helpers.test_clock",
        "event",
    ):
        assert name in collector.seen, report
    # The field-coverage report (vs Stripe's samples) for the core objects is complete.
    for name in ("customer", "product", "price", "webhook_endpoint", "coupon"):
        assert collector.missing[name] == set(), json.dumps(sorted(collector.missing[name]))
