"""Feature gating for views: middleware, decorators and class-based view mixins.

``request.access`` is lazy: a view that never looks at it pays nothing, and a
warm cache answers without a database query.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from ..catalog import get_catalog
from .access import Access, access_for

if TYPE_CHECKING:
    from teams.models import Team

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


def request_team(request: HttpRequest) -> Team | None:
    """The team the request acts for, from ``request.team_current()`` (set by
    ``teams.middleware.TeamMiddleware``; the URL's team on team pages), or None."""
    resolve = getattr(request, "team_current", None)
    team: Team | None = resolve() if resolve is not None else None
    return team


class AccessMiddleware:
    """Adds the lazy ``request.access``: the current team's (after TeamMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.access = SimpleLazyObject(lambda: access_for(request_team(request)))  # type: ignore[attr-defined]
        return self.get_response(request)


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def deny(request: HttpRequest, *, feature: str | None) -> HttpResponseBase:
    """Redirect to pricing with a message naming the plan that unlocks it (403 for JSON)."""
    catalog = get_catalog()
    plan = catalog.cheapest_plan_with(feature) if feature else None
    if plan is None and not feature:
        paid = catalog.paid_plans
        plan = paid[0] if paid else None
    feature_name = catalog.features[feature].name if feature in catalog.features else feature
    if feature and plan:
        text = _("%(feature)s is part of the %(plan)s plan. Upgrade to unlock it.") % {
            "feature": feature_name,
            "plan": plan.name,
        }
    else:
        text = _("This page needs an active subscription. Choose a plan to continue.")
    if _wants_json(request):
        return JsonResponse(
            {
                "error": "upgrade_required",
                "feature": feature,
                "plan": plan.key if plan else None,
                "message": text,
            },
            status=403,
        )
    messages.info(request, text)
    return redirect("pricing")


def _check(request: HttpRequest, feature: str | None) -> HttpResponseBase | None:
    if not request.user.is_authenticated:
        if _wants_json(request):
            return JsonResponse({"error": "authentication_required"}, status=401)
        return redirect_to_login(request.get_full_path())
    access = cast(Access, request.access)  # type: ignore[attr-defined]
    allowed = access.has(feature) if feature else access.has_access
    return None if allowed else deny(request, feature=feature)


def subscription_required(view: ViewFunc) -> ViewFunc:
    """The user must be logged in with paid access (active, trialing or in grace)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _check(request, None) or view(request, *args, **kwargs)

    return cast(ViewFunc, wrapper)


def feature_required(feature: str) -> Callable[[ViewFunc], ViewFunc]:
    """The current team's plan must include ``feature`` (a Stripe entitlement lookup key)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return _check(request, feature) or view(request, *args, **kwargs)

        return cast(ViewFunc, wrapper)

    return decorator


class SubscriptionRequiredMixin:
    """Class-based view version of ``subscription_required``."""

    required_feature: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        denied = _check(request, self.required_feature)
        if denied is not None:
            return denied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class FeatureRequiredMixin(SubscriptionRequiredMixin):
    """Set ``required_feature = "exports"`` on the view."""

    required_feature: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not self.required_feature:
            raise TypeError(f"{type(self).__name__} needs required_feature")
        return super().dispatch(request, *args, **kwargs)
