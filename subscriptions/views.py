"""Billing pages: pricing, checkout, success, portal, billing overview, dev clock.

The billing pages are the team's (``/t/<slug>/billing/...``): the team
middleware has already answered 404 to non-members and set ``request.team`` and
``request.membership``. Owners and admins may open Checkout, the portal and the
billing actions; members see the plan read-only (403 on the actions). Views
validate input, call one service, and redirect or render. Stripe errors become a
friendly page with a retry, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.requests import request_user
from saas.logging import response_logged

from . import selectors, services
from .access.access import Access
from .access.billing_status import billing_status
from .access.gating import request_team
from .catalog import PlanSpec, get_catalog
from .changes import seats
from .dunning.selectors import open_invoice_for_team
from .status import LIVE as LIVE_STATUSES
from .status import SubscriptionStatus
from .tax.views import tax_id_context

if TYPE_CHECKING:
    from teams.models import Membership, Team

logger = logging.getLogger(__name__)

PENDING_PRICE_SESSION_KEY = services.PENDING_PRICE_SESSION_KEY
INTERVALS = {"month": _("Monthly"), "year": _("Yearly")}


class SeeOther(HttpResponseRedirect):
    """303: the browser follows with a GET (after a POST), as Stripe recommends."""

    status_code = 303


def _access(request: HttpRequest) -> Access:
    return cast(Access, request.access)  # type: ignore[attr-defined]


def _team(request: HttpRequest) -> Team:
    """The URL's team (team pages only: the team middleware checked membership)."""
    return cast("Team", request.team)  # type: ignore[attr-defined]


def _require_billing_manager(request: HttpRequest) -> None:
    """Checkout, the portal and billing actions are for the team's owners and admins."""
    membership = cast("Membership | None", getattr(request, "membership", None))
    if membership is None or not membership.manages_billing:
        logger.info("billing action refused: user=%s is not a billing manager", request.user.pk)
        raise PermissionDenied("Only the team's owners and admins manage its billing.")


def _billing_redirect(request: HttpRequest) -> HttpResponse:
    return redirect("billing", team_slug=_team(request).slug)


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    interval = request.GET.get("interval", "month")
    if interval not in INTERVALS:
        interval = "month"
    team = request_team(request)
    # The request's access (cached, no query when warm) knows the current plan and
    # whether the team ever subscribed, which is all trial eligibility asks.
    access = _access(request) if team is not None else None
    current_plan = access.plan_key if access is not None else None
    trial_eligible = access is None or not access.had_subscription
    members = seats.team_members(team=team) if team is not None else 1
    context = {
        "cards": selectors.pricing_cards(
            interval=interval, trial_eligible=trial_eligible, members=members
        ),
        "team": team,
        "interval": interval,
        "intervals": INTERVALS,
        "current_plan": current_plan,
    }
    return render(request, "subscriptions/pricing.html", context)


@require_GET
def choose(request: HttpRequest) -> HttpResponse:
    """Anonymous visitors pick a plan: remember it, sign up, come back to checkout."""
    lookup_key = request.GET.get("price", "")
    if get_catalog().price(lookup_key) is None:
        return _error(request, services.UnknownPrice(lookup_key), status=400)
    query = urlencode({"price": lookup_key})
    team = request_team(request)
    if team is not None:
        return redirect(f"{reverse('billing_checkout', kwargs={'team_slug': team.slug})}?{query}")
    # After signup the team-less URL sends the new user to their personal team's checkout.
    checkout_url = f"{reverse('billing_checkout')}?{query}"
    request.session[PENDING_PRICE_SESSION_KEY] = lookup_key
    return redirect(f"{reverse('account_signup')}?{urlencode({'next': checkout_url})}")


def pending_checkout_url(request: HttpRequest) -> str | None:
    """After login: on to checkout for the plan picked before signing up (LOGIN_CONTINUATIONS).

    The team-less checkout URL continues on the user's current (personal) team.
    """
    lookup_key = request.session.get(PENDING_PRICE_SESSION_KEY)
    if not lookup_key:
        return None
    return f"{reverse('billing_checkout')}?{urlencode({'price': lookup_key})}"


def _error(
    request: HttpRequest,
    error: services.BillingError,
    *,
    status: int,
    retry_price: str | None = None,
) -> HttpResponse:
    return render(
        request,
        "subscriptions/error.html",
        {"message": error.user_message, "retry_price": retry_price},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@verified_email_required
def checkout(request: HttpRequest, team_slug: str) -> HttpResponse:
    """GET: confirm the plan. POST: create the Checkout Session and go to Stripe."""
    _require_billing_manager(request)
    team = _team(request)
    lookup_key = (request.POST if request.method == "POST" else request.GET).get("price", "")
    request.session.pop(PENDING_PRICE_SESSION_KEY, None)
    try:
        price = services.price_for_checkout(lookup_key=lookup_key)
    except services.UnknownPrice as exc:
        logger.info("checkout refused: team=%s unknown price %r", team.pk, lookup_key[:64])
        return _error(request, exc, status=400)
    current = selectors.subscription_current(team=team)
    status = str(current.stripe_data.get("status")) if current else None
    if status == SubscriptionStatus.INCOMPLETE:
        messages.warning(request, _("Finish the payment of your pending subscription first."))
        return _billing_redirect(request)
    if status in ("active", "trialing"):
        # Never two subscriptions: a subscriber sees the price of the change first.
        query = urlencode({"price": lookup_key})
        return SeeOther(f"{reverse('billing_change', kwargs={'team_slug': team.slug})}?{query}")
    if status in LIVE_STATUSES:
        # Never two subscriptions: other live states are settled in the portal.
        if request.method == "GET":
            messages.info(request, _("You already have a subscription. Change plans here."))
            return _billing_redirect(request)
        try:
            return SeeOther(services.portal_session_create(team=team))
        except services.BillingError as exc:
            logger.exception("portal redirect failed for team %s: %s", team.pk, exc)
            return response_logged(_error(request, exc, status=503))
    plan = get_catalog().plan_for_lookup_key(lookup_key)
    assert plan is not None  # price_for_checkout checked the catalog
    if request.method == "GET":
        return _checkout_confirm(request, team=team, plan=plan, price=price, lookup_key=lookup_key)
    try:
        quantity = _checkout_quantity(request, team=team, plan=plan)
        url = services.checkout_session_create(
            team=team, user=request_user(request), price_lookup_key=lookup_key, quantity=quantity
        )
    except seats.SeatError as exc:
        logger.info("checkout refused: team=%s seats %r: %s", team.pk, exc, lookup_key)
        messages.error(request, exc.user_message)
        query = urlencode({"price": lookup_key, "seats": request.POST.get("seats", "")[:8]})
        return redirect(f"{reverse('billing_checkout', kwargs={'team_slug': team.slug})}?{query}")
    except services.StripeUnavailable as exc:
        logger.exception("checkout failed (retryable) for team %s: %s", team.pk, exc)
        return response_logged(_error(request, exc, status=503, retry_price=lookup_key))
    except services.BillingError as exc:
        logger.exception("checkout failed for team %s", team.pk)
        return response_logged(_error(request, exc, status=400, retry_price=lookup_key))
    return SeeOther(url)


def _checkout_quantity(request: HttpRequest, *, team: Team, plan: PlanSpec) -> int:
    """1 for a flat plan; for a per-seat plan the seats asked for, checked (SeatError)."""
    if not plan.is_per_seat:
        return 1
    return seats.seats_checkout_quantity(team=team, plan=plan, raw=request.POST.get("seats"))


def _checkout_confirm(
    request: HttpRequest, *, team: Team, plan: PlanSpec, price: Any, lookup_key: str
) -> HttpResponse:
    members = seats.team_member_count(team_id=team.pk)
    card = next(
        (
            c
            for c in selectors.pricing_cards(
                interval=price.stripe_data["recurring"]["interval"],
                trial_eligible=selectors.trial_eligible(team=team),
                members=members,
            )
            if c.lookup_key == lookup_key
        ),
        None,
    )
    chosen = request.GET.get("seats", "")
    if card is not None and card.per_seat and chosen.isdigit():
        card = replace(card, seats=int(chosen))
    return render(
        request,
        "subscriptions/checkout_confirm.html",
        {"card": card, "plan": plan, "members": members},
    )


@require_GET
@login_required
def checkout_success(request: HttpRequest, team_slug: str) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    team = _team(request)
    try:
        outcome = services.checkout_success_sync(team=team, session_id=session_id)
    except services.SessionNotFound as exc:
        raise Http404("No such checkout session") from exc
    except services.BillingError as exc:
        logger.exception("checkout success sync failed for team %s", team.pk)
        return render(
            request,
            "subscriptions/success.html",
            {"state": "processing", "error": exc.user_message},
        )
    return render(
        request, "subscriptions/success.html", {"outcome": outcome, "state": outcome.state}
    )


@require_POST
@login_required
def portal(request: HttpRequest, team_slug: str) -> HttpResponse:
    _require_billing_manager(request)
    team = _team(request)
    flow = request.POST.get("flow") or None
    if flow not in (None, "payment_method_update", "subscription_cancel"):
        return _error(request, services.BillingError("bad flow"), status=400)
    try:
        url = services.portal_session_create(team=team, flow=flow)  # type: ignore[arg-type]
    except services.NoCustomer as exc:
        messages.info(request, exc.user_message)
        return redirect("pricing")
    except services.BillingError as exc:
        logger.exception("portal session failed for team %s: %s", team.pk, exc)
        return response_logged(_error(request, exc, status=503))
    return SeeOther(url)


@require_GET
@login_required
def portal_return(request: HttpRequest, team_slug: str) -> HttpResponse:
    """Where the Customer Portal sends the customer back: sync once, then show billing."""
    _require_billing_manager(request)
    team = _team(request)
    if services.portal_return_sync(team=team):
        # The seats may have been changed in the portal: the seat sync adopts a
        # quantity above the members, raises one below them.
        seats.seats_changed(team_id=team.pk, reason="portal return")
    return _billing_redirect(request)


@require_POST
@login_required
def resume(request: HttpRequest, team_slug: str) -> HttpResponse:
    _require_billing_manager(request)
    team = _team(request)
    try:
        services.subscription_resume_cancellation(team=team, user=request_user(request))
    except services.BillingError as exc:
        logger.exception("resume failed for team %s", team.pk)
        messages.error(request, exc.user_message)
    else:
        messages.success(request, _("Your subscription will renew as usual."))
    return _billing_redirect(request)


@require_POST
@login_required
def seats_update(request: HttpRequest, team_slug: str) -> HttpResponse:
    """Owners and admins set the seats bought (at least the members); charged as the plan says."""
    _require_billing_manager(request)
    team = _team(request)
    try:
        outcome = seats.seats_purchase(team=team, quantity_raw=request.POST.get("seats", ""))
    except seats.SeatError as exc:
        messages.error(request, exc.user_message)
    except services.BillingError as exc:
        logger.exception("seat purchase failed for team %s", team.pk)
        messages.error(request, exc.user_message)
    else:
        messages.success(
            request, _("Your team now pays for %(n)s seats.") % {"n": outcome.after or ""}
        )
    return _billing_redirect(request)


@require_GET
@login_required
def billing(request: HttpRequest, team_slug: str) -> HttpResponse:
    overview = selectors.billing_overview(team=_team(request))
    access = _access(request)
    membership = cast("Membership", request.membership)  # type: ignore[attr-defined]
    context = {
        "team": _team(request),
        # Members see the plan; only owners and admins get the buttons.
        "can_manage_billing": membership.manages_billing,
        "overview": overview,
        "sub": overview.subscription,
        "access": access,
        "status": billing_status(overview=overview, access=access),
        **tax_id_context(team=_team(request), overview=overview),
        # An invoice Stripe could not collect: the page offers to pay it now.
        "open_invoice": open_invoice_for_team(team=_team(request))
        if access.status in ("past_due", "unpaid", "incomplete")
        else None,
        "seats": seats.seat_usage(team=_team(request)),
    }
    return render(request, "subscriptions/billing.html", context)


# --- Development only: move the emulator's test clock ----------------------------------

DEV_STEPS = {
    "day": _("+1 day"),
    "month": _("+1 month"),
    "trial_end": _("To trial end"),
    "renewal": _("To next renewal"),
}


@require_http_methods(["GET", "POST"])
@login_required
def dev_billing(request: HttpRequest, team_slug: str) -> HttpResponse:
    if not (settings.DEBUG and settings.STRIPE_EMULATOR):
        raise Http404()
    _require_billing_manager(request)
    team = _team(request)
    context: dict[str, Any] = {"steps": DEV_STEPS, "team": team}
    try:
        now = services.test_clock_now(team=team)
    except services.BillingError as exc:
        messages.error(request, exc.user_message)
        now = None
    if request.method == "POST" and now is not None:
        step = request.POST.get("step", "")
        state = selectors.billing_overview(team=team).subscription
        target = None
        if step == "day":
            target = now + timedelta(days=1)
        elif step == "month":
            target = now + timedelta(days=30)
        elif step == "trial_end" and state and state.trial_end and state.trial_end > now:
            target = state.trial_end + timedelta(minutes=1)
        elif step == "renewal" and state and state.current_period_end:
            target = state.current_period_end + timedelta(hours=2)
        if target is None:
            messages.warning(request, _("Nothing to advance to."))
        else:
            try:
                services.test_clock_advance(team=team, to=target)
                messages.success(
                    request, _("Clock moved to %(t)s.") % {"t": f"{target:%Y-%m-%d %H:%M} UTC"}
                )
            except services.BillingError as exc:
                messages.error(request, exc.user_message)
        return redirect("billing_dev", team_slug=team.slug)
    context["now"] = now
    context["overview"] = selectors.billing_overview(team=team)
    return render(request, "subscriptions/dev_billing.html", context)
