"""Subscription schedules with the stock SDK: phases, transitions on clock advance, events."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import DAY, T0, advance, clock_customer, invoices_of, price, ts


def _schedule_events(sched_id: str) -> list[stripe.Event]:
    events = [
        e
        for e in stripe.Event.list(limit=100).auto_paging_iter()
        if e.type.startswith("subscription_schedule.") and e.data.object["id"] == sched_id
    ]
    events.reverse()
    return events


def _sub_events(sub_id: str, type_: str) -> list[stripe.Event]:
    events = [
        e
        for e in stripe.Event.list(limit=100, type=type_).auto_paging_iter()
        if e.data.object["id"] == sub_id
    ]
    events.reverse()
    return events


def test_schedule_defers_a_downgrade_to_the_period_end(emulator: EmulatorServer) -> None:
    """Pro until the period end, then Starter: from_subscription, two phases, advance."""
    clock, customer, _ = clock_customer()
    pro = price(4900, name="Pro")
    starter = price(1900, name="Starter")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": pro.id}])
    period_end = sub["items"].data[0].current_period_end
    assert period_end == ts(2026, 2, 1)

    sched = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    assert sched.status == "active"
    assert sched.end_behavior == "release"
    assert sched.subscription == sub.id
    assert sched.current_phase is not None
    assert (sched.current_phase.start_date, sched.current_phase.end_date) == (T0, period_end)
    assert [i.price for i in sched.phases[0]["items"]] == [pro.id]
    assert stripe.Subscription.retrieve(sub.id).schedule == sched.id
    expanded = stripe.Subscription.retrieve(sub.id, expand=["schedule"]).schedule
    assert isinstance(expanded, stripe.SubscriptionSchedule)
    assert expanded.id == sched.id
    assert stripe.SubscriptionSchedule.retrieve(sched.id, expand=["subscription"]).subscription
    updated = _sub_events(sub.id, "customer.subscription.updated")
    previous = updated[-1].data.previous_attributes
    assert previous is not None
    assert previous.to_dict() == {"schedule": None}

    sched = stripe.SubscriptionSchedule.modify(
        sched.id,
        phases=[
            {
                "items": [{"price": pro.id, "quantity": 1}],
                "start_date": sched.phases[0].start_date,
                "end_date": period_end,
            },
            {"items": [{"price": starter.id, "quantity": 1}], "duration": {"interval": "month"}},
        ],
    )
    assert len(sched.phases) == 2
    assert sched.phases[1].start_date == period_end
    assert sched.phases[1].end_date == ts(2026, 3, 1)
    # Nothing changes before the period ends: still Pro, no proration.
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub["items"].data[0].price.id == pro.id
    assert len(invoices_of(sub.id)) == 1

    advance(clock, period_end + 2 * 3600)
    sub = stripe.Subscription.retrieve(sub.id)
    assert [i.price.id for i in sub["items"].data] == [starter.id]
    assert sub.status == "active"
    renewal = invoices_of(sub.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.amount_due == 1900
    assert renewal.status == "paid"
    assert [line["pricing"]["price_details"]["price"] for line in renewal.lines.data] == [
        starter.id
    ]
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "active"
    assert sched.current_phase is not None
    assert sched.current_phase.start_date == period_end
    transition = _schedule_events(sched.id)[-1]
    assert transition.type == "subscription_schedule.updated"
    assert transition.created == period_end
    assert transition["request"]["id"] is None  # automatic: caused by no request
    assert transition.data.previous_attributes is not None
    assert transition.data.previous_attributes["current_phase"].to_dict() == {
        "start_date": T0,
        "end_date": period_end,
    }
    # The subscription changed items before its renewal invoice was made.
    sub_updates = _sub_events(sub.id, "customer.subscription.updated")
    item_change = next(
        e
        for e in sub_updates
        if e.created == period_end and "items" in (e.data.previous_attributes or {})
    )
    assert item_change.data.object["items"]["data"][0]["price"]["id"] == starter.id

    # The last phase ends a month later: the schedule releases the subscription.
    advance(clock, ts(2026, 3, 1, 2))
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "released"
    assert sched.released_subscription == sub.id
    assert sched.released_at == ts(2026, 3, 1)
    assert sched.subscription is None
    assert sched.current_phase is None
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.schedule is None
    assert sub.status == "active"
    assert [i.price.id for i in sub["items"].data] == [starter.id]
    assert invoices_of(sub.id)[-1].amount_due == 1900
    types = [e.type for e in _schedule_events(sched.id)]
    assert types[0] == "subscription_schedule.created"
    assert "subscription_schedule.expiring" in types
    assert types.index("subscription_schedule.expiring") < types.index(
        "subscription_schedule.released"
    )
    assert types[-1] == "subscription_schedule.released"
    expiring = next(e for e in _schedule_events(sched.id) if e.type.endswith("expiring"))
    assert expiring.created == ts(2026, 3, 1) - 7 * DAY


def test_schedule_with_future_start_creates_the_subscription_then(
    emulator: EmulatorServer,
) -> None:
    clock, customer, _ = clock_customer()
    basic = price(1000)
    start = T0 + 10 * DAY
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=start,
        end_behavior="cancel",
        phases=[{"items": [{"price": basic.id, "quantity": 2}], "duration": {"interval": "month"}}],
        metadata={"plan": "basic"},
    )
    assert sched.status == "not_started"
    assert sched.subscription is None
    assert sched.current_phase is None
    assert sched.phases[0].start_date == start
    assert sched.metadata is not None
    assert sched.metadata.to_dict() == {"plan": "basic"}
    assert stripe.Subscription.list(customer=customer.id).data == []

    advance(clock, start + 3600)
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "active"
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    assert sub.schedule == sched.id
    assert sub.start_date == start
    assert sub["items"].data[0].quantity == 2
    assert invoices_of(sub.id)[0].amount_due == 2000
    # end_behavior=cancel: the subscription shows the schedule's end as cancel_at.
    end = sched.phases[0].end_date
    assert sub.cancel_at == end

    advance(clock, end + 3600)
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "completed"
    assert sched.completed_at == end
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at == end
    types = [e.type for e in _schedule_events(sched.id)]
    assert types[0] == "subscription_schedule.created"
    assert "subscription_schedule.updated" in types  # started
    assert types[-1] == "subscription_schedule.completed"


def test_schedule_phase_change_mid_period_prorates(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer()
    basic, plus = price(1000), price(3000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[
            {"items": [{"price": basic.id}], "end_date": T0 + 15 * DAY},
            {
                "items": [{"price": plus.id}],
                "duration": {"interval": "month"},
                "proration_behavior": "always_invoice",
            },
        ],
    )
    assert sched.status == "active"
    sub_id = str(sched.subscription)
    created = _schedule_events(sched.id)[0]
    assert created.data.object["subscription"] == sub_id
    assert created.data.object["status"] == "active"

    advance(clock, T0 + 15 * DAY + 60)
    sub = stripe.Subscription.retrieve(sub_id)
    assert [i.price.id for i in sub["items"].data] == [plus.id]
    update_invoice = invoices_of(sub_id)[-1]
    assert update_invoice.billing_reason == "subscription_update"
    # 16 of January's 31 days left: credit 1000 x 16/31, charge 3000 x 16/31.
    assert update_invoice.amount_due == round(3000 * 16 / 31) - round(1000 * 16 / 31)


def test_schedule_update_keeps_the_current_phase_start(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    basic = price(1000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id, start_date="now", phases=[{"items": [{"price": basic.id}]}]
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.modify(
            sched.id,
            phases=[{"items": [{"price": basic.id}], "start_date": T0 + DAY}],
        )
    assert err.value.http_status == 400
    assert err.value.param == "phases"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.modify(sched.id, phases=[{"items": [{"price": basic.id}]}])
    assert err.value.code == "parameter_missing"
    assert err.value.param == "phases[0][start_date]"


def test_schedule_update_of_the_current_phase_prorates_now(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer()
    basic, plus = price(1000), price(3000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id, start_date="now", phases=[{"items": [{"price": basic.id}]}]
    )
    advance(clock, T0 + 15 * DAY)
    sched = stripe.SubscriptionSchedule.modify(
        sched.id,
        proration_behavior="always_invoice",
        phases=[{"items": [{"price": plus.id}], "start_date": T0, "end_date": ts(2026, 2, 1)}],
        metadata={"k": "v"},
    )
    assert sched.phases[0]["items"][0].price == plus.id
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    assert sub["items"].data[0].price.id == plus.id
    assert invoices_of(sub.id)[-1].amount_due == round(2000 * 16 / 31)
    last = _schedule_events(sched.id)[-1]
    assert last.type == "subscription_schedule.updated"
    previous = last.data.previous_attributes
    assert previous is not None
    assert previous["metadata"].to_dict() == {"k": None}


def test_schedule_release_and_cancel(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    basic = price(1000)
    first = stripe.SubscriptionSchedule.create(
        customer=customer.id, start_date="now", phases=[{"items": [{"price": basic.id}]}]
    )
    released = stripe.SubscriptionSchedule.release(first.id)
    assert released.status == "released"
    assert released.released_subscription == first.subscription
    assert stripe.Subscription.retrieve(str(first.subscription)).schedule is None
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.release(first.id)
    assert err.value.http_status == 400
    assert "`released`" in str(err.value.user_message)

    second = stripe.SubscriptionSchedule.create(
        customer=customer.id, start_date="now", phases=[{"items": [{"price": basic.id}]}]
    )
    canceled = stripe.SubscriptionSchedule.cancel(second.id)
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert stripe.Subscription.retrieve(str(second.subscription)).status == "canceled"
    assert _schedule_events(second.id)[-1].type == "subscription_schedule.canceled"

    listed = stripe.SubscriptionSchedule.list(customer=customer.id)
    assert [s.id for s in listed.data] == [second.id, first.id]
    assert stripe.SubscriptionSchedule.list(scheduled=True).data == []


def test_canceling_the_subscription_cancels_its_schedule(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price(1000).id}])
    sched = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    stripe.Subscription.cancel(sub.id)
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "canceled"
    assert _schedule_events(sched.id)[-1].type == "subscription_schedule.canceled"


def test_schedule_bad_input_gets_stripe_errors(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price(1000).id}])
    stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    assert err.value.param == "from_subscription"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(from_subscription=sub.id, customer=customer.id)
    assert err.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(customer=customer.id)
    assert err.value.code == "parameter_missing"
    assert err.value.param == "phases"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            phases=[{"items": [{"price": "price_missing"}]}],
        )
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            phases=[{"items": [{"price": price(1000).id}], "iterations": 2}],
        )
    assert "iterations" in str(err.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.retrieve("sub_sched_missing")
    assert err.value.http_status == 404


def test_schedule_renders_per_api_version(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[{"items": [{"price": price(1000).id}]}],
        stripe_version="2026-05-27.dahlia",
    )
    assert "pause_schedules" not in sched
    assert "trial" not in sched.phases[0]
    newest = stripe.SubscriptionSchedule.retrieve(sched.id, stripe_version="2026-10-28.endive")
    assert newest["pause_schedules"] == []
    assert newest.phases[0].trial is False


def test_schedule_aborts_when_dunning_cancels_the_subscription(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer()
    basic = price(1000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[
            {"items": [{"price": basic.id}], "duration": {"interval": "month"}},
            {
                "items": [{"price": basic.id}],
                "duration": {"interval": "month", "interval_count": 2},
            },
        ],
    )
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": failing.id})
    # The renewal at Feb 1 fails; retries 3, 5 and 7 days apart, then cancel.
    advance(clock, ts(2026, 2, 1, 2))
    advance(clock, ts(2026, 2, 20))
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    assert sub.status == "canceled"
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason == "payment_failed"
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "canceled"
    assert sched.current_phase is None
    assert _schedule_events(sched.id)[-1].type == "subscription_schedule.aborted"


def test_schedule_phases_with_a_metered_price(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer()
    meter = stripe.billing.Meter.create(
        display_name="API calls", event_name="api_call", default_aggregation={"formula": "sum"}
    )
    usage = stripe.Price.create(
        product=stripe.Product.create(name="API").id,
        currency="usd",
        unit_amount=3,
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
    )
    base, plus = price(1000), price(2000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[
            {"items": [{"price": base.id}, {"price": usage.id}], "end_date": ts(2026, 2, 1)},
            {"items": [{"price": plus.id}, {"price": usage.id}]},
        ],
    )
    assert [i.quantity for i in sched.phases[0]["items"]] == [1, None]
    advance(clock, ts(2026, 2, 1, 2))
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    prices = {i.price.id: i.quantity for i in sub["items"].data}
    assert prices == {plus.id: 1, usage.id: None}
    # The metered item was kept (same price), not replaced.
    assert invoices_of(sub.id)[-1].amount_due == 2000


def test_schedule_of_an_expired_incomplete_subscription_ends(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer(card="pm_card_chargeCustomerFail")
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[
            {"items": [{"price": price(1000).id}], "end_date": T0 + 2 * DAY},
            {"items": [{"price": price(2000).id}]},
        ],
    )
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    assert sub.status == "incomplete"
    advance(clock, T0 + 3 * DAY)
    assert stripe.Subscription.retrieve(sub.id).status == "incomplete_expired"
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "canceled"
    assert _schedule_events(sched.id)[-1].type == "subscription_schedule.canceled"


def test_schedule_managed_subscription_refuses_direct_cancellation_changes(
    emulator: EmulatorServer,
) -> None:
    _clock, customer, _ = clock_customer()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price(1000).id}])
    sched = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert err.value.http_status == 400
    assert str(err.value.user_message) == (
        f"The subscription is managed by the subscription schedule `{sched.id}`, and updating "
        "any cancelation behavior directly is not allowed. Please update the schedule instead."
    )
    # Other fields still update; after a release the cancellation goes through.
    assert stripe.Subscription.modify(sub.id, metadata={"k": "v"}).metadata is not None
    stripe.SubscriptionSchedule.release(sched.id)
    assert stripe.Subscription.modify(sub.id, cancel_at_period_end=True).cancel_at_period_end


def test_schedule_phases_carry_tax_rates(emulator: EmulatorServer) -> None:
    clock, customer, _ = clock_customer()
    sales = stripe.TaxRate.create(display_name="Sales tax", percentage=10, inclusive=False)
    basic = price(1000)
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[
            {
                "items": [{"price": basic.id}],
                "default_tax_rates": [sales.id],
                "end_date": ts(2026, 2, 1),
            },
            {"items": [{"price": basic.id}]},
        ],
    )
    assert [r.id for r in sched.phases[0].default_tax_rates or []] == [sales.id]
    sub = stripe.Subscription.retrieve(str(sched.subscription))
    assert [r.id for r in sub.default_tax_rates or []] == [sales.id]
    assert invoices_of(sub.id)[0].amount_due == 1100
    advance(clock, ts(2026, 2, 1, 2))
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.default_tax_rates == []
    renewal = invoices_of(sub.id)[-1]
    assert renewal.amount_due == 1000
    assert renewal["total_taxes"] == []

    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            phases=[{"items": [{"price": basic.id, "tax_rates": ["txr_missing"]}]}],
        )
    assert err.value.param == "phases[0][items][0][tax_rates][0]"
    assert err.value.code == "resource_missing"


def test_deleting_the_customer_cancels_a_schedule_that_has_not_started(
    emulator: EmulatorServer,
) -> None:
    clock, customer, _ = clock_customer()
    sched = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=T0 + 5 * DAY,
        phases=[{"items": [{"price": price(1000).id}]}],
    )
    stripe.Customer.delete(customer.id)
    sched = stripe.SubscriptionSchedule.retrieve(sched.id)
    assert sched.status == "canceled"
    advance(clock, T0 + 6 * DAY)  # nothing left to start
    assert stripe.SubscriptionSchedule.retrieve(sched.id).subscription is None


def test_preview_of_a_scheduled_downgrade_bills_the_next_phase(emulator: EmulatorServer) -> None:
    _clock, customer, _ = clock_customer()
    pro, starter = price(4900, name="Pro"), price(1900, name="Starter")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": pro.id}])
    sched = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    before = stripe.Invoice.create_preview(subscription=sub.id)
    assert before.amount_due == 4900
    stripe.SubscriptionSchedule.modify(
        sched.id,
        phases=[
            {"items": [{"price": pro.id}], "start_date": T0, "end_date": ts(2026, 2, 1)},
            {"items": [{"price": starter.id}], "duration": {"interval": "month"}},
        ],
    )
    upcoming = stripe.Invoice.create_preview(subscription=sub.id)
    assert upcoming.amount_due == 1900
    assert upcoming.period_start == ts(2026, 2, 1)
    assert stripe.Invoice.create_preview(schedule=sched.id).amount_due == 1900
    # A preview changes nothing.
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].price.id == pro.id
    assert stripe.SubscriptionSchedule.retrieve(sched.id).current_phase is not None
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.create_preview(schedule=sched.id, subscription=sub.id)
    assert err.value.param == "schedule"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Invoice.create_preview(
            customer=customer.id, schedule_details={"phases": [{"items": [{"price": pro.id}]}]}
        )
    assert err.value.param == "schedule_details"
