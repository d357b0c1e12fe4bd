"""The team's credits page at /t/<slug>/credits/: balance, history, packs to buy.

The team middleware answered 404 to non-members and set ``request.team`` and
``request.membership``. Members see the page; owners and admins buy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import request_user
from subscriptions.catalog import get_catalog
from subscriptions.services import BillingError, SessionNotFound

from . import credit_selectors, credits

if TYPE_CHECKING:
    from teams.models import Membership, Team

logger = logging.getLogger(__name__)


class SeeOther(HttpResponseRedirect):
    status_code = 303  # the browser follows a POST's redirect with a GET


def _team(request: HttpRequest) -> Team:
    return cast("Team", request.team)  # type: ignore[attr-defined]


def _manages_billing(request: HttpRequest) -> bool:
    membership = cast("Membership | None", getattr(request, "membership", None))
    return membership is not None and membership.manages_billing


def _return_sync(request: HttpRequest, team: Team) -> None:
    """Back from Checkout: grant now (the webhook finds it done) and say what happened."""
    session_id = request.GET.get("session_id", "")
    try:
        outcome = credits.credits_checkout_return(team=team, session_id=session_id)
    except SessionNotFound as exc:
        raise Http404("No such checkout session") from exc
    except BillingError:
        logger.exception("credits return sync failed for team %s", team.pk)
        messages.info(
            request, _("Your payment is being confirmed; the credits appear in a moment.")
        )
        return
    if outcome.state == "granted" and outcome.entry is not None:
        messages.success(
            request,
            _("Thank you: %(credits)s credits were added to your team.")
            % {"credits": f"{outcome.entry.credits:,}"},
        )
    elif outcome.state == "processing":
        messages.info(request, _("Your payment is being confirmed; the credits appear once it is."))


@verified_email_required
@require_GET
def credits_page(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = _team(request)
    if "session_id" in request.GET:
        _return_sync(request, team)
        return redirect("credits", team_slug=team.slug)  # a reload does not sync again
    context = {
        "balance": credit_selectors.credit_balance(team_id=team.pk),
        "ledger": credit_selectors.credit_ledger_page(
            team_id=team.pk,
            page=request.GET.get("page"),
            per_page=settings.CREDITS_LEDGER_PAGE_SIZE,
        ),
        "packs": credit_selectors.credit_packs(),
        "currency": get_catalog().currency,
        "can_buy": _manages_billing(request),
        "credits_per_export": settings.CREDITS_PER_EXPORT,
    }
    response = render(request, "usage/credits.html", context)
    add_never_cache_headers(response)
    return response


@verified_email_required
@require_POST
def credits_buy(request: HttpRequest, team_slug: str) -> HttpResponse:
    if not _manages_billing(request):
        raise PermissionDenied("Only the team's owners and admins buy credits.")
    team = _team(request)
    try:
        url = credits.credits_checkout_create(
            team=team, user=request_user(request), pack_key=request.POST.get("pack", "")
        )
    except credits.UnknownCreditPack as exc:
        messages.error(request, _(exc.user_message))
        return redirect("credits", team_slug=team.slug)
    except BillingError:
        logger.exception("credits checkout failed for team %s", team.pk)
        messages.error(request, _("Stripe could not start the payment. Please try again."))
        return redirect("credits", team_slug=team.slug)
    return SeeOther(url)
