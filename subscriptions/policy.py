"""The access policy: may a subscription in this state use the product?

A pure function of the subscription's state and the clock, so every
combination is easy to test. It never reads dj-stripe's ``is_valid()`` or
``active_subscriptions``, which break on current API versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from . import status as subscription_status
from .status import SubscriptionStatus as S


class Reason(StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    CANCELING = "canceling"  # cancel_at_period_end, still inside the paid period
    GRACE = "grace"  # past_due, inside BILLING_PAST_DUE_GRACE_DAYS
    GRACE_OVER = "grace_over"
    PERIOD_OVER = "period_over"  # cancel_at_period_end and the period has ended
    NO_ACCESS_STATUS = "no_access_status"
    NO_SUBSCRIPTION = "no_subscription"


@dataclass(frozen=True)
class Decision:
    has_access: bool
    reason: Reason
    # When a past_due subscription loses access (only for GRACE / GRACE_OVER).
    grace_ends_at: datetime | None = None


def decide(
    *,
    status: str | None,
    cancel_at_period_end: bool,
    current_period_end: datetime | None,
    past_due_since: datetime | None,
    now: datetime,
    grace_days: int,
) -> Decision:
    """Decide access for one subscription state at ``now``."""
    if status is None:
        return Decision(False, Reason.NO_SUBSCRIPTION)
    if status in subscription_status.ACCESS:
        if cancel_at_period_end and current_period_end is not None:
            # The mirror may lag the end of the period by a webhook: never grant past it.
            if now >= current_period_end:
                return Decision(False, Reason.PERIOD_OVER)
            return Decision(True, Reason.CANCELING)
        return Decision(True, Reason.TRIALING if status == S.TRIALING else Reason.ACTIVE)
    if status == S.PAST_DUE:
        started = past_due_since or now
        ends = started + timedelta(days=grace_days)
        if now < ends:
            return Decision(True, Reason.GRACE, grace_ends_at=ends)
        return Decision(False, Reason.GRACE_OVER, grace_ends_at=ends)
    return Decision(False, Reason.NO_ACCESS_STATUS)
