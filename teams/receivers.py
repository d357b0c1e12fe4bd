"""allauth's signals: a personal team at signup, and a pending invitation after verification."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from . import services

if TYPE_CHECKING:
    from allauth.account.models import EmailAddress

    from accounts.models import User

logger = logging.getLogger(__name__)

# Where the team middleware remembers the last team opened (kept in sync with it).
LAST_TEAM_SESSION_KEY = "teams_last_slug"
# The invitation token a visitor followed before signing up, kept until their email is verified.
PENDING_INVITATION_SESSION_KEY = "teams_pending_invitation"


def on_user_signed_up(
    sender: Any, *, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    services.team_personal_ensure(user=user)


def on_email_confirmed(
    sender: Any, *, request: HttpRequest | None, email_address: EmailAddress, **kwargs: Any
) -> None:
    """Accept the invitation the visitor came with, once that address is verified."""
    session = getattr(request, "session", None)
    token = session.get(PENDING_INVITATION_SESSION_KEY) if session is not None else None
    if session is None or not token:
        return
    try:
        membership = services.invitation_accept(user=email_address.user, token=token)
    except services.TeamError as exc:
        logger.info("pending invitation not accepted after verification: %s", exc)
        return
    session.pop(PENDING_INVITATION_SESSION_KEY, None)
    # The login that follows verification lands in the team just joined.
    session[LAST_TEAM_SESSION_KEY] = membership.team.slug
