"""Team rules: roles, the last owner, invitations (expiry, reuse, another email)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from teams import selectors, services
from teams.models import Invitation, Membership, Team
from tests.factories import make_user

pytestmark = pytest.mark.django_db

Role = Membership.Role


def _team_with_owner() -> tuple[Team, Membership]:
    owner = make_user()
    team = services.team_create(owner=owner, name="Acme Rockets")
    return team, Membership.objects.get(team=team, user=owner)


def _add(team: Team, role: str = Role.MEMBER) -> Membership:
    return Membership.objects.create(team=team, user=make_user(), role=role)


def test_signup_user_has_a_personal_team_they_own() -> None:
    user = make_user()
    team = selectors.team_personal(user=user)
    assert team is not None
    assert team.is_personal
    assert Membership.objects.get(team=team).role == Role.OWNER
    assert services.team_personal_ensure(user=user) == team  # once


def test_team_create_makes_the_creator_owner_with_a_unique_slug() -> None:
    owner = make_user()
    first = services.team_create(owner=owner, name="Acme Rockets")
    second = services.team_create(owner=owner, name="Acme Rockets")
    assert first.slug == "acme-rockets"
    assert second.slug != first.slug
    assert first.email == owner.email
    assert [t.is_personal for t in selectors.teams_for_user(user=owner)] == [True, False, False]


def test_the_last_owner_cannot_be_demoted_removed_or_leave() -> None:
    team, owner = _team_with_owner()
    with pytest.raises(services.LastOwner):
        services.membership_role_change(actor=owner, target=owner, role=Role.ADMIN)
    with pytest.raises(services.LastOwner):
        services.team_leave(membership=owner)
    assert selectors.owner_count(team=team) == 1


def test_a_second_owner_lets_the_first_step_down() -> None:
    team, owner = _team_with_owner()
    other = _add(team)
    services.membership_role_change(actor=owner, target=other, role=Role.OWNER)
    services.membership_role_change(actor=owner, target=owner, role=Role.ADMIN)
    assert selectors.owner_count(team=team) == 1
    assert Membership.objects.get(pk=other.pk).role == Role.OWNER


def test_admins_manage_members_but_not_owners() -> None:
    team, owner = _team_with_owner()
    admin = _add(team, Role.ADMIN)
    member = _add(team)
    services.membership_role_change(actor=admin, target=member, role=Role.ADMIN)
    with pytest.raises(services.NotAllowed):
        services.membership_role_change(actor=admin, target=member, role=Role.OWNER)
    with pytest.raises(services.NotAllowed):
        services.membership_remove(actor=admin, target=owner)
    services.membership_remove(actor=admin, target=Membership.objects.get(pk=member.pk))
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_members_cannot_change_roles_or_invite() -> None:
    team, owner = _team_with_owner()
    member = _add(team)
    with pytest.raises(services.NotAllowed):
        services.membership_role_change(actor=member, target=owner, role=Role.MEMBER)
    with pytest.raises(services.NotAllowed):
        services.invitation_create(actor=member, email="x@example.com")


def test_actions_on_another_teams_member_are_refused() -> None:
    _team, owner = _team_with_owner()
    other_team, _other_owner = _team_with_owner()
    stranger = _add(other_team)
    with pytest.raises(services.NotAllowed):
        services.membership_remove(actor=owner, target=stranger)
    with pytest.raises(services.NotAllowed):
        services.membership_role_change(actor=owner, target=stranger, role=Role.ADMIN)


def test_transfer_ownership_swaps_roles() -> None:
    team, owner = _team_with_owner()
    admin = _add(team, Role.ADMIN)
    services.team_ownership_transfer(actor=owner, to=admin)
    roles = dict(Membership.objects.filter(team=team).values_list("pk", "role"))
    assert roles == {owner.pk: Role.ADMIN, admin.pk: Role.OWNER}


def test_personal_team_keeps_its_owner_and_takes_no_invitations() -> None:
    user = make_user()
    membership = Membership.objects.get(user=user, team__personal_for=user)
    with pytest.raises(services.NotAllowed):
        services.team_leave(membership=membership)
    with pytest.raises(services.NotAllowed):
        services.invitation_create(actor=membership, email="friend@example.com")
    with pytest.raises(services.NotAllowed):
        services.team_delete(actor=membership)


def test_invitation_is_emailed_with_a_token_only_its_hash_is_stored(
    django_capture_on_commit_callbacks: object,
) -> None:
    _team, owner = _team_with_owner()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        issued = services.invitation_create(actor=owner, email="New@Example.com")
    invitation = Invitation.objects.get()
    assert invitation.email == "new@example.com"
    assert issued.token not in invitation.token_hash
    assert invitation.token_hash == services.invitation_token_hash(issued.token)
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    assert issued.path in message.body


def test_invitation_accept_joins_once_with_the_invited_role() -> None:
    _team, owner = _team_with_owner()
    issued = services.invitation_create(actor=owner, email="new@example.com", role=Role.ADMIN)
    user = make_user(email="new@example.com")
    membership = services.invitation_accept(user=user, token=issued.token)
    assert (membership.team_id, membership.role) == (owner.team_id, Role.ADMIN)
    with pytest.raises(services.InvitationInvalid):  # single use
        services.invitation_accept(user=user, token=issued.token)


def test_invitation_for_another_email_is_refused() -> None:
    _team, owner = _team_with_owner()
    issued = services.invitation_create(actor=owner, email="invited@example.com")
    intruder = make_user(email="intruder@example.com")
    with pytest.raises(services.InvitationWrongEmail):
        services.invitation_accept(user=intruder, token=issued.token)
    assert not Membership.objects.filter(user=intruder, team_id=owner.team_id).exists()


def test_invitation_needs_the_email_verified() -> None:
    _team, owner = _team_with_owner()
    issued = services.invitation_create(actor=owner, email="unverified@example.com")
    user = make_user(email="unverified@example.com", verified=False)
    with pytest.raises(services.InvitationWrongEmail):
        services.invitation_accept(user=user, token=issued.token)
    EmailAddress.objects.filter(user=user).update(verified=True)
    services.invitation_accept(user=user, token=issued.token)


def test_expired_revoked_and_declined_invitations_do_not_work() -> None:
    _team, owner = _team_with_owner()
    user = make_user(email="late@example.com")
    expired = services.invitation_create(actor=owner, email="late@example.com")
    Invitation.objects.filter(pk=expired.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(services.InvitationInvalid):
        services.invitation_accept(user=user, token=expired.token)
    services.invitation_revoke(actor=owner, invitation=expired.invitation)

    revoked = services.invitation_create(actor=owner, email="late@example.com")
    services.invitation_revoke(actor=owner, invitation=revoked.invitation)
    with pytest.raises(services.InvitationInvalid):
        services.invitation_accept(user=user, token=revoked.token)

    declined = services.invitation_create(actor=owner, email="late@example.com")
    services.invitation_decline(token=declined.token)
    with pytest.raises(services.InvitationInvalid):
        services.invitation_accept(user=user, token=declined.token)
    assert not Membership.objects.filter(user=user, team_id=owner.team_id).exists()


def test_resend_replaces_the_token_and_extends_the_expiry() -> None:
    _team, owner = _team_with_owner()
    first = services.invitation_create(actor=owner, email="again@example.com")
    Invitation.objects.filter(pk=first.invitation.pk).update(
        expires_at=timezone.now() + timedelta(minutes=1)
    )
    invitation = Invitation.objects.get(pk=first.invitation.pk)
    second = services.invitation_resend(actor=owner, invitation=invitation)
    assert second.token != first.token
    with pytest.raises(services.InvitationInvalid):
        services.invitation_by_token(token=first.token)
    assert services.invitation_by_token(token=second.token).expires_at > timezone.now() + timedelta(
        days=6
    )


def test_one_open_invitation_per_address() -> None:
    _team, owner = _team_with_owner()
    services.invitation_create(actor=owner, email="twice@example.com")
    with pytest.raises(services.TeamError):
        services.invitation_create(actor=owner, email="twice@example.com")


def test_billing_recipients_are_owners_admins_and_the_billing_email() -> None:
    team, owner = _team_with_owner()
    admin = _add(team, Role.ADMIN)
    _add(team)  # a member gets no billing email
    team.email = "billing@acme.test"
    team.save(update_fields=["email"])
    assert selectors.billing_recipients(team=team) == [
        owner.user.email,
        admin.user.email,
        "billing@acme.test",
    ]
