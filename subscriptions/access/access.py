"""What a team may use right now: plan, features and quotas.

The team is the Stripe customer (dj-stripe's subscriber); ``request.access`` is
the current team's access. ``access_for(team)`` answers from two cache layers
keyed by the team's id and ``billing_version``: this process's memory (no I/O, so a warm check costs
microseconds), then Redis (shared by every process). On a miss it reads the
local Stripe mirror (never Stripe itself) through the selectors and the policy
in ``policy.py``. While Redis is down the cache backend (``saas/cache.py``)
answers from memory instead of raising, so the check still answers, from the
mirror. The webhook pipeline and the checkout success page call
``access_invalidate`` whenever a team's billing may have changed: it bumps the
version on the team row, which every team page loads anyway (the team is in its
URL), so every process sees the change on its next request without a cache
round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from .. import selectors
from .. import status as subscription_status
from ..catalog import get_catalog
from ..status import SubscriptionStatus
from .policy import (
    DISPUTE_ACCESS_FREE_TIER,
    Decision,
    Reason,
    decide,
    restrict_for_dispute,
)

if TYPE_CHECKING:
    from teams.models import Team

logger = logging.getLogger(__name__)

CACHE_VERSION = 6  # bump when Access changes shape (it is pickled) or the key does
# Upper bound on how long a cached answer lives even if no webhook invalidates it.
MAX_CACHE_SECONDS = 3600
# Per-process entries kept in memory (an Access is well under 1 KiB).
LOCAL_CACHE_ENTRIES = 10_000


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
    # Payment collection paused (pause_collection) until this moment (None: not paused).
    collection_resumes_at: datetime | None = None
    collection_paused: bool = False
    # The team's customer has had a subscription, of any status: no second free trial
    # (the rule checkout applies; the pricing page reads it here instead of querying).
    had_subscription: bool = False

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


def access_compute(*, team: Team, now: datetime | None = None) -> Access:
    """Compute access from the mirror (no cache)."""
    now = now or timezone.now()
    subscription = selectors.subscription_current(team=team)
    if subscription is None:
        return free_access()
    state = selectors.subscription_state(subscription)
    # Customers on a Stripe test clock live at the clock's time.
    now = selectors.customer_clock_now(customer_id=state.customer_id) or now
    past_due_since = None
    if state.status == SubscriptionStatus.PAST_DUE:
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
        collection_paused=state.collection_paused,
        collection_resumes_at=state.collection_resumes_at,
        paused_access=settings.BILLING_PAUSED_ACCESS,
    )
    if _disputed(team=team, has_access=decision.has_access):
        decision = Decision(False, Reason.DISPUTED)
    catalog = get_catalog()
    plan_key = selectors.plan_key_for_state(state)
    plan = catalog.plan(plan_key) if plan_key else None
    base = free_access()
    common: dict[str, Any] = {
        "had_subscription": True,
        "status": state.status,
        "subscription_id": state.id,
        "has_live_subscription": state.status in subscription_status.LIVE,
        "cancel_at_period_end": state.cancel_at_period_end,
        "current_period_end": state.current_period_end,
        "trial_end": state.trial_end,
        "grace_ends_at": decision.grace_ends_at,
        "reason": decision.reason,
        "collection_paused": state.collection_paused,
        "collection_resumes_at": state.collection_resumes_at,
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
    features = plan_features(
        plan_features=frozenset(plan.features),
        entitled=selectors.entitlement_keys(customer_id=state.customer_id),
        managed=selectors.catalog_feature_keys(),
    )
    return Access(
        **common,
        plan_key=plan.key,
        plan_name=plan.name,
        has_access=True,
        features=features,
        quotas=dict(plan.quotas),
    )


def _disputed(*, team: Team, has_access: bool) -> bool:
    """An open dispute restricts the team under BILLING_DISPUTE_ACCESS=free_tier.

    Only computed on a cache miss (and only queried under that setting): the
    pipeline invalidates the team's access on every dispute event, so a warm
    check stays query-free.
    """
    setting = settings.BILLING_DISPUTE_ACCESS
    if not has_access or setting != DISPUTE_ACCESS_FREE_TIER:
        return False
    return restrict_for_dispute(
        has_access=has_access,
        dispute_access=setting,
        open_dispute=selectors.team_has_open_dispute(team=team),
    )


def plan_features(
    *, plan_features: frozenset[str], entitled: frozenset[str] | None, managed: frozenset[str]
) -> frozenset[str]:
    """The features of a subscriber with access to a catalog plan.

    For the features the catalog manages (``managed``), the plan's features in
    the catalog decide: billing_bootstrap attaches them to the plan's product,
    but Stripe applies a product's feature changes to existing subscriptions
    only at the start of their next billing period
    (https://docs.stripe.com/billing/entitlements, "Add your features to
    products"), so until then Stripe's active entitlements (``entitled``) still
    say what the plan was. Features Stripe entitles the customer to that the
    catalog knows nothing of (attached in the Dashboard to another product)
    come from Stripe.
    """
    if entitled is None:
        return plan_features
    return plan_features | (entitled - managed)


class _LocalCache:
    """A bounded, thread-safe, per-process map of (team id, billing version) to Access.

    Entries never need invalidating: a billing change bumps the team's version, so
    the next request, which loads the team row anyway, looks up a different key.
    Entries still expire at the next moment the decision could change by itself.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[int, int], tuple[float, Access]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> Access | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, access = entry
        if expires <= time.monotonic():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return access

    def set(self, key: tuple[int, int], access: Access, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Oldest first (dicts keep insertion order); stale versions go early.
                for old in list(self._entries)[: max(1, self.max_entries // 10)]:
                    del self._entries[old]
            self._entries[key] = (time.monotonic() + ttl, access)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_local = _LocalCache(max_entries=LOCAL_CACHE_ENTRIES)


def _cache_key(team_id: int, version: int) -> str:
    return f"access:v{CACHE_VERSION}:team:{team_id}:{version}"


def _ttl(access: Access, now: datetime) -> int:
    """Cache no longer than the next moment the decision could change by itself."""
    boundaries = [
        moment
        for moment in (
            access.grace_ends_at,
            access.current_period_end,
            access.trial_end,
            access.collection_resumes_at,
        )
        if moment is not None and moment > now
    ]
    seconds = float(MAX_CACHE_SECONDS)
    if boundaries:
        seconds = min(seconds, (min(boundaries) - now).total_seconds() + 1)
    return max(1, int(seconds))


def access_for(team: Team | None) -> Access:
    """The team's access, as of the ``billing_version`` on the team row passed in.

    Looks in this process's memory, then Redis (shared by all processes), then
    computes from the mirror. Pass a team loaded in this request or task (as
    ``request.team`` is): a row loaded before a billing change answers with the
    access from before it. No team (a visitor) is the free tier.
    """
    if team is None:
        return free_access()
    key = (team.pk, team.billing_version)
    access = _local.get(key)
    if access is not None:
        return access
    cached = cache.get(_cache_key(*key))
    access = cached if isinstance(cached, Access) else access_compute(team=team)
    # An answer from Redis was cached earlier: it expires here on the same boundary.
    ttl = _ttl(access, timezone.now())
    if access is not cached:
        cache.set(_cache_key(*key), access, timeout=ttl)
    _local.set(key, access, ttl=ttl)
    return access


def access_invalidate(*, team_id: int | None = None, team: Team | None = None) -> None:
    """Make every cached answer for this team stale, in every process.

    Bumps ``billing_version`` on the team row. Called inside the transaction that
    changes the mirror, the new version becomes visible together with the new
    state, so no process can cache the old state under the new version. Given
    ``team`` (an instance, such as ``request.team``), its version is reloaded too,
    so the rest of this request or task sees the change.
    """
    from teams.models import Team

    if team is not None:
        team_id = team.pk
    if team_id is None:
        raise TypeError("access_invalidate needs team_id or team")
    Team.objects.filter(pk=team_id).update(billing_version=F("billing_version") + 1)
    if team is not None:
        team.refresh_from_db(fields=["billing_version"])


def access_refresh(*, team: Team) -> Access:
    """Invalidate and recompute now; ``team`` gets the new version."""
    access_invalidate(team=team)
    return access_for(team)


def access_local_clear() -> None:
    """Empty this process's layer (tests, whose rolled-back rows reuse ids and versions)."""
    _local.clear()
