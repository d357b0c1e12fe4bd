"""The Sentry before_send hook strips personal data and secrets."""

from __future__ import annotations

import json

from saas.sentry import FILTERED, scrub_event, scrub_text


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
    text = "subscription sub_123 renewed; invoice in_456 total 1500 cents"
    assert scrub_text(text) == text
    assert scrub_text("card 4000-0000-0000-0341 declined") == f"card {FILTERED} declined"
