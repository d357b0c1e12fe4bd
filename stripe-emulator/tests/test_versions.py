"""API versions: every released version is accepted and rendered in its own shape.

Every response of these tests is also checked by the `conformance` fixture
against the schema snapshot of the version it was rendered in.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_emulator import DEFAULT_API_VERSION, EmulatorServer
from stripe_emulator import versions as versions_module
from stripe_emulator.snapshots import VersionedCollector, check
from stripe_emulator.versions import RELEASED_VERSIONS, Change, apply_changes, render_version

from .conftest import API_KEY, WebhookReceiver

# What the installed stripe-python (15.6.x) sends when nothing is pinned.
SDK_DEFAULT_VERSION = "2026-08-26.dahlia"
ENDIVE = "2026-10-28.endive"
BASELINE = "2026-05-27.dahlia"


def _lifecycle(client: stripe.StripeClient) -> dict[str, Any]:
    """Customer, card from a test card, subscription, paid invoice, update, cancel."""
    product = client.v1.products.create({"name": "Plan"})
    monthly = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1500,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    customer = client.v1.customers.create({"email": "v@example.com"})
    pm = client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}})
    client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": monthly.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert sub.status == "active"
    invoice = sub.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert invoice.status == "paid"
    updated = client.v1.subscriptions.update(
        sub.id, {"items": [{"id": sub["items"].data[0].id, "quantity": 2}]}
    )
    assert updated["items"].data[0].quantity == 2
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    charges = client.v1.charges.list({"customer": customer.id})
    return {
        "subscription": canceled.to_dict(),
        "item": canceled["items"].data[0].to_dict(),
        "charge": charges.data[0].to_dict(),
        "payment_method": pm.id,
    }


def _raw(emulator: EmulatorServer, path: str, version: str | None, **form: str) -> Any:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    if version is not None:
        headers["Stripe-Version"] = version
    data = "&".join(f"{k}={v}" for k, v in form.items()).encode() if form else None
    req = urllib.request.Request(emulator.url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_versions_unpinned_sdk_runs_a_subscription_lifecycle(emulator: EmulatorServer) -> None:
    # The stock SDK with no version pinned sends its own (2026-08-26.dahlia for 15.6).
    assert stripe.VERSION.startswith("15.6.")
    client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
    collector = VersionedCollector()
    emulator.emulator.versioned_response_hooks.append(collector.hook)
    try:
        sub_id = _lifecycle(client)["subscription"]["id"]
        sub = client.v1.subscriptions.retrieve(sub_id)
        # Declared by the SDK; a missing key would raise AttributeError.
        assert sub.managed_payments is None
    finally:
        emulator.emulator.versioned_response_hooks.remove(collector.hook)
    assert set(collector.checked) == {SDK_DEFAULT_VERSION}
    assert collector.violations() == []


def test_versions_module_level_sdk_at_its_default_version(emulator: EmulatorServer) -> None:
    stripe.api_version = SDK_DEFAULT_VERSION  # what it is when the app does not pin it
    customer = stripe.Customer.create(email="plain@example.com")
    pm = stripe.PaymentMethod.create(type="card", card={"token": "tok_visa"})
    stripe.PaymentMethod.attach(pm.id, customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm.id})
    product = stripe.Product.create(name="Plan")
    price = stripe.Price.create(
        product=product.id, unit_amount=900, currency="usd", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    assert sub.status == "active"
    assert sub.managed_payments is None
    assert stripe.Invoice.retrieve(str(sub.latest_invoice)).status == "paid"
    sub = stripe.Subscription.modify(sub.id, items=[{"id": sub["items"].data[0].id, "quantity": 3}])
    assert sub["items"].data[0].quantity == 3
    assert stripe.Subscription.cancel(sub.id).status == "canceled"


@pytest.mark.parametrize("version", RELEASED_VERSIONS)
def test_versions_lifecycle_validates_against_its_snapshot(
    emulator: EmulatorServer, version: str
) -> None:
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": emulator.url}, stripe_version=version
    )
    collector = VersionedCollector()
    emulator.emulator.versioned_response_hooks.append(collector.hook)
    try:
        _lifecycle(client)
    finally:
        emulator.emulator.versioned_response_hooks.remove(collector.hook)
    assert set(collector.checked) == {version}
    assert collector.checked[version] >= 10
    assert collector.violations() == []


def test_versions_endive_and_baseline_render_their_own_fields(emulator: EmulatorServer) -> None:
    endive = _lifecycle(
        stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url}, stripe_version=ENDIVE)
    )
    baseline = _lifecycle(
        stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url}, stripe_version=BASELINE)
    )
    # 2026-09-30.endive fields
    assert "status_details" in endive["subscription"]
    assert "billing_cycle_anchor" in endive["subscription"]["trial_settings"]["end_behavior"]
    assert "current_trial" in endive["item"]
    # 2026-06-24.dahlia fields
    assert {"custom_fields", "description", "footer"} <= set(
        endive["subscription"]["invoice_settings"]
    )
    assert "transaction_link_id" in endive["charge"]["payment_method_details"]["card"]
    assert "status_details" not in baseline["subscription"]
    assert "billing_cycle_anchor" not in baseline["subscription"]["trial_settings"]["end_behavior"]
    assert "current_trial" not in baseline["item"]
    assert "footer" not in baseline["subscription"]["invoice_settings"]
    assert "transaction_link_id" not in baseline["charge"]["payment_method_details"]["card"]
    # Each validates against its own snapshot, and not against the other's.
    path = f"/v1/subscriptions/{endive['subscription']['id']}"
    _, _, endive_raw = _raw(emulator, path, ENDIVE)
    _, _, baseline_raw = _raw(emulator, path, BASELINE)
    assert check(endive_raw, ENDIVE) == []
    assert check(baseline_raw, BASELINE) == []
    assert any("status_details: not a field" in p for p in check(endive_raw, BASELINE))


def test_versions_no_header_is_the_account_default(emulator: EmulatorServer) -> None:
    status, headers, body = _raw(emulator, "/v1/customers", None, email="x@example.com")
    assert status == 200
    assert headers["Stripe-Version"] == DEFAULT_API_VERSION
    assert check(body, DEFAULT_API_VERSION) == []


@pytest.mark.parametrize(
    "bad",
    ["2099-01-01.zinnia", "2025-09-30.acacia", "2026-10-28", "latest", "2026-10-28.preview"],
)
def test_versions_unknown_or_malformed_version_is_a_400(emulator: EmulatorServer, bad: str) -> None:
    status, _, body = _raw(emulator, "/v1/customers", bad)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == f"Invalid Stripe API version: {bad}"
    assert "param" not in body["error"] or body["error"]["param"] is None
    # The stock SDK raises its usual error for it.
    with pytest.raises(stripe.InvalidRequestError, match="Invalid Stripe API version"):
        stripe.Customer.list(stripe_version=bad)


def test_versions_webhook_endpoint_rejects_an_unknown_api_version(
    emulator: EmulatorServer,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.WebhookEndpoint.create(
            url="http://127.0.0.1:9/x", enabled_events=["*"], api_version="2099-01-01.zinnia"
        )
    assert info.value.param == "api_version"


def test_versions_events_render_in_each_endpoints_version(
    emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    endpoints = {
        ENDIVE: stripe.WebhookEndpoint.create(
            url=webhook_receiver.url + "/endive",
            enabled_events=["customer.subscription.created"],
            api_version=ENDIVE,
        ),
        "2026-06-24.dahlia": stripe.WebhookEndpoint.create(
            url=webhook_receiver.url + "/june",
            enabled_events=["customer.subscription.created"],
            api_version="2026-06-24.dahlia",
        ),
        DEFAULT_API_VERSION: stripe.WebhookEndpoint.create(
            url=webhook_receiver.url + "/default", enabled_events=["customer.subscription.created"]
        ),
    }
    customer = stripe.Customer.create(payment_method="pm_card_visa")
    stripe.Customer.modify(
        customer.id,
        invoice_settings={
            "default_payment_method": stripe.Customer.list_payment_methods(customer.id).data[0].id
        },
    )
    product = stripe.Product.create(name="P")
    price = stripe.Price.create(
        product=product.id, unit_amount=500, currency="usd", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    received = webhook_receiver.wait_for(3)
    assert len(received) == 3
    by_path = {r.path.rsplit("/", 1)[-1]: r for r in received}
    for name, version in (
        ("endive", ENDIVE),
        ("june", "2026-06-24.dahlia"),
        (
            "default",
            DEFAULT_API_VERSION,
        ),
    ):
        event = by_path[name].event
        assert event["api_version"] == version
        assert event["data"]["object"]["id"] == sub.id
        assert check(event, version) == [], version
        # Verifies with the endpoint's secret, as Stripe signs each delivery.
        secret = endpoints[version].secret
        assert secret is not None
        stripe.Webhook.construct_event(
            by_path[name].body.decode(), by_path[name].headers["Stripe-Signature"], secret
        )
    endive_sub = by_path["endive"].event["data"]["object"]
    june_sub = by_path["june"].event["data"]["object"]
    default_sub = by_path["default"].event["data"]["object"]
    assert "status_details" in endive_sub
    assert "status_details" not in june_sub
    assert "footer" in june_sub["invoice_settings"]
    assert "footer" not in default_sub["invoice_settings"]
    # The same event, one id; the stored Event is in the account's version.
    assert len({r.event["id"] for r in received}) == 1
    stored = stripe.Event.retrieve(by_path["endive"].event["id"])
    assert stored.api_version == DEFAULT_API_VERSION


def test_versions_rules_add_remove_and_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = {
        "thing": [
            Change("2026-07-29.dahlia", "thing", "a.new", "added", "t", default=lambda: 0),
            Change("2026-07-29.dahlia", "thing", "gone", "removed", "t"),
            Change("2026-09-30.endive", "thing", "fresh", "renamed", "t", old_name="stale"),
        ]
    }
    monkeypatch.setattr(versions_module, "_BY_TYPE", rules)
    stored = {"object": "thing", "a": {}, "fresh": 1}
    old = render_version(json.loads(json.dumps(stored)), BASELINE)
    assert old == {"object": "thing", "a": {}, "gone": None, "stale": 1}
    new = render_version(json.loads(json.dumps(stored)), ENDIVE)
    assert new == {"object": "thing", "a": {"new": 0}, "fresh": 1}
    # previous_attributes hold changed fields only: never filled.
    prev = {"fresh": 0}
    apply_changes("thing", prev, "2026-08-26.dahlia", fill=False)
    assert prev == {"stale": 0}


def test_versions_every_rule_names_a_released_version_and_a_doc() -> None:
    for version, obj_type, path, _kind, source in versions_module.differences():
        assert version in RELEASED_VERSIONS, (obj_type, path)
        assert source.startswith("https://docs.stripe.com/changelog/"), (obj_type, path)
