"""Staff pages: find a customer, and everything about one team or user on one page.

Anonymous visitors go to the login page, signed-in non-staff get a 404
(``subscriptions.reports.views.staff_required``, as the billing health page).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from subscriptions.reports.views import staff_required
from teams.models import Team

from . import selectors


@never_cache
@require_GET
@staff_required
def customer_search(request: HttpRequest) -> HttpResponse:
    """Search by email, team name or slug, or Stripe customer id (cus_...)."""
    results = selectors.customer_search(query=request.GET.get("q", "")[:200])
    return render(request, "support/staff/customer_search.html", {"results": results})


@never_cache
@require_GET
@staff_required
def customer_team(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    page = selectors.team_customer_page(team=team)
    return render(request, "support/staff/customer_team.html", {"page": page})


@never_cache
@require_GET
@staff_required
def customer_user(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(get_user_model(), pk=pk)
    context = {
        "customer": customer,
        "memberships": selectors.user_memberships(user=customer),
        "impersonations": selectors.user_impersonations(user=customer),
    }
    return render(request, "support/staff/customer_user.html", context)
