"""The navbar's team switcher: the current team and the user's teams, read only when shown."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import selectors


def teams(request: HttpRequest) -> dict[str, Any]:
    resolve = getattr(request, "team_current", None)
    if resolve is None:
        return {}
    user = request.user
    return {
        "current_team": SimpleLazyObject(resolve),
        "switch_teams": SimpleLazyObject(
            lambda: list(selectors.teams_for_user(user=user)) if user.is_authenticated else []
        ),
    }
