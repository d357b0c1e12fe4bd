"""Billing's receivers of the signals of the apps below it (teams); connected in apps.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from teams.services import TeamDeleteRefused, TeamError

from . import services
from .changes import seats

if TYPE_CHECKING:
    from teams.models import Team


def on_team_deleting(sender: Any, *, team: Team, **kwargs: Any) -> None:
    """Cancel the team's subscriptions before it goes; refuse the deletion if Stripe fails."""
    try:
        services.team_subscriptions_cancel_now(team=team)
    except services.BillingError as exc:
        raise TeamDeleteRefused(exc.user_message) from exc


def on_membership_changed(sender: Any, *, team_id: int, reason: str, **kwargs: Any) -> None:
    """A member joined or left: a per-seat plan's quantity follows after commit."""
    seats.seats_changed(team_id=team_id, reason=reason)


def on_invitation_creating(sender: Any, *, team: Team, **kwargs: Any) -> None:
    """Refuse an invitation beyond the per-seat plan's maximum, with the reason."""
    try:
        seats.seats_invitation_check(team=team)
    except seats.SeatError as exc:
        raise TeamError(exc.user_message) from exc
