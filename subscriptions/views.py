"""Billing pages: pricing, checkout, success, portal, billing overview, dev clock.

Views validate input, call one service, and redirect or render. Stripe errors
become a friendly page with a retry, never a 500.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from saas.logging import response_logged

from . import selectors, services
from .access import Access
from .billing_status import billing_status
from .catalog import get_catalog
from .policy import LIVE_STATUSES

logger = logging.getLogger(__name__)

PENDING_PRICE_SESSION_KEY = "billing_pending_price"
INTERVALS = {"month": _("Monthly"), "year": _("Yearly")}


class SeeOther(HttpResponseRedirect):
    """303: the browser follows with a GET (after a POST), as Stripe recommends."""

    status_code = 303


def _access(request: HttpRequest) -> Access:
    return cast(Access, request.access)  # type: ignore[attr-defined]


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    interval = request.GET.get("interval", "month")
    if interval not in INTERVALS:
        interval = "month"
    current_plan = _access(request).plan_key if request.user.is_authenticated else None
    context = {
        "cards": selectors.pricing_cards(
            interval=interval, trial_eligible=selectors.trial_eligible(user=request.user)
        ),
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
    checkout_url = f"{reverse('billing_checkout')}?{urlencode({'price': lookup_key})}"
    if request.user.is_authenticated:
        return redirect(checkout_url)
    request.session[PENDING_PRICE_SESSION_KEY] = lookup_key
    return redirect(f"{reverse('account_signup')}?{urlencode({'next': checkout_url})}")


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
def checkout(request: HttpRequest) -> HttpResponse:
    """GET: confirm the plan. POST: create the Checkout Session and go to Stripe."""
    lookup_key = (request.POST if request.method == "POST" else request.GET).get("price", "")
    request.session.pop(PENDING_PRICE_SESSION_KEY, None)
    try:
        price = services.price_for_checkout(lookup_key=lookup_key)
    except services.UnknownPrice as exc:
        logger.info("checkout refused: user=%s unknown price %r", request.user.pk, lookup_key[:64])
        return _error(request, exc, status=400)
    current = selectors.subscription_current(user=request.user)
    status = str(current.stripe_data.get("status")) if current else None
    if status == "incomplete":
        messages.warning(request, _("Finish the payment of your pending subscription first."))
        return redirect("billing")
    if status in LIVE_STATUSES:
        # Never two subscriptions: plan changes happen in the portal.
        if request.method == "GET":
            messages.info(request, _("You already have a subscription. Change plans here."))
            return redirect("billing")
        try:
            return SeeOther(services.portal_session_create(user=request.user))
        except services.BillingError as exc:
            logger.exception("portal redirect failed for user %s", request.user.pk)
            return _error(request, exc, status=503)
    plan = get_catalog().plan_for_lookup_key(lookup_key)
    if request.method == "GET":
        card = next(
            (
                c
                for c in selectors.pricing_cards(
                    interval=price.stripe_data["recurring"]["interval"],
                    trial_eligible=selectors.trial_eligible(user=request.user),
                )
                if c.lookup_key == lookup_key
            ),
            None,
        )
        return render(request, "subscriptions/checkout_confirm.html", {"card": card, "plan": plan})
    try:
        url = services.checkout_session_create(user=request.user, price_lookup_key=lookup_key)
    except services.StripeUnavailable as exc:
        logger.exception("checkout failed (retryable) for user %s", request.user.pk)
        return response_logged(_error(request, exc, status=503, retry_price=lookup_key))
    except services.BillingError as exc:
        logger.exception("checkout failed for user %s", request.user.pk)
        return response_logged(_error(request, exc, status=400, retry_price=lookup_key))
    return SeeOther(url)


@require_GET
@login_required
def checkout_success(request: HttpRequest) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    try:
        outcome = services.checkout_success_sync(user=request.user, session_id=session_id)
    except services.SessionNotFound as exc:
        raise Http404("No such checkout session") from exc
    except services.BillingError as exc:
        logger.exception("checkout success sync failed for user %s", request.user.pk)
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
def portal(request: HttpRequest) -> HttpResponse:
    flow = request.POST.get("flow") or None
    if flow not in (None, "payment_method_update", "subscription_cancel"):
        return _error(request, services.BillingError("bad flow"), status=400)
    try:
        url = services.portal_session_create(user=request.user, flow=flow)  # type: ignore[arg-type]
    except services.NoCustomer as exc:
        messages.info(request, exc.user_message)
        return redirect("pricing")
    except services.BillingError as exc:
        logger.exception("portal session failed for user %s", request.user.pk)
        return _error(request, exc, status=503)
    return SeeOther(url)


@require_GET
@login_required
def portal_return(request: HttpRequest) -> HttpResponse:
    """Where the Customer Portal sends the customer back: sync once, then show /billing/."""
    services.portal_return_sync(user=request.user)
    return redirect("billing")


@require_POST
@login_required
def resume(request: HttpRequest) -> HttpResponse:
    try:
        services.subscription_resume_cancellation(user=request.user)
    except services.BillingError as exc:
        logger.exception("resume failed for user %s", request.user.pk)
        messages.error(request, exc.user_message)
    else:
        messages.success(request, _("Your subscription will renew as usual."))
    return redirect("billing")


@require_GET
@login_required
def billing(request: HttpRequest) -> HttpResponse:
    overview = selectors.billing_overview(user=request.user)
    access = _access(request)
    context = {
        "overview": overview,
        "sub": overview.subscription,
        "access": access,
        "status": billing_status(overview=overview, access=access),
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
def dev_billing(request: HttpRequest) -> HttpResponse:
    if not (settings.DEBUG and settings.STRIPE_EMULATOR):
        raise Http404()
    context: dict[str, Any] = {"steps": DEV_STEPS}
    try:
        now = services.test_clock_now(user=request.user)
    except services.BillingError as exc:
        messages.error(request, exc.user_message)
        now = None
    if request.method == "POST" and now is not None:
        step = request.POST.get("step", "")
        state = selectors.billing_overview(user=request.user).subscription
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
                services.test_clock_advance(user=request.user, to=target)
                messages.success(
                    request, _("Clock moved to %(t)s.") % {"t": f"{target:%Y-%m-%d %H:%M} UTC"}
                )
            except services.BillingError as exc:
                messages.error(request, exc.user_message)
        return redirect("billing_dev")
    context["now"] = now
    context["overview"] = selectors.billing_overview(user=request.user)
    return render(request, "subscriptions/dev_billing.html", context)
