"""The dashboard's first-run checklist: each step read from real state, hidden on request."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from teams import services as team_services
from teams.models import Membership
from tests.billing_helpers import give_plan, personal_team, turl
from tests.factories import make_user
from tests.projects.helpers import make_projects

pytestmark = pytest.mark.django_db


def _steps(client: Client, owner: object) -> dict[str, bool] | None:
    """The checklist's steps on the dashboard, key -> done; None when it is not shown."""
    html = client.get(turl(owner, "app_home")).content.decode()  # type: ignore[arg-type]
    if 'id="checklist-title"' not in html:
        return None
    items = re.findall(r'data-step="(\w+)">(.*?)</li>', html, flags=re.S)
    return {key: "(done)" in body for key, body in items}


def test_a_new_account_sees_every_step_to_do(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    html = client.get(turl(user, "app_home")).content.decode()
    assert "0 of 4 steps done" in html
    assert _steps(client, user) == {"mfa": False, "project": False, "plan": False, "team": False}
    # On the personal team the team step is to create a team, not to invite into it.
    assert "Create a team to work with others" in html


def test_steps_follow_what_the_user_did(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    make_projects(user, 1)
    give_plan(personal_team(user), lookup_key="starter_monthly")
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert _steps(client, user) == {"mfa": True, "project": True, "plan": True, "team": False}

    team_services.team_create(owner=user, name="Acme")
    # Every step done on the personal team: the checklist goes away by itself.
    assert _steps(client, personal_team(user)) is None


def test_on_a_shared_team_the_step_is_an_invitation_and_members_see_only_their_steps(
    client: Client,
) -> None:
    owner = make_user()
    team = team_services.team_create(owner=owner, name="Acme")
    client.force_login(owner)
    assert _steps(client, team) == {"mfa": False, "project": False, "plan": False, "team": False}
    assert "Invite a teammate" in client.get(turl(team, "app_home")).content.decode()

    member = make_user()
    Membership.objects.create(team=team, user=member)
    assert _steps(client, team)["team"] is True  # type: ignore[index]

    member_client = Client()
    member_client.force_login(member)
    # A member cannot buy a plan or invite: those steps are not theirs.
    assert _steps(member_client, team) == {"mfa": False, "project": False}


def test_hiding_the_list_is_a_post_that_lasts(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    hide = turl(user, "onboarding_hide")
    assert client.get(hide).status_code == 405
    response = client.post(hide)
    assert response.status_code == 302
    assert response["Location"] == turl(user, "app_home")
    assert _steps(client, user) is None
    user.refresh_from_db()
    first_hidden = user.onboarding_dismissed_at
    assert first_hidden is not None
    client.post(hide)
    user.refresh_from_db()
    assert user.onboarding_dismissed_at == first_hidden


def test_hiding_needs_a_csrf_token_and_membership() -> None:
    user = make_user()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(turl(user, "onboarding_hide")).status_code == 403

    outsider = Client()
    outsider.force_login(make_user())
    assert outsider.post(turl(user, "onboarding_hide")).status_code == 404
    user.refresh_from_db()
    assert user.onboarding_dismissed_at is None
