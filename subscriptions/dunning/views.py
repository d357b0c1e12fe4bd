"""Dunning pages of a team: pay the open invoice now, cancel with a reason (and an offer).

Owners and admins only (403 for members); the team middleware already answered
404 to non-members. Views validate input, call one service and redirect.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.requests import request_user
from saas.logging import response_logged

from .. import selectors
from ..services import BillingError, StripeUnavailable
from ..views import SeeOther, _billing_redirect, _error, _require_billing_manager, _team
from . import selectors as dunning_selectors
from . import services as dunning

logger = logging.getLogger(__name__)


@require_POST
@login_required
def pay_now(request: HttpRequest, team_slug: str) -> HttpResponse:
    """Pay the team's open invoice with the saved card; on a decline or 3-D Secure,
    say so and offer Stripe's hosted invoice page."""
    _require_billing_manager(request)
    team = _team(request)
    try:
        result = dunning.invoice_pay_now(team=team, user=request_user(request))
    except dunning.NothingToPay as exc:
        messages.info(request, exc.user_message)
        return _billing_redirect(request)
    except BillingError as exc:
        logger.exception("pay now failed for team %s", team.pk)
        return response_logged(_error(request, exc, status=503))
    if result.outcome == "action_required" and result.hosted_invoice_url:
        # The bank wants the customer to authenticate: Stripe's page does 3-D Secure.
        return SeeOther(result.hosted_invoice_url)
    if result.outcome == "paid":
        messages.success(request, _("Payment received. Thank you! Your plan is active again."))
    else:
        # Stripe's message says why ("Your card was declined."); then what to do.
        messages.error(
            request,
            "{} {}".format(
                result.message,
                _("Update your card, or pay with another card on the invoice page."),
            ),
        )
    return _billing_redirect(request)


@require_http_methods(["GET", "POST"])
@login_required
def cancel(request: HttpRequest, team_slug: str) -> HttpResponse:
    """Ask why (Stripe's cancellation feedback), offer the retention coupon once,
    then cancel at the end of the period, or apply the coupon."""
    _require_billing_manager(request)
    team = _team(request)
    current = selectors.subscription_current(team=team)
    status = str((current.stripe_data or {}).get("status")) if current else ""
    if current is None or status not in dunning.CANCELABLE_STATUSES:
        messages.info(request, _("There is no active subscription to cancel."))
        return _billing_redirect(request)
    offer = dunning_selectors.retention_offer_for(subscription_id=current.id)
    context = {
        "team": team,
        "offer": offer,
        "feedback_choices": list(dunning.CANCELLATION_FEEDBACK.items()),
        "selected": request.POST.get("feedback", ""),
        "comment": request.POST.get("comment", ""),
        "ends": selectors.subscription_state(current).current_period_end,
    }
    if request.method == "GET":
        return render(request, "subscriptions/cancel.html", context)
    try:
        if request.POST.get("action") == "accept_offer":
            dunning.retention_offer_accept(team=team, user=request_user(request))
            messages.success(
                request, _("Thanks for staying! The discount applies from your next invoice.")
            )
        else:
            dunning.subscription_cancel_with_feedback(
                team=team,
                user=request_user(request),
                feedback=request.POST.get("feedback", ""),
                comment=request.POST.get("comment", ""),
            )
            messages.success(
                request,
                _("Your subscription is canceled. You keep your plan until the end of the period."),
            )
    except dunning.InvalidFeedback as exc:
        context["error"] = exc.user_message
        return render(request, "subscriptions/cancel.html", context, status=400)
    except StripeUnavailable as exc:
        logger.exception("cancel failed for team %s", team.pk)
        return response_logged(_error(request, exc, status=503))
    except BillingError as exc:
        messages.error(request, exc.user_message)
    return _billing_redirect(request)
