"""After login, what the visitor started before signing in goes on (LOGIN_CONTINUATIONS).

The steps belong to teams (an invitation) and subscriptions (a plan); accounts reaches
them through the setting only, so these tests go through allauth's real login view.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from teams import services as team_services
from tests.billing_helpers import personal_team
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _login(client: Client, email: str) -> str:
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return str(response["Location"])


def _invitation_path(email: str) -> str:
    owner = make_user()
    team = team_services.team_create(owner=owner, name="Acme")
    membership = team.memberships.get(user=owner)
    return team_services.invitation_create(actor=membership, email=email).path


def test_login_goes_to_checkout_for_the_plan_picked_before() -> None:
    user = make_user()
    client = Client()
    assert client.get(reverse("billing_choose"), {"price": "pro_monthly"}).status_code == 302

    assert _login(client, user.email) == f"{reverse('billing_checkout')}?price=pro_monthly"


def test_login_goes_back_to_the_invitation_followed_before() -> None:
    user = make_user()
    path = _invitation_path(user.email)
    client = Client()
    assert client.get(path).status_code == 200

    assert _login(client, user.email) == path


def test_an_invitation_goes_before_a_picked_plan() -> None:
    # The setting's order: joining the team comes first, its checkout can follow.
    user = make_user()
    path = _invitation_path(user.email)
    client = Client()
    client.get(reverse("billing_choose"), {"price": "pro_monthly"})
    client.get(path)

    assert _login(client, user.email) == path


def test_login_with_nothing_pending_goes_to_the_app() -> None:
    user = make_user()
    location = _login(Client(), user.email)
    assert location in (reverse("app_home"), reverse("app_home", args=[personal_team(user).slug]))
