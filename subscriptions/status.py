"""Stripe's subscription statuses, one typed enum, and the sets of them billing uses.

The eight values of ``Subscription.status`` in Stripe's API reference (and the stripe
SDK's ``Literal``): incomplete, incomplete_expired, trialing, active, past_due,
canceled, unpaid, paused. A ``StrEnum`` member equals, and hashes like, its string, so
it can be compared with a status read from Stripe's JSON or the mirror as is.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"  # terminal: the first invoice went unpaid
    UNPAID = "unpaid"
    CANCELED = "canceled"  # terminal
    PAUSED = "paused"  # a trial ended without a payment method


S = SubscriptionStatus

# Every status, in the order the admin's filter lists them.
ALL: tuple[SubscriptionStatus, ...] = tuple(SubscriptionStatus)
# The statuses that give access by themselves (past_due may, inside the grace period).
ACCESS = frozenset({S.ACTIVE, S.TRIALING})
# Statuses that count as "has a subscription" for checkout (never two at once).
LIVE = frozenset({S.ACTIVE, S.TRIALING, S.PAST_DUE, S.UNPAID, S.PAUSED, S.INCOMPLETE})
# Statuses a subscription can never leave.
ENDED = frozenset({S.CANCELED, S.INCOMPLETE_EXPIRED})
# Statuses of a subscription that bills (or will bill) the customer: two of these at once
# are a duplicate. ``incomplete`` is left out until its first payment succeeds (it may
# never, and then it expires by itself).
DUPLICATE_CANDIDATES = frozenset({S.ACTIVE, S.TRIALING, S.PAST_DUE, S.UNPAID, S.PAUSED})
# The statuses whose subscriptions count in MRR (a trial pays nothing yet).
MRR = frozenset({S.ACTIVE, S.PAST_DUE})
# Subscriptions that never started (their first payment never succeeded).
NEVER_STARTED = frozenset({S.INCOMPLETE, S.INCOMPLETE_EXPIRED})
# Most relevant first when a customer has several subscriptions (lower rank first).
CURRENT_RANK: dict[str, int] = {
    status: rank
    for rank, status in enumerate(
        (
            S.ACTIVE,
            S.TRIALING,
            S.PAST_DUE,
            S.UNPAID,
            S.PAUSED,
            S.INCOMPLETE,
            S.CANCELED,
            S.INCOMPLETE_EXPIRED,
        )
    )
}
