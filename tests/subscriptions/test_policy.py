"""The access policy over every status x cancel_at_period_end x grace combination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subscriptions.access.policy import Reason, decide
from subscriptions.status import ALL as ALL_STATUSES

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
PERIOD_END = NOW + timedelta(days=10)
GRACE_DAYS = 7


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("cancel_at_period_end", [False, True])
@pytest.mark.parametrize("days_past_due", [None, 0, 6, 7, 30])
def test_policy_matrix(status: str, cancel_at_period_end: bool, days_past_due: int | None) -> None:
    past_due_since = NOW - timedelta(days=days_past_due) if days_past_due is not None else None
    decision = decide(
        status=status,
        cancel_at_period_end=cancel_at_period_end,
        current_period_end=PERIOD_END,
        past_due_since=past_due_since,
        now=NOW,
        grace_days=GRACE_DAYS,
    )
    if status in ("active", "trialing"):
        assert decision.has_access
        expected = Reason.CANCELING if cancel_at_period_end else Reason(status)
        assert decision.reason == expected
    elif status == "past_due":
        in_grace = days_past_due is None or days_past_due < GRACE_DAYS
        assert decision.has_access is in_grace
        assert decision.reason == (Reason.GRACE if in_grace else Reason.GRACE_OVER)
        assert decision.grace_ends_at is not None
    else:
        assert not decision.has_access
        assert decision.reason == Reason.NO_ACCESS_STATUS


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_cancel_at_period_end_stops_at_the_end_even_if_the_mirror_lags(status: str) -> None:
    kwargs = {
        "status": status,
        "cancel_at_period_end": True,
        "current_period_end": PERIOD_END,
        "past_due_since": None,
        "grace_days": GRACE_DAYS,
    }
    assert decide(now=PERIOD_END - timedelta(seconds=1), **kwargs).has_access  # type: ignore[arg-type]
    after = decide(now=PERIOD_END, **kwargs)  # type: ignore[arg-type]
    assert not after.has_access
    assert after.reason == Reason.PERIOD_OVER


def test_grace_boundary_is_exact() -> None:
    since = NOW - timedelta(days=GRACE_DAYS)
    common = {
        "status": "past_due",
        "cancel_at_period_end": False,
        "current_period_end": PERIOD_END,
        "past_due_since": since,
        "grace_days": GRACE_DAYS,
    }
    assert decide(now=NOW - timedelta(seconds=1), **common).has_access  # type: ignore[arg-type]
    assert not decide(now=NOW, **common).has_access  # type: ignore[arg-type]


def test_no_subscription_is_free() -> None:
    decision = decide(
        status=None,
        cancel_at_period_end=False,
        current_period_end=None,
        past_due_since=None,
        now=NOW,
        grace_days=GRACE_DAYS,
    )
    assert not decision.has_access
    assert decision.reason == Reason.NO_SUBSCRIPTION
