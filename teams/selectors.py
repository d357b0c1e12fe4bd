"""Reads about teams: who belongs where, with which role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from .models import Invitation, Membership, Team

if TYPE_CHECKING:
    from accounts.models import User

BILLING_ROLES = (Membership.Role.OWNER, Membership.Role.ADMIN)


def teams_for_user(*, user: User) -> QuerySet[Team]:
    """The user's teams, personal team first, then by name, each with ``member_count``.

    The count rides along (a subquery per team, not a join that the user filter would
    narrow to one row) because the team a page without a team in its URL acts for is
    picked from this list, and pages such as pricing need its members without another
    query.
    """
    members = (
        Membership.objects.filter(team=OuterRef("pk"))
        .order_by()
        .values("team")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Team.objects.filter(memberships__user=user)
        .annotate(member_count=Subquery(members))
        .order_by(F("personal_for").asc(nulls_last=True), "name", "id")
        .distinct()
    )


def membership_for(*, user: User, team_slug: str) -> Membership | None:
    """The user's membership in the team with ``team_slug`` (with the team), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.select_related("team").filter(user=user, team__slug=team_slug).first()


def team_personal(*, user: User) -> Team | None:
    return Team.objects.filter(personal_for=user).first()


def team_default_for(*, user: User, preferred_slug: str | None = None) -> Team | None:
    """The team a URL without one means: the last one used, if still a member, else personal."""
    if preferred_slug:
        membership = membership_for(user=user, team_slug=preferred_slug)
        if membership is not None:
            return membership.team
    return team_personal(user=user) or teams_for_user(user=user).first()


def memberships_of_team(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("created_at", "id")


def owner_count(*, team: Team) -> int:
    return Membership.objects.filter(team=team, role=Membership.Role.OWNER).count()


def billing_recipients(*, team: Team) -> list[str]:
    """Who gets the team's billing emails: owners and admins, and the billing email."""
    emails = list(
        Membership.objects.filter(team=team, role__in=BILLING_ROLES, user__is_active=True)
        .order_by("created_at", "id")
        .values_list("user__email", flat=True)
    )
    if team.email and team.email.lower() not in {e.lower() for e in emails}:
        emails.append(team.email)
    return emails


def billing_member_ids(*, team_id: int) -> list[int]:
    """Ids of the owners and admins: the members a billing notification concerns (an
    inactive user keeps it in-app; ``notification_email_send`` sends them no email)."""
    return list(
        Membership.objects.filter(team_id=team_id, role__in=BILLING_ROLES)
        .order_by("created_at", "id")
        .values_list("user_id", flat=True)
    )


def invitations_open(*, team: Team) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        team=team, accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")
