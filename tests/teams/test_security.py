"""Team boundaries over HTTP: non-members get 404, members see billing read-only,
old URLs go to the current team, API tokens act for their own team."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from projects import services as project_services
from projects.models import Project
from teams import services
from teams.models import Invitation, Membership, Team
from tests.billing_helpers import give_plan, personal_team, turl
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme() -> Team:
    """A team with an owner, a member and a project, on Pro (API access)."""
    owner = make_user(email="owner@acme.test")
    team = services.team_create(owner=owner, name="Acme")
    Membership.objects.create(team=team, user=make_user(email="member@acme.test"))
    Project.objects.create(team=team, created_by=owner, name="Rocket")
    give_plan(team, lookup_key="pro_monthly")
    return team


def _client_for(email: str) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email))
    return client


def test_non_members_get_404_on_every_team_page(acme: Team) -> None:
    outsider = make_user()
    client = Client()
    client.force_login(outsider)
    project = Project.objects.get(team=acme)
    invitation = services.invitation_create(
        actor=Membership.objects.get(team=acme, role="owner"), email="x@example.com"
    ).invitation
    for name in ("billing", "app_home", "project_list", "exports", "api_access", "team_settings"):
        assert client.get(turl(acme, name)).status_code == 404, name
    assert client.get(turl(acme, "project_edit", pk=project.pk)).status_code == 404
    for name in ("billing_checkout", "billing_portal", "billing_resume", "team_invitation_create"):
        assert client.post(turl(acme, name), {"price": "pro_monthly"}).status_code == 404, name
    assert client.post(turl(acme, "team_invitation_revoke", pk=invitation.pk)).status_code == 404
    # Through their own team's URLs the other team's objects do not exist either.
    mine = personal_team(outsider)
    assert client.get(turl(mine, "project_edit", pk=project.pk)).status_code == 404
    assert client.post(turl(mine, "team_invitation_revoke", pk=invitation.pk)).status_code == 404
    assert Invitation.objects.get(pk=invitation.pk).is_open
    assert Project.objects.filter(pk=project.pk).exists()


def test_visitors_are_sent_to_log_in(acme: Team) -> None:
    response = Client().get(turl(acme, "billing"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_members_see_the_plan_but_cannot_open_billing_actions(acme: Team) -> None:
    member = _client_for("member@acme.test")
    page = member.get(turl(acme, "billing"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Pro" in html
    assert turl(acme, "billing_portal") not in html
    assert "Its owners and admins manage billing" in html
    assert member.post(turl(acme, "billing_portal")).status_code == 403
    assert member.post(turl(acme, "billing_checkout"), {"price": "pro_monthly"}).status_code == 403
    assert member.post(turl(acme, "api_access"), {"action": "generate"}).status_code == 403
    owner = _client_for("owner@acme.test")
    assert turl(acme, "billing_portal") in owner.get(turl(acme, "billing")).content.decode()


def test_features_follow_the_team_in_the_url(acme: Team) -> None:
    member = _client_for("member@acme.test")
    assert member.get(turl(acme, "exports")).status_code == 200  # Acme is on Pro
    from accounts.models import User

    mine = personal_team(User.objects.get(email="member@acme.test"))
    assert member.get(turl(mine, "exports")).status_code == 302  # their own team is free


def test_old_urls_redirect_to_the_current_team(acme: Team) -> None:
    member = _client_for("member@acme.test")
    from accounts.models import User

    personal = personal_team(User.objects.get(email="member@acme.test"))
    response = member.get("/billing/")
    assert (response.status_code, response["Location"]) == (302, turl(personal, "billing"))
    member.get(turl(acme, "app_home"))  # the last team opened becomes the current one
    response = member.get("/app/exports/?x=1")
    assert response["Location"] == turl(acme, "exports") + "?x=1"
    response = member.post("/billing/portal/")
    assert (response.status_code, response["Location"]) == (307, turl(acme, "billing_portal"))
    assert reverse("billing") == "/billing/"


def test_api_token_acts_for_its_team_only(acme: Team) -> None:
    owner = Membership.objects.get(team=acme, role="owner").user
    token = project_services.api_token_generate(team=acme, user=owner).secret
    other = make_user()
    Project.objects.create(team=personal_team(other), created_by=other, name="Elsewhere")
    response = Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["projects"]] == ["Rocket"]


def test_api_token_stops_when_its_creator_leaves_the_team(acme: Team) -> None:
    admin = make_user()
    Membership.objects.create(team=acme, user=admin, role="admin")
    token = project_services.api_token_generate(team=acme, user=admin).secret
    auth = f"Bearer {token}"
    assert Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=auth).status_code == 200
    Membership.objects.filter(team=acme, user=admin).delete()
    assert Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=auth).status_code == 401


def test_invitation_link_for_another_email_is_refused_over_http(acme: Team) -> None:
    owner = Membership.objects.get(team=acme, role="owner")
    issued = services.invitation_create(actor=owner, email="invited@example.com")
    intruder = make_user(email="intruder@example.com")
    client = Client()
    client.force_login(intruder)
    url = reverse("team_invitation", kwargs={"token": issued.token})
    assert client.post(url, {"action": "accept"}).status_code == 403
    assert not Membership.objects.filter(team=acme, user=intruder).exists()
    assert Client().get(reverse("team_invitation", kwargs={"token": "nope"})).status_code == 404


def test_quota_counts_every_members_projects(acme: Team) -> None:
    from projects.selectors import project_count

    member = Membership.objects.get(team=acme, role="member").user
    Project.objects.create(team=acme, created_by=member, name="Second")
    assert project_count(team=acme) == 2
