"""Support writes: the impersonation audit trail and closing an account.

Closing an account needs teams (memberships, team deletion) and billing (the
subscription is canceled before the personal team goes): this app is above both
in the import order, so the orchestration lives here and the rules stay in
``teams.services``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from allauth.account.adapter import get_adapter
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from saas.email import email_message_build
from teams import services as team_services
from teams.models import Membership, Team

from .models import Impersonation

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("support.audit")

# The open audit row of the impersonation going on in this session.
IMPERSONATION_SESSION_KEY = "support_impersonation_id"


# --- Impersonation -----------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    # allauth's reading of the client address follows ALLAUTH_TRUSTED_PROXY_COUNT.
    try:
        return str(get_adapter(request).get_client_ip(request)) or None
    except Exception:  # a missing REMOTE_ADDR must not stop the audit row
        return None


def impersonation_record_start(*, request: HttpRequest, hijacker: Any, hijacked: Any) -> None:
    """An audit row and a log line when staff start working as ``hijacked``."""
    record = Impersonation.objects.create(
        hijacker=hijacker,
        hijacker_email=hijacker.email,
        hijacked=hijacked,
        hijacked_email=hijacked.email,
        ip_address=_client_ip(request),
    )
    request.session[IMPERSONATION_SESSION_KEY] = record.pk
    audit_logger.info(
        "impersonation started id=%s staff=%s user=%s", record.pk, hijacker.pk, hijacked.pk
    )


def impersonation_record_end(*, request: HttpRequest, hijacker: Any, hijacked: Any) -> None:
    """Close the session's audit row (or the pair's latest open one) and log it."""
    record_id = request.session.pop(IMPERSONATION_SESSION_KEY, None)
    open_rows = Impersonation.objects.filter(
        hijacker=hijacker, hijacked=hijacked, ended_at__isnull=True
    )
    record = (open_rows.filter(pk=record_id) if record_id else open_rows).first()
    if record is not None:
        record.ended_at = timezone.now()
        record.save(update_fields=["ended_at"])
    audit_logger.info(
        "impersonation ended id=%s staff=%s user=%s",
        record.pk if record else "-",
        hijacker.pk,
        hijacked.pk,
    )


# --- Closing an account ------------------------------------------------------------


class AccountDeleteRefused(Exception):
    """The account cannot be deleted yet; ``str()`` is safe to show to the user."""

    def __init__(self, message: str, teams: list[Team] | None = None) -> None:
        super().__init__(message)
        self.teams = teams or []


def teams_blocking_account_delete(*, user: User) -> list[Team]:
    """Teams (not personal) where ``user`` is the only owner and others are members.

    Deleting the account would leave them without an owner: the user must transfer
    ownership or delete the team first.
    """
    owned = Membership.objects.filter(
        user=user, role=Membership.Role.OWNER, team__personal_for__isnull=True
    ).values_list("team_id", flat=True)
    blocking = []
    for team in Team.objects.filter(pk__in=owned).prefetch_related("memberships"):
        members = list(team.memberships.all())
        owners = [m for m in members if m.role == Membership.Role.OWNER]
        if len(owners) == 1 and len(members) > 1:
            blocking.append(team)
    return blocking


def _teams_leave_or_delete(*, user: User) -> None:
    """Delete the teams the user alone is in, then leave the others (seats follow).

    Deletions come first: each cancels its team's subscription in Stripe before the
    team goes (``teams.services.team_delete``), and a Stripe failure stops here with
    the account, and every team not yet deleted, as they were.
    """
    memberships = list(
        Membership.objects.filter(user=user).select_related("team").order_by("team_id")
    )
    sizes = {
        m.team_id: m.team.memberships.count()
        for m in memberships
        if m.team.personal_for_id != user.pk
    }
    alone = [m for m in memberships if m.team.personal_for_id == user.pk or sizes[m.team_id] == 1]
    for membership in alone:
        team_services.team_delete(actor=membership, closing_account=True)
    for membership in memberships:
        if membership not in alone:
            team_services.team_leave(membership=membership)


def account_delete(*, user: User) -> None:
    """Close ``user``'s account: subscriptions canceled, teams left or deleted, user deleted.

    Refuses (``AccountDeleteRefused``) while the user is the only owner of a team with
    other members. A Stripe failure (``teams.services.TeamDeleteRefused``, raised by
    billing's ``team_deleting`` receiver) propagates before the team it concerns, or
    the user, is deleted: trying again goes on.
    The Stripe customer and its invoices are kept: invoices are accounting records
    the seller must retain; the local mirror keeps
    them, no longer linked to any user (dj-stripe sets the customer's subscriber to
    NULL when the team goes). A confirmation email goes to the account's address.
    """
    blocking = teams_blocking_account_delete(user=user)
    if blocking:
        names = ", ".join(t.name for t in blocking)
        raise AccountDeleteRefused(
            f"You are the only owner of {names}: transfer ownership or delete the team first.",
            teams=blocking,
        )
    _teams_leave_or_delete(user=user)
    user_id, email = user.pk, user.email
    message = email_message_build(
        template_prefix="support/email/account_deleted",
        subject="Your account was deleted",
        to=[email],
        context={"email": email},
    )
    with transaction.atomic():
        user.delete()
        # After commit: a rolled-back deletion sends nothing.
        transaction.on_commit(lambda: message.send())
    audit_logger.info("account deleted user=%s", user_id)
