"""The access policy: may a subscription in this state use the product?

A pure function of the subscription's state and the clock, so every
combination is easy to test. It never reads dj-stripe's ``is_valid()`` or
``active_subscriptions``, which break on current API versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Reason(StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    CANCELING = "canceling"  # cancel_at_period_end, still inside the paid period
    GRACE = "grace"  # past_due, inside BILLING_PAST_DUE_GRACE_DAYS
    GRACE_OVER = "grace_over"
    PERIOD_OVER = "period_over"  # cancel_at_period_end and the period has ended
    NO_ACCESS_STATUS = "no_access_status"
    NO_SUBSCRIPTION = "no_subscription"
    # pause_collection is set and BILLING_PAUSED_ACCESS is "free": free tier until it resumes.
    COLLECTION_PAUSED = "collection_paused"


ACCESS_STATUSES = frozenset({"active", "trialing"})
# Statuses that count as "has a subscription" for checkout (never two at once).
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused", "incomplete"})
# What a team whose payment collection is paused keeps (setting BILLING_PAUSED_ACCESS).
PAUSED_ACCESS_CHOICES = ("free", "plan")
ALL_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "incomplete",
    "incomplete_expired",
    "unpaid",
    "canceled",
    "paused",
)


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
    collection_resumes_at: datetime | None = None,
    collection_paused: bool = False,
    paused_access: str = "free",
) -> Decision:
    """Decide access for one subscription state at ``now``.

    ``collection_paused`` is Stripe's ``pause_collection`` (the subscription stays
    ``active`` and Stripe collects nothing): with ``paused_access="free"`` the team
    is on the free tier until ``collection_resumes_at`` (None: until resumed).
    """
    if status is None:
        return Decision(False, Reason.NO_SUBSCRIPTION)
    if (
        collection_paused
        and paused_access == "free"
        and status in ACCESS_STATUSES
        and (collection_resumes_at is None or now < collection_resumes_at)
    ):
        return Decision(False, Reason.COLLECTION_PAUSED)
    if status in ACCESS_STATUSES:
        if cancel_at_period_end and current_period_end is not None:
            # The mirror may lag the end of the period by a webhook: never grant past it.
            if now >= current_period_end:
                return Decision(False, Reason.PERIOD_OVER)
            return Decision(True, Reason.CANCELING)
        return Decision(True, Reason.TRIALING if status == "trialing" else Reason.ACTIVE)
    if status == "past_due":
        started = past_due_since or now
        ends = started + timedelta(days=grace_days)
        if now < ends:
            return Decision(True, Reason.GRACE, grace_ends_at=ends)
        return Decision(False, Reason.GRACE_OVER, grace_ends_at=ends)
    return Decision(False, Reason.NO_ACCESS_STATUS)
