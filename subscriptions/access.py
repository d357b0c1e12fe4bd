"""What a user may use right now: plan, features and quotas.

``access_for(user)`` answers from the Redis cache; on a miss it reads the
local Stripe mirror (never Stripe itself) through the selectors and the
policy in ``policy.py``. The webhook pipeline and the checkout success page
call ``access_invalidate`` whenever a user's billing may have changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import selectors
from .catalog import get_catalog
from .policy import LIVE_STATUSES, Reason, decide

logger = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when Access changes shape (it is pickled)
# Upper bound on how long a cached answer lives even if no webhook invalidates it.
MAX_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Access:
    plan_key: str
    plan_name: str
    has_access: bool  # paid access granted by a subscription
    reason: str
    features: frozenset[str] = field(default_factory=frozenset)
    quotas: dict[str, int | None] = field(default_factory=dict)
    status: str | None = None
    subscription_id: str | None = None
    # A subscription exists that the customer must manage in the portal (no second checkout).
    has_live_subscription: bool = False
    cancel_at_period_end: bool = False
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    grace_ends_at: datetime | None = None

    def has(self, feature: str) -> bool:
        return feature in self.features

    def quota(self, name: str) -> int | None:
        """The limit for ``name``; None means unlimited."""
        return self.quotas.get(name)

    def allows(self, name: str, *, used: int) -> bool:
        """May one more ``name`` be created when ``used`` exist?"""
        limit = self.quota(name)
        return limit is None or used < limit

    @property
    def in_grace(self) -> bool:
        return self.reason == Reason.GRACE

    @property
    def is_free(self) -> bool:
        return not self.has_access


def free_access() -> Access:
    plan = get_catalog().free_plan
    return Access(
        plan_key=plan.key,
        plan_name=plan.name,
        has_access=False,
        reason=Reason.NO_SUBSCRIPTION,
        features=frozenset(plan.features),
        quotas=dict(plan.quotas),
    )


def access_compute(*, user: Any, now: datetime | None = None) -> Access:
    """Compute access from the mirror (no cache)."""
    now = now or timezone.now()
    subscription = selectors.subscription_current(user=user)
    if subscription is None:
        return free_access()
    state = selectors.subscription_state(subscription)
    # Customers on a Stripe test clock live at the clock's time.
    now = selectors.customer_clock_now(customer_id=state.customer_id) or now
    past_due_since = None
    if state.status == "past_due":
        past_due_since = (
            selectors.invoice_past_due_since(invoice_id=state.latest_invoice_id)
            or state.current_period_start
        )
    decision = decide(
        status=state.status,
        cancel_at_period_end=state.cancel_at_period_end,
        current_period_end=state.current_period_end,
        past_due_since=past_due_since,
        now=now,
        grace_days=settings.BILLING_PAST_DUE_GRACE_DAYS,
    )
    catalog = get_catalog()
    plan_key = selectors.plan_key_for_state(state)
    plan = catalog.plan(plan_key) if plan_key else None
    base = free_access()
    common: dict[str, Any] = {
        "status": state.status,
        "subscription_id": state.id,
        "has_live_subscription": state.status in LIVE_STATUSES,
        "cancel_at_period_end": state.cancel_at_period_end,
        "current_period_end": state.current_period_end,
        "trial_end": state.trial_end,
        "grace_ends_at": decision.grace_ends_at,
        "reason": decision.reason,
    }
    if not decision.has_access or plan is None:
        if decision.has_access and plan is None:
            logger.warning(
                "subscription %s has price %s that is not in the catalog; free tier applies",
                state.id,
                state.price_id,
            )
        return Access(
            **common,
            plan_key=base.plan_key,
            plan_name=base.plan_name,
            has_access=False,
            features=base.features,
            quotas=base.quotas,
        )
    entitled = selectors.entitlement_keys(customer_id=state.customer_id)
    # Stripe's entitlements are the truth; the catalog fills in until the first sync.
    features = entitled if entitled is not None else frozenset(plan.features)
    return Access(
        **common,
        plan_key=plan.key,
        plan_name=plan.name,
        has_access=True,
        features=features,
        quotas=dict(plan.quotas),
    )


def _cache_key(user_id: Any) -> str:
    return f"access:v{CACHE_VERSION}:{user_id}"


def _ttl(access: Access, now: datetime) -> int:
    """Cache no longer than the next moment the decision could change by itself."""
    boundaries = [
        moment
        for moment in (access.grace_ends_at, access.current_period_end, access.trial_end)
        if moment is not None and moment > now
    ]
    seconds = float(MAX_CACHE_SECONDS)
    if boundaries:
        seconds = min(seconds, (min(boundaries) - now).total_seconds() + 1)
    return max(1, int(seconds))


def access_for(user: Any) -> Access:
    """The user's access: from the cache when warm, else computed and cached."""
    if not getattr(user, "is_authenticated", False):
        return free_access()
    key = _cache_key(user.pk)
    cached = cache.get(key)
    if isinstance(cached, Access):
        return cached
    access = access_compute(user=user)
    cache.set(key, access, timeout=_ttl(access, timezone.now()))
    return access


def access_invalidate(*, user_id: Any) -> None:
    """Forget the cached answer; the next request recomputes it."""
    cache.delete(_cache_key(user_id))


def access_refresh(*, user: Any) -> Access:
    """Invalidate and recompute now (used after a sync)."""
    access_invalidate(user_id=user.pk)
    return access_for(user)
