"""dj-stripe 2.11 accepts Checkout Sessions the emulator produces, as synced
from the API and from the checkout.session.completed webhook payload."""

from __future__ import annotations

import pytest
import stripe
from stripe_emulator import EmulatorServer

from .helpers import helper

pytestmark = pytest.mark.django_db


def test_djstripe_syncs_completed_checkout_session(emulator: EmulatorServer) -> None:
    from djstripe import models as dj

    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(
        product=product.id, unit_amount=1500, currency="usd", recurring={"interval": "month"}
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="https://app.example/ok?session_id={CHECKOUT_SESSION_ID}",
        client_reference_id="user-7",
        metadata={"plan": "pro"},
    )
    open_copy = dj.Session.sync_from_stripe_data(stripe.checkout.Session.retrieve(session.id))
    assert open_copy.id == session.id
    assert open_copy.stripe_data["status"] == "open"

    # The test helper runs the same completion as the hosted page.
    status, body = helper(
        emulator,
        f"/_emulator/checkout/sessions/{session.id}/complete",
        {"card": "4242424242424242"},
    )
    assert status == 200, body
    done = dj.Session.sync_from_stripe_data(stripe.checkout.Session.retrieve(session.id))
    assert done.stripe_data["status"] == "complete"
    assert done.stripe_data["payment_status"] == "paid"
    assert done.client_reference_id == "user-7"
    assert done.customer is not None
    assert done.customer.id == body["session"]["customer"]
    assert done.subscription is not None
    assert done.subscription.id == body["session"]["subscription"]

    event = stripe.Event.list(type="checkout.session.completed").data[0]
    from_event = dj.Session.sync_from_stripe_data(event.data.object)
    assert from_event.id == session.id
