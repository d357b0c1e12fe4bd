"""The current team: from the URL (``/t/<slug>/...``) on team pages, else the last one used.

``request.team`` and ``request.membership`` are set on team pages, after the
membership check: a user who is not a member gets 404 (the page does not say
whether the team exists). ``request.team_current()`` answers on every page (the
URL's team, else the last team the user opened, else the personal team) and costs
a query only when called; ``subscriptions.access.gating.AccessMiddleware`` builds
``request.access`` from it. The session only remembers which team to propose; it
never decides which team a page acts for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase

from . import selectors, services
from .models import Team
from .receivers import LAST_TEAM_SESSION_KEY


def team_default(request: HttpRequest) -> Team | None:
    """The team a page without one in its URL means for this user (None for visitors):
    the last one used if still a member, else the personal team, else the first.

    Chosen from the user's teams as the navbar's switcher lists them
    (``request.user_teams``), so a page shows both for one query.
    """
    user = request.user
    if not user.is_authenticated:
        return None
    teams: list[Team] = request.user_teams()  # type: ignore[attr-defined]
    preferred = request.session.get(LAST_TEAM_SESSION_KEY)
    chosen = next((t for t in teams if preferred and t.slug == preferred), None)
    chosen = chosen or next((t for t in teams if t.personal_for_id == user.pk), None)
    chosen = chosen or (teams[0] if teams else None)
    # Users made outside signup (createsuperuser, the admin) get theirs on first use.
    return chosen or services.team_personal_ensure(user=user)


def _user_teams(request: HttpRequest) -> Callable[[], list[Team]]:
    box: list[list[Team]] = []

    def resolve() -> list[Team]:
        if not box:
            user = request.user
            box.append(list(selectors.teams_for_user(user=user)) if user.is_authenticated else [])
        return box[0]

    return resolve


def _memo(compute: Callable[[], Team | None]) -> Callable[[], Team | None]:
    box: list[Team | None] = []

    def resolve() -> Team | None:
        if not box:
            box.append(compute())
        return box[0]

    return resolve


class TeamMiddleware:
    """After AuthenticationMiddleware, before ``subscriptions.access.gating.AccessMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.team = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        request.user_teams = _user_teams(request)  # type: ignore[attr-defined]
        request.team_current = _memo(lambda: team_default(request))  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        slug = view_kwargs.get("team_slug")
        if slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = selectors.membership_for(user=request.user, team_slug=slug)
        if membership is None:
            raise Http404("No such team")
        team = membership.team
        request.team = team  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        request.team_current = lambda: team  # type: ignore[attr-defined]
        if request.session.get(LAST_TEAM_SESSION_KEY) != slug:
            request.session[LAST_TEAM_SESSION_KEY] = slug
        return None
