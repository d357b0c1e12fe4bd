"""Deleting one's account: subscriptions canceled in Stripe first, teams, email, audit."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from djstripe.models import Customer, Invoice
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from subscriptions.services import stripe_client
from support import services
from teams import services as team_services
from teams.models import Membership, Team
from tests.billing_helpers import personal_team, turl
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _subscribe(client: Client, billing: Billing, team: Team, price: str = "pro_monthly") -> str:
    response = client.post(turl(team, "billing_checkout"), {"price": price})
    assert response.status_code == 303, response.content[:300]
    status, result = billing.complete_checkout(response["Location"], card="4242424242424242")
    assert (status, result["status"]) == (200, "complete"), result
    success = urlsplit(result["redirect_url"])
    assert client.get(f"{success.path}?{success.query}").status_code == 200
    return Customer.objects.get(subscriber=team).id


def _reauthenticated(user: User) -> Client:
    client = Client()
    client.force_login(user)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def test_account_delete_cancels_the_personal_subscription_and_keeps_the_invoices(
    billing: Billing,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = make_user(email="leaving@example.com")
    client = _reauthenticated(user)
    team = personal_team(user)
    customer_id = _subscribe(client, billing, team)
    user_id = user.pk
    invoices_before = set(Invoice.objects.filter(customer_id=customer_id).values_list("id"))
    assert invoices_before, "checkout mirrored the first invoice"

    with (
        caplog.at_level(logging.INFO, logger="support.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.account_delete(user=user)

    assert not get_user_model().objects.filter(email="leaving@example.com").exists()
    assert not Team.objects.filter(pk=team.pk).exists()
    subs = stripe_client().v1.subscriptions.list({"customer": customer_id, "status": "all"})
    assert [s.status for s in subs.data] == ["canceled"]
    # The invoices stay, in Stripe and in the mirror, linked to no user or team any more.
    assert stripe_client().v1.invoices.list({"customer": customer_id}).data
    assert set(Invoice.objects.filter(customer_id=customer_id).values_list("id")) == (
        invoices_before
    )
    assert Customer.objects.get(id=customer_id).subscriber_id is None
    assert f"account deleted user={user_id}" in caplog.text
    [email] = mail.outbox[-1:]
    assert email.to == ["leaving@example.com"]
    assert "Invoices stay" in email.body


def test_account_delete_is_refused_while_the_user_alone_owns_a_team_with_members(
    db: None,
) -> None:
    owner, member = make_user(), make_user()
    team = team_services.team_create(owner=owner, name="Acme Corp")
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)

    with pytest.raises(services.AccountDeleteRefused, match="Acme Corp: transfer ownership"):
        services.account_delete(user=owner)

    assert get_user_model().objects.filter(pk=owner.pk).exists()
    assert Team.objects.filter(pk=team.pk).exists()
    assert personal_team(owner).pk  # nothing was deleted
    assert mail.outbox == []


def test_account_delete_leaves_shared_teams_and_deletes_solo_teams(db: None) -> None:
    user, other = make_user(), make_user()
    shared = team_services.team_create(owner=other, name="Shared")
    Membership.objects.create(team=shared, user=user, role=Membership.Role.ADMIN)
    co_owned = team_services.team_create(owner=other, name="Co-owned")
    Membership.objects.create(team=co_owned, user=user, role=Membership.Role.OWNER)
    solo = team_services.team_create(owner=user, name="Solo")
    personal = personal_team(user)

    services.account_delete(user=user)

    assert not Team.objects.filter(pk__in=[solo.pk, personal.pk]).exists()
    assert set(Membership.objects.filter(team__in=[shared, co_owned]).values_list("user_id")) == {
        (other.pk,)
    }
    assert personal_team(other).pk  # the other user's teams are untouched


def test_account_delete_keeps_everything_when_stripe_is_unavailable(
    billing: Billing, settings: SettingsWrapper
) -> None:
    user = make_user()
    client = _reauthenticated(user)
    _subscribe(client, billing, personal_team(user))
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: Stripe is down

    with pytest.raises(team_services.TeamDeleteRefused):
        services.account_delete(user=user)

    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert Team.objects.filter(personal_for=user).exists()


def test_delete_page_asks_for_the_password_again(client: Client) -> None:
    user = make_user()
    client.force_login(user)

    response = client.get(reverse("account_delete"))

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("account_reauthenticate")


def test_delete_page_explains_and_deletes_after_the_email_is_typed(billing: Billing) -> None:
    user = make_user(email="bye@example.com")
    client = _reauthenticated(user)

    page = client.get(reverse("account_delete")).content.decode()
    assert "Invoices are kept" in page
    assert "canceled at once in Stripe" in page

    wrong = client.post(reverse("account_delete"), {"confirm_email": "other@example.com"})
    assert wrong.status_code == 400
    assert get_user_model().objects.filter(pk=user.pk).exists()

    done = client.post(reverse("account_delete"), {"confirm_email": "BYE@example.com"})
    assert done.status_code == 302
    assert done["Location"] == reverse("home")
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert "_auth_user_id" not in client.session  # logged out


def test_delete_page_names_the_blocking_teams_and_refuses(db: None) -> None:
    owner, member = make_user(), make_user()
    team = team_services.team_create(owner=owner, name="Blocking Team")
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
    client = _reauthenticated(owner)

    page = client.get(reverse("account_delete")).content.decode()
    assert "Blocking Team" in page
    assert "transfer ownership or delete the team first" in page
    response = client.post(reverse("account_delete"), {"confirm_email": owner.email})

    assert response.status_code == 409
    assert get_user_model().objects.filter(pk=owner.pk).exists()


def test_delete_needs_csrf(db: None) -> None:
    user = make_user()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("account_delete"), {"confirm_email": user.email})
    assert response.status_code == 403
    assert get_user_model().objects.filter(pk=user.pk).exists()
