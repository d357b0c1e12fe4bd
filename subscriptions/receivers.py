"""Billing's receivers of the signals of the apps below it (teams); connected in apps.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from teams.services import TeamDeleteRefused

from . import services

if TYPE_CHECKING:
    from teams.models import Team


def on_team_deleting(sender: Any, *, team: Team, **kwargs: Any) -> None:
    """Cancel the team's subscriptions before it goes; refuse the deletion if Stripe fails."""
    try:
        services.team_subscriptions_cancel_now(team=team)
    except services.BillingError as exc:
        raise TeamDeleteRefused(exc.user_message) from exc
