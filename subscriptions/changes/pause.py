"""Pausing payment collection for 1 to 3 months, and resuming early.

Stripe's "Pause payment collection" (docs.stripe.com/billing/subscriptions/
pause-payment): ``pause_collection[behavior]`` with an optional
``pause_collection[resumes_at]``; the subscription stays ``active``, invoices
are still made and handled per the behavior (``void``: voided;
``keep_as_draft``: left as drafts to finalise later), and collection resumes on
its own at ``resumes_at``. Resuming early sets ``pause_collection`` to an empty
value. Pausing the subscription itself (``POST /v1/subscriptions/{id}/pause``)
exists only from API version 2026-09-30.endive; the app pins
2026-05-27.dahlia, so it pauses collection. What a paused team keeps meanwhile
is the access policy's (``BILLING_PAUSED_ACCESS``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import stripe
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from ..services import _key, _translate, stripe_client
from .plan_change import PlanChangeRefused, _mirror, current_plan

if TYPE_CHECKING:
    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

PAUSE_MONTHS = (1, 2, 3)


def pause_resumes_at(*, months: int, now: datetime | None = None) -> datetime:
    """When a pause of ``months`` asked for ``now`` ends (same day of the month, later)."""
    if months not in PAUSE_MONTHS:
        raise PlanChangeRefused("Payments can be paused for 1, 2 or 3 months.")
    return (now or timezone.now()) + relativedelta(months=months)


def collection_pause(*, team: Team, user: User, months: int) -> datetime:
    """Pause collecting payments for ``months``; returns when collection resumes."""
    current = current_plan(team=team)
    resumes_at = pause_resumes_at(months=months)
    resumes_ts = int(resumes_at.timestamp())
    try:
        data = stripe_client().v1.subscriptions.update(
            current.subscription_id,
            {
                "pause_collection": {
                    "behavior": settings.BILLING_PAUSE_BEHAVIOR,
                    "resumes_at": resumes_ts,
                }
            },
            # A double submit within the same minute pauses once.
            {"idempotency_key": _key("pause", current.subscription_id, months, resumes_ts // 60)},
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    _mirror(data, team=team)
    logger.info(
        "subscription %s: collection paused until %s (%s) by user %s",
        current.subscription_id,
        resumes_at.isoformat(),
        settings.BILLING_PAUSE_BEHAVIOR,
        user.pk,
    )
    return resumes_at


def collection_resume(*, team: Team, user: User) -> None:
    """Resume collecting payments now (before ``resumes_at``)."""
    current = current_plan(team=team)
    try:
        data = stripe_client().v1.subscriptions.update(
            current.subscription_id,
            {"pause_collection": ""},
            {
                "idempotency_key": _key(
                    "resume-collection", current.subscription_id, int(timezone.now().timestamp())
                )
            },
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    _mirror(data, team=team)
    logger.info("subscription %s: collection resumed by user %s", current.subscription_id, user.pk)
