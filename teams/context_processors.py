"""The navbar's team switcher: the current team and the user's teams, read only when shown."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def teams(request: HttpRequest) -> dict[str, Any]:
    resolve = getattr(request, "team_current", None)
    if resolve is None:
        return {}
    return {
        "current_team": SimpleLazyObject(resolve),
        # The list the middleware chose the current team from: one query for both.
        "switch_teams": SimpleLazyObject(request.user_teams),  # type: ignore[attr-defined]
    }
