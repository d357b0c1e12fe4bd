"""The first-run checklist on a team's dashboard: the few steps a new account takes.

Each step is read from state the product already keeps (no "done" flags to drift):
two-factor authentication from allauth's authenticators, the first project from the
usage meter, a plan from the team's access, and a teammate from the team's members
and open invitations. The list shows until every step is done or the user hides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from subscriptions.access.access import Access

from .selectors import ProjectUsage

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    from accounts.models import User
    from teams.models import Membership, Team


@dataclass(frozen=True)
class Step:
    key: str
    title: _StrPromise
    hint: _StrPromise
    url: str
    action: _StrPromise
    done: bool


@dataclass(frozen=True)
class Checklist:
    steps: tuple[Step, ...]

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def complete(self) -> bool:
        return self.done_count == len(self.steps)


def _mfa_step(user: User) -> Step:
    return Step(
        key="mfa",
        title=_("Turn on two-factor authentication"),
        hint=_("An authenticator app keeps the account safe if the password leaks."),
        url=reverse("mfa_index"),
        action=_("Set up"),
        done=Authenticator.objects.filter(user=user).exists(),
    )


def _project_step(team: Team, usage: ProjectUsage) -> Step:
    return Step(
        key="project",
        title=_("Create your first project"),
        hint=_("Projects are what the demo app counts against the plan."),
        url=reverse("project_create", kwargs={"team_slug": team.slug}),
        action=_("New project"),
        done=usage.used > 0,
    )


def _plan_step(access: Access) -> Step:
    return Step(
        key="plan",
        title=_("Choose a plan"),
        hint=_("Start a trial or subscribe; you can change plans at any time."),
        url=reverse("pricing"),
        action=_("See plans"),
        done=not access.is_free,
    )


def _team_step(team: Team, user_team_count: int) -> Step:
    from teams.selectors import invitations_open, memberships_of_team

    if team.is_personal:
        # A personal team is just for its owner: the step is to create a team to share.
        return Step(
            key="team",
            title=_("Create a team to work with others"),
            hint=_("Your personal team is just for you; a team has members and one bill."),
            url=reverse("team_list"),
            action=_("Create a team"),
            done=user_team_count > 1,
        )
    return Step(
        key="team",
        title=_("Invite a teammate"),
        hint=_("Members share the team's projects and plan."),
        url=reverse("team_settings", kwargs={"team_slug": team.slug}),
        action=_("Invite"),
        done=memberships_of_team(team=team)[1:2].exists() or invitations_open(team=team).exists(),
    )


def onboarding_checklist(
    *,
    user: User,
    team: Team,
    membership: Membership,
    access: Access,
    usage: ProjectUsage,
    user_team_count: int,
) -> Checklist | None:
    """The checklist to show, or None once it is hidden or every step is done."""
    if user.onboarding_dismissed_at is not None:
        return None
    steps = [_mfa_step(user), _project_step(team, usage)]
    if membership.manages_billing:  # members cannot buy a plan or invite
        steps += [_plan_step(access), _team_step(team, user_team_count)]
    checklist = Checklist(steps=tuple(steps))
    return None if checklist.complete else checklist
