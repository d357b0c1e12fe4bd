"""Pause on demand (POST /v1/subscriptions/{id}/pause, 2026-09-30.endive) and resume.

The project's stripe-python (15.x) predates the endpoint, so the stock SDK's
`raw_request` sends it, with the API version each test names.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .billing_helpers import DAY, T0, advance, clock_customer, invoices_of, price

ENDIVE = "2026-09-30.endive"


def _pause(client: stripe.StripeClient, sub_id: str, version: str, **params: Any) -> Any:
    resp = client.raw_request(
        "post", f"/v1/subscriptions/{sub_id}/pause", stripe_version=version, **params
    )
    return client.deserialize(resp, api_mode="V1")


def _active_subscription(amount: int = 3100) -> tuple[Any, stripe.Subscription]:
    clock, customer, _ = clock_customer()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price(amount).id}])
    assert sub.status == "active"
    return clock, sub


def test_pause_stops_invoicing_and_credits_unused_time(
    emulator: EmulatorServer, client: stripe.StripeClient
) -> None:
    clock, sub = _active_subscription()
    advance(clock, T0 + 10 * DAY)
    paused = _pause(client, sub.id, ENDIVE, type="subscription")
    assert paused.status == "paused"
    details = paused.status_details.paused
    assert details.type == "subscription"
    assert details.subscription.type == "pause_requested"
    assert details.transitioned_at == T0 + 10 * DAY
    # Default bill_for.unused_time_from=now, invoicing_behavior=pending_invoice_item:
    # 21 of January's 31 days unused on a 3100 price, credited on a pending item.
    pending = stripe.InvoiceItem.list(customer=str(paused.customer), pending=True).data
    assert [i.amount for i in pending] == [-2100]
    events = stripe.Event.list(limit=10).data
    types = [e.type for e in events]
    assert types.index("customer.subscription.paused") < types.index(
        "customer.subscription.updated"
    )  # newest first: paused after updated
    updated = next(e for e in events if e.type == "customer.subscription.updated")
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["status"] == "active"

    # Paused: no renewal at the period end.
    advance(clock, T0 + 40 * DAY)
    assert len(invoices_of(sub.id)) == 1
    assert stripe.Subscription.retrieve(sub.id).status == "paused"

    resumed = stripe.Subscription.resume(sub.id)
    assert resumed.status == "active"
    assert resumed.billing_cycle_anchor == T0 + 40 * DAY
    latest = invoices_of(sub.id)[-1]
    # The new period is billed at once, the pause credit taken off it.
    assert latest.amount_due == 3100 - 2100
    assert latest.status == "paid"
    fresh = client.v1.subscriptions.retrieve(sub.id, options={"stripe_version": ENDIVE})
    assert fresh["status_details"] is None


def test_pause_options_and_refusals(emulator: EmulatorServer, client: stripe.StripeClient) -> None:
    clock, sub = _active_subscription()
    advance(clock, T0 + 10 * DAY)
    paused = _pause(
        client,
        sub.id,
        "2026-10-28.endive",
        bill_for={"unused_time_from": {"type": "none"}},
    )
    assert paused.status == "paused"
    assert stripe.InvoiceItem.list(customer=str(paused.customer), pending=True).data == []
    with pytest.raises(stripe.InvalidRequestError) as err:
        _pause(client, sub.id, ENDIVE)
    assert err.value.http_status == 400
    assert "`paused`" in str(err.value.user_message)

    _clock, other = _active_subscription()
    with pytest.raises(stripe.InvalidRequestError) as err:
        _pause(client, other.id, ENDIVE, invoicing_behavior="later")
    assert err.value.param == "invoicing_behavior"
    stripe.SubscriptionSchedule.create(from_subscription=other.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        _pause(client, other.id, ENDIVE)
    assert "schedule" in str(err.value.user_message)


@pytest.mark.parametrize(
    "version", ["2026-05-27.dahlia", "2026-06-24.dahlia", "2026-07-29.dahlia", "2026-08-26.dahlia"]
)
def test_pause_is_refused_before_endive(
    emulator: EmulatorServer, client: stripe.StripeClient, version: str
) -> None:
    _clock, sub = _active_subscription()
    with pytest.raises(stripe.InvalidRequestError) as err:
        _pause(client, sub.id, version)
    assert err.value.http_status == 400
    assert err.value.code is None
    assert err.value.param is None
    expected = " ".join(
        (
            f"Pausing subscriptions is not supported on API version {version}.",
            "Update your API version, or set the API Version of this request to",
            "2026-09-30.endive or greater.",
        )
    )
    assert str(err.value.user_message) == expected
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_pause_collection_still_keeps_the_subscription_active(emulator: EmulatorServer) -> None:
    clock, sub = _active_subscription()
    sub = stripe.Subscription.modify(sub.id, pause_collection={"behavior": "void"})
    assert sub.status == "active"
    assert sub.pause_collection is not None
    assert sub.pause_collection.behavior == "void"
    advance(clock, T0 + 32 * DAY)
    assert invoices_of(sub.id)[-1].status == "void"


def _resume(client: stripe.StripeClient, sub_id: str, version: str, **params: Any) -> Any:
    resp = client.raw_request(
        "post", f"/v1/subscriptions/{sub_id}/resume", stripe_version=version, **params
    )
    return client.deserialize(resp, api_mode="V1")


def test_resume_takes_each_versions_billing_cycle_anchor(
    emulator: EmulatorServer, client: stripe.StripeClient
) -> None:
    clock, sub = _active_subscription()
    _pause(client, sub.id, ENDIVE, bill_for={"unused_time_from": {"type": "none"}})
    advance(clock, T0 + 5 * DAY)
    # endive: an object with `type` (changelog endive/2026-09-30/polymorphic-billing-cycle-anchor)
    with pytest.raises(stripe.InvalidRequestError) as err:
        _resume(client, sub.id, ENDIVE, billing_cycle_anchor="unchanged")
    assert err.value.param == "billing_cycle_anchor"
    resumed = _resume(
        client,
        sub.id,
        ENDIVE,
        billing_cycle_anchor={"type": "unchanged"},
        payment_behavior="resume_on_payment_success",
    )
    assert resumed.status == "active"
    assert resumed.billing_cycle_anchor == T0
    assert resumed["items"].data[0].current_period_end == T0 + 31 * DAY

    # dahlia: a string, and no payment_behavior yet.
    _pause(client, sub.id, ENDIVE, bill_for={"unused_time_from": {"type": "none"}})
    with pytest.raises(stripe.InvalidRequestError) as err:
        _resume(client, sub.id, "2026-08-26.dahlia", payment_behavior="resume_on_payment_attempt")
    assert err.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as err:
        _resume(client, sub.id, "2026-08-26.dahlia", billing_cycle_anchor={"type": "now"})
    assert err.value.param == "billing_cycle_anchor"
    resumed = stripe.Subscription.resume(sub.id, billing_cycle_anchor="now")
    assert resumed.billing_cycle_anchor == T0 + 5 * DAY


@pytest.mark.pypi
def test_pause_and_schedule_with_current_stripe_python(emulator: EmulatorServer) -> None:
    """stripe-python 16+'s own `subscriptions.pause` and `subscription_schedules` calls."""
    from .test_sdk_lifecycle import VENV_ROOT, _clean_env, current_sdk_python

    python = current_sdk_python()
    script = Path(__file__).with_name("sdk_pause_schedule.py")
    done = subprocess.run(
        [str(python), str(script), emulator.url],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
        cwd=VENV_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert int(result["sdk"].split(".")[0]) >= 16
    assert result["paused"] == {"status": "paused", "reason": "pause_requested"}
    assert result["resumed"] == {"status": "active", "anchor_kept": True}
    assert result["after_period_end"] == {
        "prices": [True],
        "renewal_amount": 1900,
        "schedule_status": "active",
        "pause_schedules": [],
    }
