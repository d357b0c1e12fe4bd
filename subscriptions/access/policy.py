"""The access policy: may a subscription in this state use the product?

A pure function of the subscription's state and the clock, so every
combination is easy to test. It never reads dj-stripe's ``is_valid()`` or
``active_subscriptions``, which break on current API versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .. import status as subscription_status
from ..status import SubscriptionStatus as S


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
    # A payment is disputed and BILLING_DISPUTE_ACCESS restricts the team to the free tier.
    DISPUTED = "disputed"


# Stripe Dispute.status values of a dispute not decided yet (inquiries are warning_*).
DISPUTE_OPEN_STATUSES = (
    "needs_response",
    "warning_needs_response",
    "under_review",
    "warning_under_review",
)
# What a team keeps while a dispute is open (settings.BILLING_DISPUTE_ACCESS).
DISPUTE_ACCESS_UNCHANGED = "unchanged"  # staff decide case by case
DISPUTE_ACCESS_FREE_TIER = "free_tier"
DISPUTE_ACCESS_CHOICES = (DISPUTE_ACCESS_UNCHANGED, DISPUTE_ACCESS_FREE_TIER)
# What a team whose payment collection is paused keeps (setting BILLING_PAUSED_ACCESS).
PAUSED_ACCESS_CHOICES = ("free", "plan")


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
        and status in subscription_status.ACCESS
        and (collection_resumes_at is None or now < collection_resumes_at)
    ):
        return Decision(False, Reason.COLLECTION_PAUSED)
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


def restrict_for_dispute(*, has_access: bool, dispute_access: str, open_dispute: bool) -> bool:
    """Whether an open dispute takes the paid plan away (only under the free_tier setting)."""
    return has_access and open_dispute and dispute_access == DISPUTE_ACCESS_FREE_TIER
