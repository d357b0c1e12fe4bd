"""Site pages that belong to no app."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from subscriptions.access.gating import request_team
from subscriptions.changes.seats import seat_usage
from subscriptions.selectors import billing_overview, pricing_cards
from teams.middleware import team_default


def home(request: HttpRequest) -> HttpResponse:
    """The landing page; its plan preview is the visitor's own team when it is on a
    per-seat plan, else the catalog's per-seat plan at its real price."""
    team = request_team(request)
    usage = seat_usage(team=team) if team is not None else None
    overview = billing_overview(team=team) if usage is not None and team is not None else None
    card = None
    if usage is None:
        cards = pricing_cards(interval="month", trial_eligible=False)
        card = next((c for c in cards if c.per_seat), None)
    context = {"seats": usage, "overview": overview, "seat_card": card}
    return render(request, "pages/home.html", context)


class TemporaryRedirectKeepingMethod(HttpResponseRedirect):
    """307: a POST to an old URL is repeated as a POST (with its CSRF token) at the new one."""

    status_code = 307


@login_required
def current_team_redirect(request: HttpRequest, *, to: str, **kwargs: Any) -> HttpResponse:
    """A URL from before teams: the same page of the user's current team.

    The current team is the last one the user opened, else their personal team;
    the target is built with ``reverse`` from the route name only (no open redirect).
    """
    team = team_default(request)
    assert team is not None  # login_required: every user has a personal team
    url = reverse(to, kwargs={**kwargs, "team_slug": team.slug})
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    if request.method == "GET":
        return HttpResponseRedirect(url)
    return TemporaryRedirectKeepingMethod(url)
