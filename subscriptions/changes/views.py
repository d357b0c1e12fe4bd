"""Plan change with the price shown first, and pausing payments (team billing pages).

The team middleware has answered 404 to non-members; members get 403 on every
action here (owners and admins manage billing). Bad input (an unknown price, a
forged or stale confirmation) gets a clear message and changes nothing.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.requests import request_user
from saas.logging import response_logged

from .. import services
from ..views import SeeOther, _billing_redirect, _error, _require_billing_manager, _team
from . import pause, plan_change

logger = logging.getLogger(__name__)


def change_url(*, team_slug: str, lookup_key: str) -> str:
    query = urlencode({"price": lookup_key})
    return f"{reverse('billing_change', kwargs={'team_slug': team_slug})}?{query}"


@require_http_methods(["GET", "POST"])
@login_required
def change(request: HttpRequest, team_slug: str) -> HttpResponse:
    """GET: the price of changing to ``price``. POST: apply exactly that preview."""
    _require_billing_manager(request)
    team = _team(request)
    data = request.POST if request.method == "POST" else request.GET
    lookup_key = data.get("price", "")
    try:
        if request.method == "POST":
            return _apply(request, lookup_key=lookup_key, token=data.get("confirmation", ""))
        preview = plan_change.plan_change_preview(team=team, lookup_key=lookup_key)
    except plan_change.IntervalChange:
        return _to_portal(request, lookup_key=lookup_key)
    except plan_change.PreviewExpired as exc:
        messages.warning(request, exc.user_message)
        return SeeOther(change_url(team_slug=team.slug, lookup_key=lookup_key))
    except (plan_change.PlanChangeRefused, services.UnknownPrice, services.NoCustomer) as exc:
        logger.info("plan change refused for team %s: %s", team.pk, exc)
        return _error(request, exc, status=400)
    except services.BillingError as exc:
        logger.exception("plan change failed for team %s", team.pk)
        return response_logged(_error(request, exc, status=503))
    return render(request, "subscriptions/plan_change.html", {"preview": preview, "team": team})


def _apply(request: HttpRequest, *, lookup_key: str, token: str) -> HttpResponse:
    team = _team(request)
    outcome = plan_change.plan_change_apply(
        team=team, user=request_user(request), lookup_key=lookup_key, token=token
    )
    if outcome.state == "action_required" and outcome.action_url:
        # 3-D Secure (or a new card) on Stripe's page; the upgrade applies when paid.
        return SeeOther(outcome.action_url)
    if outcome.state in ("action_required", "payment_failed"):
        messages.error(
            request,
            _("The payment for the new plan did not go through, so your plan has not changed."),
        )
    elif outcome.state == "scheduled":
        messages.success(request, _("Your plan will change at the end of the billing period."))
    else:
        messages.success(request, _("Your plan has changed."))
    return SeeOther(reverse("billing", kwargs={"team_slug": team.slug}))


def _to_portal(request: HttpRequest, *, lookup_key: str) -> HttpResponse:
    team = _team(request)
    try:
        return SeeOther(plan_change.portal_plan_change_url(team=team, lookup_key=lookup_key))
    except services.BillingError as exc:
        logger.exception("portal plan change failed for team %s", team.pk)
        return response_logged(_error(request, exc, status=503))


@require_POST
@login_required
def keep_plan(request: HttpRequest, team_slug: str) -> HttpResponse:
    """Undo a downgrade waiting for the period end."""
    _require_billing_manager(request)
    team = _team(request)
    try:
        plan_change.scheduled_change_cancel(team=team, user=request_user(request))
    except services.BillingError as exc:
        logger.info("keep plan failed for team %s: %s", team.pk, exc)
        messages.error(request, exc.user_message)
    else:
        messages.success(request, _("Your plan stays as it is."))
    return _billing_redirect(request)


@require_POST
@login_required
def pause_collection(request: HttpRequest, team_slug: str) -> HttpResponse:
    _require_billing_manager(request)
    team = _team(request)
    try:
        months = int(request.POST.get("months", ""))
        resumes_at = pause.collection_pause(team=team, user=request_user(request), months=months)
    except ValueError:
        messages.error(request, _("Choose to pause payments for 1, 2 or 3 months."))
    except services.BillingError as exc:
        logger.info("pause failed for team %s: %s", team.pk, exc)
        messages.error(request, exc.user_message)
    else:
        messages.success(
            request,
            _("Payments are paused until %(date)s.")
            % {"date": date_format(resumes_at, "DATE_FORMAT")},
        )
    return _billing_redirect(request)


@require_POST
@login_required
def resume_collection(request: HttpRequest, team_slug: str) -> HttpResponse:
    _require_billing_manager(request)
    team = _team(request)
    try:
        pause.collection_resume(team=team, user=request_user(request))
    except services.BillingError as exc:
        logger.info("resume collection failed for team %s: %s", team.pk, exc)
        messages.error(request, exc.user_message)
    else:
        messages.success(request, _("Payments have resumed."))
    return _billing_redirect(request)
