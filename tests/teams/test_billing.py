"""The team as the Stripe customer, through the emulator: checkout, access, deletion."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

import pytest
from django.test import Client
from djstripe.models import Customer

from subscriptions.services import stripe_client
from teams import services
from teams.models import Team
from tests.billing_helpers import access_now, personal_team, turl
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = pytest.mark.django_db


def _subscribe_team(client: Client, billing: Billing, team: Team, price: str) -> None:
    response = client.post(turl(team, "billing_checkout"), {"price": price})
    assert response.status_code == 303, response.content[:300]
    status, result = billing.complete_checkout(response["Location"], card="4242424242424242")
    assert (status, result["status"]) == (200, "complete"), result
    success = urlsplit(result["redirect_url"])
    assert success.path == turl(team, "billing_success")
    assert client.get(f"{success.path}?{success.query}").status_code == 200


def test_checkout_for_a_team_makes_the_team_the_customer(billing: Billing) -> None:
    owner = make_user()
    team = services.team_create(owner=owner, name="Acme", billing_email="billing@acme.test")
    client = Client()
    client.force_login(owner)
    _subscribe_team(client, billing, team, "pro_monthly")

    customer = Customer.objects.get(subscriber=team)
    stripe_customer = stripe_client().v1.customers.retrieve(customer.id)
    assert stripe_customer.email == "billing@acme.test"
    assert stripe_customer.metadata is not None
    assert stripe_customer.metadata["djstripe_team"] == str(team.pk)
    assert access_now(team).plan_key == "pro"
    assert access_now(personal_team(owner)).plan_key == "free"  # the owner's own team
    # A resync through dj-stripe keeps the customer on the team (djstripe_team metadata).
    assert Customer.sync_from_stripe_data(stripe_customer).subscriber_id == team.pk


def test_deleting_a_team_cancels_its_subscription_first(billing: Billing) -> None:
    owner = make_user()
    team = services.team_create(owner=owner, name="Short Lived")
    client = Client()
    client.force_login(owner)
    _subscribe_team(client, billing, team, "starter_monthly")
    customer_id = Customer.objects.get(subscriber=team).id

    response = client.post(turl(team, "team_delete"), {"confirm_slug": team.slug})
    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    subs = stripe_client().v1.subscriptions.list({"customer": customer_id, "status": "all"})
    assert [s.status for s in subs.data] == ["canceled"]


def test_deleting_a_team_is_refused_while_stripe_fails(billing: Billing) -> None:
    owner = make_user()
    team = services.team_create(owner=owner, name="Kept By Outage")
    client = Client()
    client.force_login(owner)
    _subscribe_team(client, billing, team, "starter_monthly")
    customer_id = Customer.objects.get(subscriber=team).id
    status, _ = billing.helper(
        "/_emulator/faults/api", {"mode": "503", "count": 10, "route": "^/v1/subscriptions"}
    )
    assert status == 200

    response = client.post(turl(team, "team_delete"), {"confirm_slug": team.slug}, follow=True)
    urllib.request.urlopen(
        urllib.request.Request(f"{billing.url}/_emulator/faults", method="DELETE"), timeout=10
    ).close()
    assert Team.objects.filter(pk=team.pk).exists()
    assert "Billing is unavailable right now" in response.content.decode()
    subs = stripe_client().v1.subscriptions.list({"customer": customer_id, "status": "all"})
    assert [s.status for s in subs.data] == ["trialing"]  # the starter plan's trial goes on


def test_deleting_needs_the_slug_typed_and_an_owner(billing: Billing) -> None:
    owner = make_user()
    team = services.team_create(owner=owner, name="Kept")
    client = Client()
    client.force_login(owner)
    client.post(turl(team, "team_delete"), {"confirm_slug": "wrong"})
    assert Team.objects.filter(pk=team.pk).exists()
