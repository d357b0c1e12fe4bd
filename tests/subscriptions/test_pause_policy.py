"""The access policy while payment collection is paused, and the pause settings' checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from subscriptions.access.policy import Decision, Reason, decide
from subscriptions.changes.pause import pause_resumes_at
from subscriptions.changes.plan_change import PlanChangeRefused, monthly_equivalent
from subscriptions.checks import billing_pause_settings

NOW = datetime(2026, 6, 2, 12, tzinfo=UTC)


def _decide(**kwargs: object) -> Decision:
    base: dict[str, object] = {
        "status": "active",
        "cancel_at_period_end": False,
        "current_period_end": NOW + timedelta(days=20),
        "past_due_since": None,
        "now": NOW,
        "grace_days": 7,
    }
    return decide(**{**base, **kwargs})  # type: ignore[arg-type]


def test_policy_paused_collection_is_the_free_tier_until_it_resumes() -> None:
    paused = _decide(collection_paused=True, collection_resumes_at=NOW + timedelta(days=30))
    assert paused.has_access is False
    assert paused.reason == Reason.COLLECTION_PAUSED
    # Past resumes_at Stripe collects again, even before its webhook reaches the mirror.
    over = _decide(collection_paused=True, collection_resumes_at=NOW - timedelta(seconds=1))
    assert over.reason == Reason.ACTIVE
    # Paused with no end date: free until resumed.
    forever = _decide(collection_paused=True, collection_resumes_at=None)
    assert forever.reason == Reason.COLLECTION_PAUSED


def test_policy_paused_access_plan_keeps_the_plan() -> None:
    kept = _decide(
        collection_paused=True,
        collection_resumes_at=NOW + timedelta(days=30),
        paused_access="plan",
    )
    assert kept.has_access is True
    assert kept.reason == Reason.ACTIVE


def test_policy_pause_does_not_rescue_a_subscription_without_access() -> None:
    lapsed = _decide(status="canceled", collection_paused=True)
    assert lapsed.reason == Reason.NO_ACCESS_STATUS


def test_pause_lasts_whole_months_and_only_one_to_three() -> None:
    assert pause_resumes_at(months=1, now=NOW) == datetime(2026, 7, 2, 12, tzinfo=UTC)
    assert pause_resumes_at(months=3, now=NOW) == datetime(2026, 9, 2, 12, tzinfo=UTC)
    for months in (0, 4, -1):
        with pytest.raises(PlanChangeRefused):
            pause_resumes_at(months=months, now=NOW)


def test_monthly_equivalent_compares_yearly_and_monthly_prices() -> None:
    yearly = monthly_equivalent(unit_amount=29000, quantity=1, interval="year", count=1)
    monthly = monthly_equivalent(unit_amount=2900, quantity=1, interval="month", count=1)
    assert yearly < monthly
    seats = monthly_equivalent(unit_amount=900, quantity=5, interval="month", count=1)
    assert seats > monthly


def test_checks_refuse_unknown_pause_settings() -> None:
    with override_settings(BILLING_PAUSE_BEHAVIOR="void", BILLING_PAUSED_ACCESS="free"):
        assert billing_pause_settings() == []
    with override_settings(BILLING_PAUSE_BEHAVIOR="sometimes", BILLING_PAUSED_ACCESS="all"):
        assert [e.id for e in billing_pause_settings()] == [
            "subscriptions.E005",
            "subscriptions.E006",
        ]
