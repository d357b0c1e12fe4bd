"""The legacy Plans API, served as a view of recurring prices (stock SDK)."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer


def test_plans_are_recurring_prices_under_the_same_id(emulator: EmulatorServer) -> None:
    product = stripe.Product.create(name="Pro")
    monthly = stripe.Price.create(
        product=product.id,
        unit_amount=4900,
        currency="usd",
        recurring={"interval": "month"},
        nickname="Pro monthly",
        metadata={"tier": "pro"},
    )
    yearly = stripe.Price.create(
        product=product.id,
        unit_amount=49000,
        currency="usd",
        recurring={"interval": "year", "trial_period_days": 14},
    )
    one_time = stripe.Price.create(product=product.id, unit_amount=500, currency="usd")
    other = stripe.Price.create(
        product=stripe.Product.create(name="Starter").id,
        unit_amount=1900,
        currency="usd",
        recurring={"interval": "month"},
    )
    stripe.Price.modify(other.id, active=False)

    plan = stripe.Plan.retrieve(monthly.id)
    assert plan.object == "plan"
    assert plan.id == monthly.id
    assert (plan.amount, plan.currency, plan.interval, plan.interval_count) == (
        4900,
        "usd",
        "month",
        1,
    )
    assert plan.product == product.id
    assert plan.nickname == "Pro monthly"
    assert plan.metadata is not None
    assert plan.metadata.to_dict() == {"tier": "pro"}
    assert plan.usage_type == "licensed"
    assert stripe.Plan.retrieve(yearly.id).trial_period_days == 14

    listed = [p.id for p in stripe.Plan.list().auto_paging_iter()]
    assert listed == [other.id, yearly.id, monthly.id]
    assert [p.id for p in stripe.Plan.list(product=product.id).data] == [yearly.id, monthly.id]
    assert [p.id for p in stripe.Plan.list(active=False).data] == [other.id]
    page = stripe.Plan.list(limit=1)
    assert page.has_more is True
    assert page.url == "/v1/plans"

    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Plan.retrieve(one_time.id)
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert str(err.value.user_message) == f"No such plan: '{one_time.id}'"


def test_subscription_item_plan_matches_the_plans_api(emulator: EmulatorServer) -> None:
    customer = stripe.Customer.create(email="plan@example.com")
    price = stripe.Price.create(
        product=stripe.Product.create(name="Pro").id,
        unit_amount=4900,
        currency="usd",
        recurring={"interval": "month"},
    )
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": price.id}],
        payment_behavior="default_incomplete",
    )
    item_plan = sub["items"].data[0].plan
    assert item_plan.to_dict() == stripe.Plan.retrieve(price.id).to_dict()
