"""Billing's receivers of the signals of the apps below it (teams) and of dj-stripe's models;
connected in apps.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from teams.services import TeamDeleteRefused, TeamError

from . import selectors, services
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


def on_membership_joining(sender: Any, *, team: Team, **kwargs: Any) -> None:
    """Refuse a member beyond the per-seat plan's maximum, with the reason."""
    try:
        seats.seats_join_check(team=team)
    except seats.SeatError as exc:
        raise TeamError(exc.user_message) from exc


def on_price_mirrored(sender: Any, **kwargs: Any) -> None:
    """A Price was saved or deleted in the mirror: the pricing page's cached prices are old.

    At once (a read in this transaction, or a test's, sees the change) and again on
    commit (an entry another process filled from the rows before the commit is old too).
    """
    selectors.catalog_prices_invalidate()
    transaction.on_commit(selectors.catalog_prices_invalidate)
