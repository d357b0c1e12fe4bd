"""The Sentry before_send hook strips personal data and secrets.

The captured-event tests run the real SDK as ``saas.sentry.sentry_init`` sets it
up, with a transport that keeps the envelopes instead of sending them, and look
at what would have left the process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
import stripe
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from projects.services import api_token_generate
from saas.sentry import FILTERED, scrub_event, scrub_text, sentry_init
from tests.billing_helpers import personal_team
from tests.factories import make_user

logger = logging.getLogger("tests.saas.checkout")

# Millisecond timestamps (the second one passes the Luhn check) are not card numbers.
CREATED_MS = "1764676800123"
LUHN_VALID_MS = "1764676800121"
# Not a card: fails the Luhn check.
ORDER_NUMBER = "4111111111111112"
STRIPE_SECRET = "sk_live_51HxAbCdEfGhIjKlMnOpQrStUv"
RESTRICTED_KEY = "rk_test_51HxRestricted0123456789"
WEBHOOK_SECRET = "whsec_0123456789abcdefABCDEF"
PERSON = {
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "phone": "+1 415 555 2671",
    "address": {
        "line1": "742 Evergreen Terrace",
        "line2": "Apt 3",
        "city": "Springfield",
        "postal_code": "97403",
        "country": "US",
    },
}
# Every value that must not reach Sentry, as it would appear in the JSON sent.
LEAKS = (
    "4242424242424242",
    "5555555555554444",
    "4000 0025 0000 3155",
    STRIPE_SECRET[8:],
    RESTRICTED_KEY[8:],
    WEBHOOK_SECRET[6:],
    "Jane",
    "Doe",
    "jane.doe",
    "415 555",
    "Evergreen",
    "Apt 3",
    "Springfield",
    "97403",
)


def test_scrub_event_removes_email_secret_and_card() -> None:
    event = {
        "message": "charge failed for jane.doe@example.com with sk_test_51Hx9abcDEF",
        "user": {"id": "42", "email": "jane.doe@example.com", "ip_address": "10.0.0.1"},
        "extra": {
            "card": "4242 4242 4242 4242",
            "nested": [{"secret": "whsec_abc123", "key": "rk_live_zzz999"}],
            "count": 3,
        },
        "breadcrumbs": {"values": [{"message": "POST by bob@example.org"}]},
    }
    scrubbed = scrub_event(event)
    dumped = json.dumps(scrubbed)
    for leaked in (
        "jane.doe@",
        "bob@example.org",
        "sk_test_51",
        "whsec_abc",
        "rk_live",
        "4242 4242",
    ):
        assert leaked not in dumped
    assert scrubbed["user"] == {"id": "42"}
    assert scrubbed["extra"]["count"] == 3
    assert scrubbed["message"] == f"charge failed for {FILTERED} with {FILTERED}"


def test_scrub_keeps_harmless_text() -> None:
    text = (
        f"subscription sub_123 renewed at {CREATED_MS} ms ({LUHN_VALID_MS}); invoice in_456 "
        f"total 1500 cents, order {ORDER_NUMBER}, 2026-12-01 10:00, pk_test_51Hpublic"
    )
    assert scrub_text(text) == text
    assert scrub_text("card 4000-0000-0000-0341 declined") == f"card {FILTERED} declined"


def test_scrub_text_finds_cards_glued_to_letters_and_grouped() -> None:
    assert scrub_text("pm_card_4242424242424242") == f"pm_card_{FILTERED}"
    assert scrub_text("tok_4242424242424242,x") == f"tok_{FILTERED},x"
    assert scrub_text("amex 3782 822463 10005 for 1500") == f"amex {FILTERED} for 1500"
    assert scrub_text(f"{CREATED_MS} 4242424242424242") == f"{CREATED_MS} {FILTERED}"


class CapturingTransport(Transport):
    """Keeps every envelope the SDK would send."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event" and item.payload.json is not None
        ]


@pytest.fixture
def sentry_transport() -> Iterator[CapturingTransport]:
    transport = CapturingTransport()
    sentry_init(
        dsn="https://public@sentry.example.com/1",
        environment="test",
        release=None,
        traces_sample_rate=0.0,
        transport=transport,
    )
    try:
        with sentry_sdk.isolation_scope():
            yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def _checkout_failed(request: HttpRequest) -> HttpResponse:
    """A view that fails with personal data and secrets in its locals and breadcrumbs."""
    api_token = request.POST["note"].split()[-1]
    customer = stripe.Customer.construct_from(
        {
            "id": "cus_Sentry1",
            "object": "customer",
            **PERSON,
            "shipping": {"name": "Jane Doe", "address": PERSON["address"]},
            "created": int(CREATED_MS) // 1000,
        },
        STRIPE_SECRET,
    )
    charge = {
        "id": "ch_Sentry1",
        "billing_details": PERSON,
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}},
        "created_ms": int(LUHN_VALID_MS),
    }
    payment_method = "pm_card_4242424242424242"
    settings_seen = {"stripe": STRIPE_SECRET, "webhook": WEBHOOK_SECRET, "rk": RESTRICTED_KEY}
    logger.info(
        "charging %s for %s with tok_5555555555554444 at %s",
        customer.id,
        PERSON["email"],
        CREATED_MS,
    )
    sentry_sdk.add_breadcrumb(
        category="stripe",
        message=f"customer.updated for {customer.id}",
        data={"billing_details": PERSON, "api_token": api_token, "at_ms": int(LUHN_VALID_MS)},
    )
    raise RuntimeError(
        f"charge {charge['id']} failed: {payment_method} with {settings_seen['stripe']} "
        f"at {CREATED_MS}, token {api_token}, order {ORDER_NUMBER}"
    )


urlpatterns = [path("checkout-failed/", _checkout_failed)]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_captured_exception_event_carries_no_personal_data_or_secrets(
    sentry_transport: CapturingTransport,
) -> None:
    token = api_token_generate(team=personal_team(u := make_user()), user=u).secret
    client = Client(raise_request_exception=False)
    response = client.post(
        "/checkout-failed/",
        {
            **{key: value for key, value in PERSON.items() if key != "address"},
            "line1": "742 Evergreen Terrace",
            "city": "Springfield",
            "postal_code": "97403",
            "card": "4000 0025 0000 3155",
            "created": CREATED_MS,
            "note": f"paid with pm_card_4242424242424242 using {token}",
        },
    )
    assert response.status_code == 500
    sentry_sdk.flush()

    (event,) = sentry_transport.events()
    dumped = json.dumps(event)
    for leaked in (*LEAKS, token, token[len("saas_pat_") :]):
        assert leaked not in dumped, leaked
    # Still a useful report: what failed, where, and the harmless values.
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert f"pm_card_{FILTERED} with {FILTERED} at {CREATED_MS}" in exception["value"]
    assert ORDER_NUMBER in exception["value"]
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "_checkout_failed"
    local_vars = frame["vars"]
    assert local_vars["payment_method"] == f"'pm_card_{FILTERED}'"
    assert local_vars["charge"]["billing_details"] == FILTERED
    assert local_vars["charge"]["created_ms"] == LUHN_VALID_MS
    assert local_vars["charge"]["payment_method_details"]["card"]["last4"] == "'4242'"
    # A Stripe object arrives as its repr, with the object's JSON inside.
    assert f'"name": "{FILTERED}"' in local_vars["customer"]
    assert f'"line1": "{FILTERED}"' in local_vars["customer"]
    assert '"id": "cus_Sentry1"' in local_vars["customer"]
    data = event["request"]["data"]
    assert data["created"] == CREATED_MS
    assert data["name"] == data["city"] == data["postal_code"] == FILTERED
    crumbs = event["breadcrumbs"]["values"]
    log_crumb = next(c for c in crumbs if c.get("category") == "tests.saas.checkout")
    assert log_crumb["message"] == (
        f"charging cus_Sentry1 for {FILTERED} with tok_{FILTERED} at {CREATED_MS}"
    )
    stripe_crumb = next(c for c in crumbs if c.get("category") == "stripe")
    assert stripe_crumb["data"]["billing_details"] == FILTERED
    assert stripe_crumb["data"]["at_ms"] == int(LUHN_VALID_MS)
    assert "user" not in event or set(event["user"]) <= {"id"}


def test_captured_message_and_context_carry_no_personal_data_or_secrets(
    sentry_transport: CapturingTransport,
) -> None:
    sentry_sdk.set_context("customer", {"id": "cus_1", **PERSON})
    sentry_sdk.set_extra("invoice", {"id": "in_1", "customer_shipping": {"name": "Jane Doe"}})
    logger.error(
        "webhook for %s failed: card 5555-5555-5555-4444, Authorization: Bearer %s, key %s",
        PERSON["email"],
        "saas_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd",
        RESTRICTED_KEY,
    )
    sentry_sdk.capture_message(
        f"customer {{'name': 'Jane Doe', 'city': 'Springfield'}} at {CREATED_MS} "
        f"signed with {WEBHOOK_SECRET}"
    )
    sentry_sdk.flush()

    events = sentry_transport.events()
    assert len(events) == 2
    dumped = json.dumps(events)
    for leaked in (*LEAKS, "saas_pat_AbCd", "5555-5555"):
        assert leaked not in dumped, leaked
    logged, message = events
    assert logged["logentry"]["params"][0] == FILTERED
    assert logged["contexts"]["customer"]["id"] == "cus_1"
    assert logged["contexts"]["runtime"]["name"] == "CPython"  # the SDK's own context stays
    assert message["message"] == (
        f"customer {{'name': '{FILTERED}', 'city': '{FILTERED}'}} at {CREATED_MS} "
        f"signed with {FILTERED}"
    )
