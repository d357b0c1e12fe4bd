"""The whole pipeline, for real: emulator -> signed webhooks -> live app -> Redis -> worker.

The emulator delivers to a live server of the app; the intake stores each
event and enqueues it; a real Celery worker process processes it through
dj-stripe (which calls the emulator back) and our reactions.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from subscriptions.models import StripeEvent
from subscriptions.webhooks.pipeline import stripe_events_replay
from tests.billing_helpers import access_now, tpath
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or condition}")


def settled(billing: Billing) -> Callable[[], bool]:
    """Every delivery done and every stored event out of received/processing."""

    def check() -> bool:
        status, _ = billing.helper("/_emulator/webhooks/wait", {"timeout": 1})
        pending = StripeEvent.objects.filter(
            status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.PROCESSING]
        ).exists()
        return status == 200 and not pending

    return check


def _faults(billing: Billing, kind: str, body: dict[str, Any]) -> None:
    status, result = billing.helper(f"/_emulator/faults/{kind}", body)
    assert status == 200, result


def _clear_faults(billing: Billing) -> None:
    urllib.request.urlopen(
        urllib.request.Request(f"{billing.url}/_emulator/faults", method="DELETE"), timeout=10
    ).close()


def _emulator_events(billing: Billing) -> list[dict[str, Any]]:
    from subscriptions.services import stripe_client

    return [json.loads(str(e)) for e in stripe_client().v1.events.list({"limit": 100}).data]


def _subscribe(client: Client, billing: Billing, price: str = "pro_monthly") -> Any:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, price))
    return user


def test_subscribe_events_are_stored_and_processed(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user = _subscribe(client, live_billing)
    wait_for(settled(live_billing), what="pipeline to settle")
    stored = StripeEvent.objects.all()
    types = set(stored.values_list("type", flat=True))
    assert {"customer.subscription.created", "invoice.paid", "checkout.session.completed"} <= types
    assert set(stored.values_list("status", flat=True)) == {StripeEvent.Status.PROCESSED}, [
        (e.type, e.last_error) for e in stored if e.last_error
    ]
    emitted = {e["id"] for e in _emulator_events(live_billing)}
    assert set(stored.values_list("stripe_id", flat=True)) <= emitted
    assert all(e.latency_seconds is not None for e in stored)
    access = access_now(user)
    assert access.plan_key == "pro"
    assert access.has("api_access")


def test_each_event_three_times_is_processed_once(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    _faults(live_billing, "delivery", {"duplicate": True})
    user = _subscribe(client, live_billing)
    wait_for(settled(live_billing), what="duplicates to settle")
    for event in StripeEvent.objects.all():
        status, _ = live_billing.helper(f"/_emulator/events/{event.stripe_id}/resend", {})
        assert status == 200
    wait_for(settled(live_billing), what="resends to settle")
    _clear_faults(live_billing)

    stored = list(StripeEvent.objects.all())
    assert len({e.stripe_id for e in stored}) == len(stored)  # one row per event id
    assert all(e.deliveries >= 3 for e in stored), [(e.type, e.deliveries) for e in stored]
    assert all(e.status == StripeEvent.Status.PROCESSED for e in stored)
    assert all(e.attempts == 1 for e in stored)  # duplicates added no work
    assert access_now(user).plan_key == "pro"
    try:
        from notifications.models import Notification
    except ImportError:
        return
    kinds = list(Notification.objects.filter(user=user).values_list("kind", flat=True))
    assert len(kinds) == len(set(kinds))  # nothing notified twice
    assert kinds


def test_shuffled_delivery_reaches_the_same_state(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    _faults(live_billing, "delivery", {"shuffle_window_ms": 400})
    user = _subscribe(client, live_billing, "starter_monthly")
    wait_for(settled(live_billing), what="shuffled events to settle")
    _clear_faults(live_billing)
    access = access_now(user)
    assert access.plan_key == "starter"
    assert access.status == "trialing"
    assert access.has("exports")


def test_stripe_errors_are_retried_then_failed_then_replayed(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user = make_user()
    client.force_login(user)
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    # Every read of the customer's entitlements fails for a while: more than the
    # worker's 4 attempts. (Processing from the payload reads the subscription from
    # Stripe only when two events of it share a second, so that read is no sure target.)
    _faults(
        live_billing,
        "api",
        {
            "mode": "500",
            "count": 200,
            "route": "^/v1/entitlements/active_entitlements",
            "method": "GET",
        },
    )
    status, result = live_billing.complete_checkout(response["Location"])
    assert status == 200, result
    wait_for(settled(live_billing), timeout=90, what="failures to settle")
    failed = StripeEvent.objects.filter(status=StripeEvent.Status.FAILED)
    assert failed.exists()
    assert all(e.attempts == 4 for e in failed)
    # Stripe's 500, as the SDK raises it or as our services report it.
    assert all("APIError" in e.last_error or "StripeUnavailable" in e.last_error for e in failed)

    _clear_faults(live_billing)  # "the fix"
    replayed = stripe_events_replay(failed_only=True)
    assert replayed
    wait_for(settled(live_billing), what="replay to settle")
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).exists()
    assert access_now(user).plan_key == "pro"


def test_transient_stripe_errors_are_retried_to_success(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user = make_user()
    client.force_login(user)
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    # The customer's active entitlements are read for the entitlements event whether
    # the event's object comes from its payload or from Stripe. The SDK tries each
    # call three times (two retries); four failures in a row get past that once, so
    # our task has to retry, and the retry succeeds.
    _faults(
        live_billing,
        "api",
        {
            "mode": "500",
            "count": 4,
            "route": "^/v1/entitlements/active_entitlements",
            "method": "GET",
        },
    )
    live_billing.complete_checkout(response["Location"])
    wait_for(settled(live_billing), timeout=90, what="retries to settle")
    stored = StripeEvent.objects.all()
    assert set(stored.values_list("status", flat=True)) == {StripeEvent.Status.PROCESSED}
    with urllib.request.urlopen(f"{live_billing.url}/_emulator/faults", timeout=5) as r:
        remaining = r.read().decode()
    assert any(e.attempts > 1 for e in stored), ([(e.type, e.attempts) for e in stored], remaining)
    assert access_now(user).plan_key == "pro"
