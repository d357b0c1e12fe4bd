"""Team writes: teams, roles, invitations. Every rule about who may do what lives here.

Rules: a team always has at least one owner; owners and admins manage members and
invitations; only owners grant or take the owner role, transfer ownership or delete
the team; a personal team is neither left nor deleted. Role changes lock the team's
memberships (``select_for_update``) so two concurrent demotions cannot leave it
without an owner.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from saas.email import email_message_build

from .models import Invitation, Membership, Team
from .signals import invitation_creating, membership_changed, membership_joining, team_deleting

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

Role = Membership.Role
INVITATION_TTL = timedelta(days=7)
MANAGER_ROLES = (Role.OWNER, Role.ADMIN)


class TeamError(Exception):
    """A team action that is not allowed; ``str()`` is safe to show to the user."""


class NotAllowed(TeamError):
    pass


class LastOwner(TeamError):
    pass


class InvitationInvalid(TeamError):
    """Unknown, used, revoked, declined or expired: the page does not say which."""


class InvitationWrongEmail(TeamError):
    pass


class TeamDeleteRefused(TeamError):
    """Raised by a ``signals.team_deleting`` receiver: the team stays as it was."""


# --- Teams -------------------------------------------------------------------------


def _slug_free(base: str) -> str:
    base = (slugify(base) or "team")[:50].strip("-") or "team"
    slug = base
    while Team.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def team_create(*, owner: User, name: str, billing_email: str = "") -> Team:
    """A new team with ``owner`` as its first owner."""
    name = name.strip()[:100]
    if not name:
        raise TeamError("A team needs a name.")
    with transaction.atomic():
        team = Team.objects.create(
            name=name, slug=_slug_free(name), email=billing_email or owner.email
        )
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    logger.info("team created team=%s owner=%s", team.pk, owner.pk)
    return team


def team_personal_ensure(*, user: User) -> Team:
    """The user's personal team, created the first time (at signup)."""
    existing = Team.objects.filter(personal_for=user).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            team = Team.objects.create(
                name=user.get_short_name(),
                slug=_slug_free(user.email.split("@", 1)[0]),
                email=user.email,
                personal_for=user,
            )
            Membership.objects.create(team=team, user=user, role=Role.OWNER)
    except IntegrityError:
        # A concurrent request created it first (personal_for is unique).
        return Team.objects.get(personal_for=user)
    logger.info("personal team created team=%s user=%s", team.pk, user.pk)
    return team


def team_update(*, actor: Membership, name: str, billing_email: str) -> Team:
    _require_manager(actor)
    team = actor.team
    team.name = name.strip()[:100] or team.name
    team.email = billing_email.strip()
    team.save(update_fields=["name", "email"])
    return team


def team_delete(*, actor: Membership, closing_account: bool = False) -> None:
    """Delete the team after canceling its Stripe subscriptions (owners only).

    A personal team goes only with its user's account (``closing_account``).

    The cancellation comes first and outside the transaction (a Stripe call, made by
    billing's ``signals.team_deleting`` receiver); if it fails the receiver raises
    ``TeamDeleteRefused`` and the team stays, with its subscription, so the owner can
    try again.
    """
    team = actor.team
    if actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can delete the team.")
    if team.is_personal and not (closing_account and team.personal_for_id == actor.user_id):
        raise NotAllowed("Your personal team cannot be deleted.")
    team_deleting.send(sender=Team, team=team)
    team_id = team.pk
    team.delete()
    logger.info("team deleted team=%s by user=%s", team_id, actor.user_id)


# --- Members -----------------------------------------------------------------------


def _require_manager(actor: Membership) -> None:
    if actor.role not in MANAGER_ROLES:
        raise NotAllowed("Only owners and admins can do that.")


def _locked_memberships(team_id: int) -> list[Membership]:
    """All of the team's memberships, locked until the transaction ends."""
    return list(Membership.objects.select_for_update().filter(team_id=team_id).order_by("pk"))


def _others_owners(rows: list[Membership], target_pk: int) -> int:
    return sum(1 for m in rows if m.role == Role.OWNER and m.pk != target_pk)


def membership_role_change(*, actor: Membership, target: Membership, role: str) -> Membership:
    """Change ``target``'s role. Only owners touch the owner role; one owner always stays."""
    if role not in Role.values:
        raise TeamError("Unknown role.")
    _require_manager(actor)
    if target.team_id != actor.team_id:
        raise NotAllowed("Not a member of this team.")
    if Role.OWNER in (role, target.role) and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can grant or take the owner role.")
    with transaction.atomic():
        rows = _locked_memberships(actor.team_id)
        current = next((m for m in rows if m.pk == target.pk), None)
        if current is None:
            raise NotAllowed("Not a member of this team.")
        if (
            current.role == Role.OWNER
            and role != Role.OWNER
            and not _others_owners(rows, current.pk)
        ):
            raise LastOwner("A team needs at least one owner. Make someone else an owner first.")
        current.role = role
        current.save(update_fields=["role"])
    logger.info(
        "role changed team=%s user=%s role=%s by=%s",
        actor.team_id,
        current.user_id,
        role,
        actor.user_id,
    )
    return current


def membership_remove(*, actor: Membership, target: Membership) -> None:
    """Remove a member (managers; only owners remove owners). Leaving is ``team_leave``."""
    _require_manager(actor)
    if target.team_id != actor.team_id:
        raise NotAllowed("Not a member of this team.")
    if target.role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can remove an owner.")
    _membership_delete(target)
    logger.info(
        "member removed team=%s user=%s by=%s", target.team_id, target.user_id, actor.user_id
    )


def team_leave(*, membership: Membership) -> None:
    if membership.team.is_personal and membership.team.personal_for_id == membership.user_id:
        raise NotAllowed("You cannot leave your personal team.")
    _membership_delete(membership)
    logger.info("member left team=%s user=%s", membership.team_id, membership.user_id)


def _membership_delete(target: Membership) -> None:
    if target.team.personal_for_id == target.user_id:
        raise NotAllowed("A personal team keeps its owner.")
    with transaction.atomic():
        rows = _locked_memberships(target.team_id)
        current = next((m for m in rows if m.pk == target.pk), None)
        if current is None:
            return
        if current.role == Role.OWNER and not _others_owners(rows, current.pk):
            raise LastOwner("A team needs at least one owner. Transfer ownership first.")
        current.delete()
        # A per-seat plan pays one seat less from now (billing queues it after commit).
        membership_changed.send(sender=Membership, team_id=target.team_id, reason="member left")


def team_ownership_transfer(*, actor: Membership, to: Membership) -> None:
    """Make ``to`` an owner and the acting owner an admin."""
    if actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can transfer ownership.")
    if to.team_id != actor.team_id or to.pk == actor.pk:
        raise NotAllowed("Choose another member of this team.")
    if actor.team.is_personal:
        raise NotAllowed("A personal team keeps its owner.")
    with transaction.atomic():
        rows = {m.pk: m for m in _locked_memberships(actor.team_id)}
        if to.pk not in rows or actor.pk not in rows:
            raise NotAllowed("Not a member of this team.")
        Membership.objects.filter(pk=to.pk).update(role=Role.OWNER)
        Membership.objects.filter(pk=actor.pk).update(role=Role.ADMIN)
    logger.info(
        "ownership transferred team=%s from=%s to=%s", actor.team_id, actor.user_id, to.user_id
    )


# --- Invitations -------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # sent by email once; only its hash is stored

    @property
    def path(self) -> str:
        return reverse("team_invitation", kwargs={"token": self.token})


def _issue(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = invitation_token_hash(token)
    invitation.sent_at = timezone.now()
    invitation.expires_at = invitation.sent_at + INVITATION_TTL
    return token


def _team_lock(team_id: int) -> None:
    """Lock the team row until the transaction ends.

    Seat limits are "count, then add one": without the lock two invitations (or two
    acceptances) at the same moment would each count the room for one and both be
    added. The second now waits here and counts after the first commits. PostgreSQL
    locks the row; SQLite ignores ``select_for_update``, but its transactions here are
    IMMEDIATE (settings), so the whole transaction already runs one writer at a time.
    """
    Team.objects.select_for_update().filter(pk=team_id).values_list("pk", flat=True).get()


def invitation_create(
    *, actor: Membership, email: str, role: str = Role.MEMBER
) -> IssuedInvitation:
    """Invite ``email`` (managers; only owners invite owners) and email the link."""
    _require_manager(actor)
    email = email.strip().lower()
    if not email or "@" not in email:
        raise TeamError("Enter an email address.")
    if role not in Role.values or (role == Role.OWNER and actor.role != Role.OWNER):
        raise NotAllowed("Only an owner can invite an owner.")
    if actor.team.is_personal:
        raise NotAllowed("Create a team to invite people; your personal team is just for you.")
    if Membership.objects.filter(team=actor.team, user__email__iexact=email).exists():
        raise TeamError("That person is already a member.")
    invitation = Invitation(team=actor.team, email=email, role=role, invited_by=actor.user)
    token = _issue(invitation)
    try:
        with transaction.atomic():
            _team_lock(actor.team_id)
            invitation_creating.send(sender=Invitation, team=actor.team)  # may raise TeamError
            invitation.save()
    except IntegrityError as exc:
        raise TeamError("That address has an open invitation already: resend it.") from exc
    issued = IssuedInvitation(invitation=invitation, token=token)
    _invitation_email_send(issued)
    logger.info(
        "invitation created team=%s invitation=%s by=%s",
        actor.team_id,
        invitation.pk,
        actor.user_id,
    )
    return issued


def invitation_resend(*, actor: Membership, invitation: Invitation) -> IssuedInvitation:
    """A new token and expiry for an open invitation; the old link stops working."""
    _require_manager(actor)
    if invitation.team_id != actor.team_id or not invitation.is_open:
        raise InvitationInvalid("This invitation is no longer open.")
    token = _issue(invitation)
    invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
    issued = IssuedInvitation(invitation=invitation, token=token)
    _invitation_email_send(issued)
    return issued


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> None:
    _require_manager(actor)
    if invitation.team_id != actor.team_id or not invitation.is_open:
        raise InvitationInvalid("This invitation is no longer open.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])


def invitation_by_token(*, token: str) -> Invitation:
    """The open, unexpired invitation for ``token``; ``InvitationInvalid`` otherwise."""
    invitation = (
        Invitation.objects.select_related("team", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
        if token
        else None
    )
    if invitation is None or not invitation.is_open or invitation.is_expired:
        raise InvitationInvalid("This invitation link is no longer valid. Ask for a new one.")
    return invitation


def _verified_emails(user: User) -> set[str]:
    from allauth.account.models import EmailAddress

    return {
        e.lower()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }


def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the team: the token must be open, unexpired and sent to a verified email of ``user``."""
    with transaction.atomic():
        invitation = invitation_by_token(token=token)
        # The team first, then the invitation: the one lock order of every seat change.
        _team_lock(invitation.team_id)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_open:
            raise InvitationInvalid("This invitation link is no longer valid. Ask for a new one.")
        if invitation.email.lower() not in _verified_emails(user):
            raise InvitationWrongEmail(
                "This invitation was sent to another email address. "
                "Sign in with that address (verified) to accept it."
            )
        if not Membership.objects.filter(team_id=invitation.team_id, user=user).exists():
            # May raise TeamError (a per-seat plan's seats all taken), counted under the lock.
            membership_joining.send(sender=Membership, team=invitation.team)
        membership, created = Membership.objects.get_or_create(
            team_id=invitation.team_id, user=user, defaults={"role": invitation.role}
        )
        if created:
            # A per-seat plan pays one seat more from now (billing queues it after commit).
            membership_changed.send(
                sender=Membership, team_id=invitation.team_id, reason="member joined"
            )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    logger.info(
        "invitation accepted team=%s invitation=%s user=%s",
        invitation.team_id,
        invitation.pk,
        user.pk,
    )
    return membership


def invitation_decline(*, token: str) -> Invitation:
    invitation = invitation_by_token(token=token)
    invitation.declined_at = timezone.now()
    invitation.save(update_fields=["declined_at"])
    return invitation


def _invitation_email_send(issued: IssuedInvitation) -> None:
    invitation = issued.invitation
    inviter = invitation.invited_by
    message = email_message_build(
        template_prefix="teams/email/invitation",
        subject=f"Join {invitation.team.name}",
        to=[invitation.email],
        context={
            "team": invitation.team,
            "inviter": inviter.get_full_name() if inviter else "",
            "role": invitation.get_role_display(),
            "accept_url": f"{settings.SITE_URL}{issued.path}",
            "expires_at": invitation.expires_at,
        },
    )
    # After commit: a rolled-back invitation sends nothing.
    transaction.on_commit(lambda: message.send())
