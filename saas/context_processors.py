"""Template context shared by every page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from subscriptions.access.gating import request_team
from teams.selectors import membership_for


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "STRIPE_EMULATOR": settings.STRIPE_EMULATOR,
        # The account menu links to connected accounts only when a provider is on.
        "SOCIAL_LOGIN": bool(settings.SOCIALACCOUNT_PROVIDERS),
    }


# Statuses whose team is asked to pay: past_due (Stripe is retrying) and unpaid.
BANNER_STATUSES = frozenset({"past_due", "unpaid"})
# Pages that say it themselves.
BANNER_HIDDEN_ON = frozenset({"billing"})


@dataclass(frozen=True)
class BillingBanner:
    team: Any
    status: str
    grace_ends_at: datetime | None
    access_lost: bool


def billing_banner(request: HttpRequest) -> dict[str, Any]:
    """The past-due banner on every page, for the team's owners and admins.

    Lazy: read only by the base template. It reads the cached access
    (``request.access``, no query when warm) first, so a team in good standing
    costs nothing; only a past-due team's non-team pages load the membership.
    """
    return {"billing_banner": SimpleLazyObject(lambda: _billing_banner(request))}


def _billing_banner(request: HttpRequest) -> BillingBanner | None:
    if not getattr(request.user, "is_authenticated", False):
        return None
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in BANNER_HIDDEN_ON:
        return None
    access = getattr(request, "access", None)
    if access is None or access.status not in BANNER_STATUSES:
        return None
    team = request_team(request)
    if team is None:
        return None
    membership = getattr(request, "membership", None)
    if membership is None or membership.team_id != team.pk:
        membership = membership_for(user=request.user, team_slug=team.slug)  # type: ignore[arg-type]
    if membership is None or not membership.manages_billing:
        return None
    return BillingBanner(
        team=team,
        status=str(access.status),
        grace_ends_at=access.grace_ends_at if access.has_access else None,
        access_lost=not access.has_access,
    )
