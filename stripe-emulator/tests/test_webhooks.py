"""Webhook delivery: signing, retries, attempts log, delivery and API faults."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

from .conftest import WebhookReceiver


def _helper(emulator: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(emulator.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _endpoint(receiver: WebhookReceiver, events: list[str] | None = None) -> tuple[str, str]:
    ep = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=events or ["*"])
    assert ep.secret is not None
    assert ep.secret.startswith("whsec_")
    return ep.id, ep.secret


def test_delivery_is_signed_and_verifies_with_construct_event(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _, secret = _endpoint(webhook_receiver)
    cus = stripe.Customer.create(email="hook@example.com")
    [got] = webhook_receiver.wait_for(1)
    sig = got.headers["Stripe-Signature"]
    assert sig.startswith("t=")
    assert ",v1=" in sig
    assert ",v0=" in sig
    event = stripe.Webhook.construct_event(got.body.decode(), sig, secret)
    assert event.type == "customer.created"
    assert event.data.object["id"] == cus.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body.decode(), sig, "whsec_wrong")
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    assert stripe.Event.retrieve(event.id).pending_webhooks == 0
    assert [e.id for e in stripe.Event.list(delivery_success=True).data] == [event.id]
    assert stripe.Event.list(delivery_success=False).data == []


def test_secret_is_only_returned_on_create(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    ep_id, _ = _endpoint(webhook_receiver)
    assert stripe.WebhookEndpoint.retrieve(ep_id).to_dict().get("secret") is None


def test_enabled_events_filter_and_disabled_endpoint(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    ep_id, _ = _endpoint(webhook_receiver, ["customer.updated"])
    cus = stripe.Customer.create()
    stripe.Customer.modify(cus.id, name="n")
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    assert [r.event["type"] for r in webhook_receiver.received] == ["customer.updated"]
    stripe.WebhookEndpoint.modify(ep_id, disabled=True)
    stripe.Customer.modify(cus.id, name="m")
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    assert len(webhook_receiver.received) == 1
    pending = stripe.Event.list(type="customer.updated").data[0]
    assert pending.pending_webhooks == 0


def test_non_2xx_and_3xx_are_retried_with_fresh_signatures(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _, secret = _endpoint(webhook_receiver)
    webhook_receiver.script = [500, 302]
    stripe.Customer.create()
    got = webhook_receiver.wait_for(3)
    assert len(got) == 3
    assert len({r.body for r in got}) == 1  # same body every attempt
    for r in got:
        stripe.Webhook.construct_event(r.body.decode(), r.headers["Stripe-Signature"], secret)
    assert got[1].at - got[0].at >= 0.15  # waited for the first retry delay
    # The receiver answers before the emulator records the attempt: wait for the
    # delivery to finish rather than race it (a loaded machine lost that race).
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    event_id = got[0].event["id"]
    attempts = _helper(emulator, "GET", f"/_emulator/webhooks/attempts?event={event_id}")["data"]
    assert [a["status_code"] for a in attempts] == [500, 302, 200]
    assert [a["succeeded"] for a in attempts] == [False, False, True]
    assert all(a["latency_ms"] >= 0 for a in attempts)
    assert attempts[0]["response_excerpt"] == '{"received": true}'
    assert webhook_receiver.received[1].path == "/hooks"  # the redirect was not followed


def test_retries_stop_after_the_schedule(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _endpoint(webhook_receiver)
    webhook_receiver.default_status = 400
    stripe.Customer.create()
    done = _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 10})
    assert done["pending"] == 0
    assert len(webhook_receiver.received) == 4  # first try + 3 retries
    event = stripe.Event.list().data[0]
    assert event.pending_webhooks == 1
    assert [e.id for e in stripe.Event.list(delivery_success=False).data] == [event.id]
    assert stripe.Event.list(delivery_success=True).data == []


def test_duplicate_delivery_fault(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _endpoint(webhook_receiver)
    _helper(emulator, "POST", "/_emulator/faults/delivery", {"duplicate": True})
    stripe.Customer.create()
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    got = webhook_receiver.wait_for(2)
    assert len(got) == 2
    assert got[0].event["id"] == got[1].event["id"]


def test_fail_first_attempt_fault(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _endpoint(webhook_receiver)
    _helper(emulator, "POST", "/_emulator/faults/delivery", {"fail_first_attempt": True})
    stripe.Customer.create()
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    assert len(webhook_receiver.received) == 1
    attempts = _helper(emulator, "GET", "/_emulator/webhooks/attempts")["data"]
    assert [a["succeeded"] for a in attempts] == [False, True]
    assert "injected" in attempts[0]["error"]


def test_delay_and_shuffle_faults(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    _endpoint(webhook_receiver)
    _helper(emulator, "POST", "/_emulator/faults/delivery", {"delay_ms": 300})
    started = time.time()
    stripe.Customer.create()
    [got] = webhook_receiver.wait_for(1)
    assert got.at - started >= 0.3
    _helper(
        emulator, "POST", "/_emulator/faults/delivery", {"delay_ms": 0, "shuffle_window_ms": 400}
    )
    ids = [stripe.Customer.create(name=str(i)).id for i in range(12)]
    _helper(emulator, "POST", "/_emulator/webhooks/wait", {"timeout": 5})
    order = [r.event["data"]["object"]["id"] for r in webhook_receiver.received[1:]]
    assert sorted(order) == sorted(ids)
    assert order != ids  # 12 events in a 400 ms window: in-order is ~1/479001600


def test_resend_event(emulator: EmulatorServer, webhook_receiver: WebhookReceiver) -> None:
    _endpoint(webhook_receiver)
    stripe.Customer.create()
    webhook_receiver.wait_for(1)
    event_id = stripe.Event.list().data[0].id
    assert _helper(emulator, "POST", f"/_emulator/events/{event_id}/resend", {})["queued"] == 1
    got = webhook_receiver.wait_for(2)
    assert [r.event["id"] for r in got] == [event_id, event_id]


def test_api_fault_500_is_retried_by_the_sdk(emulator: EmulatorServer) -> None:
    _helper(
        emulator,
        "POST",
        "/_emulator/faults/api",
        {"mode": "500", "count": 1, "route": "^/v1/customers$", "method": "POST"},
    )
    cus = stripe.Customer.create(email="retry@example.com")
    assert cus.email == "retry@example.com"
    assert len(stripe.Customer.list().data) == 1
    assert _helper(emulator, "GET", "/_emulator/faults")["api"] == []


def test_api_fault_500_exhausts_sdk_retries(emulator: EmulatorServer) -> None:
    _helper(emulator, "POST", "/_emulator/faults/api", {"mode": "500", "count": 3})
    with pytest.raises(stripe.APIError):
        stripe.Customer.list()
    assert stripe.Customer.list().data == []


def test_api_fault_429_raises_rate_limit_error(emulator: EmulatorServer) -> None:
    _helper(emulator, "POST", "/_emulator/faults/api", {"mode": "429", "count": 1})
    with pytest.raises(stripe.RateLimitError):
        stripe.Customer.list()
    stripe.Customer.list()


def test_api_fault_drop_connection_is_retried(emulator: EmulatorServer) -> None:
    _helper(emulator, "POST", "/_emulator/faults/api", {"mode": "drop", "count": 1})
    cus = stripe.Customer.create(name="after drop")
    assert stripe.Customer.retrieve(cus.id).name == "after drop"
    stripe.max_network_retries = 0
    _helper(emulator, "POST", "/_emulator/faults/api", {"mode": "drop", "count": 1})
    with pytest.raises(stripe.APIConnectionError):
        stripe.Customer.list()


def test_api_fault_rate_applies_to_a_share(emulator: EmulatorServer) -> None:
    stripe.max_network_retries = 0
    _helper(emulator, "POST", "/_emulator/faults/api", {"mode": "500", "rate": 0.5})
    failures = 0
    for _ in range(60):
        try:
            stripe.Customer.list()
        except stripe.APIError:
            failures += 1
    assert 10 <= failures <= 50
    _helper(emulator, "DELETE", "/_emulator/faults")
    stripe.Customer.list()


def test_reset_wipes_state(emulator: EmulatorServer) -> None:
    stripe.Customer.create()
    _helper(emulator, "POST", "/_emulator/reset", {})
    assert stripe.Customer.list().data == []
    assert stripe.Event.list().data == []


def test_api_fault_drop_after_processing_is_replayed_by_idempotency(
    emulator: EmulatorServer,
) -> None:
    """The response is lost after the write: the SDK's retry reuses its key and
    gets the saved response instead of creating a second customer."""
    _helper(
        emulator,
        "POST",
        "/_emulator/faults/api",
        {"mode": "drop_after", "count": 1, "route": "^/v1/customers$", "method": "POST"},
    )
    cus = stripe.Customer.create(email="once@example.com")
    assert cus.last_response is not None
    assert cus.last_response.headers.get("Idempotent-Replayed") == "true"
    assert [c.id for c in stripe.Customer.list().data] == [cus.id]
    assert [e.type for e in stripe.Event.list().data] == ["customer.created"]
