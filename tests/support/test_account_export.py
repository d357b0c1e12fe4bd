"""Download my data: the user's own data only, behind reauthentication."""

from __future__ import annotations

import json

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from djstripe.models import Invoice

from notifications.models import Notification
from projects.models import Project
from teams import services as team_services
from teams.models import Membership
from tests.billing_helpers import mirror_customer, personal_team
from tests.factories import make_user
from tests.test_templates import assert_every_input_is_labelled, assert_page_is_self_contained

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _invoice(team: object, number: str) -> Invoice:
    customer = mirror_customer(team)  # type: ignore[arg-type]
    data = {
        "id": f"in_{number}",
        "object": "invoice",
        "number": number,
        "customer": customer.id,
        "status": "paid",
        "total": 1900,
        "currency": "usd",
        "created": 1_700_000_000,
        "livemode": False,
    }
    return Invoice.objects.create(
        id=data["id"], customer=customer, livemode=False, stripe_data=data
    )


def _download(client: Client) -> dict:
    response = client.post(reverse("account_export"))
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-')
    return json.loads(response.content)


def test_export_holds_the_users_data_and_nothing_of_anyone_else(client: Client) -> None:
    me = make_user(email="me@example.com", name="Me Myself")
    EmailAddress.objects.create(user=me, email="me-too@example.com", verified=False)
    other = make_user(email="other@example.com")
    shared = team_services.team_create(owner=other, name="Shared Co")
    Membership.objects.create(team=shared, user=me, role=Membership.Role.MEMBER)
    Project.objects.create(team=shared, name="Shared project", created_by=other)
    Project.objects.create(team=personal_team(me), name="My project", created_by=me)
    Project.objects.create(team=personal_team(other), name="Other's secret", created_by=other)
    for user, title in ((me, "Your payment went through"), (other, "Other's payment")):
        Notification.objects.create(
            user=user, kind="payment_succeeded", title=title, stripe_event_id=f"evt_{user.pk}"
        )
    _invoice(personal_team(me), "MINE-0001")
    _invoice(shared, "SHARED-0001")  # a team the user is a member of, not an owner
    _invoice(personal_team(other), "OTHER-0001")
    client.force_login(me)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})

    data = _download(client)

    assert data["profile"]["email"] == "me@example.com"
    assert data["profile"]["name"] == "Me Myself"
    assert {e["email"] for e in data["email_addresses"]} == {"me@example.com", "me-too@example.com"}
    assert {(t["name"], t["role"]) for t in data["teams"]} == {
        (personal_team(me).name, "owner"),
        ("Shared Co", "member"),
    }
    assert {p["name"] for p in data["projects"]} == {"Shared project", "My project"}
    assert [n["title"] for n in data["notifications"]] == ["Your payment went through"]
    assert [i["number"] for i in data["invoices"]] == ["MINE-0001"]
    text = json.dumps(data)
    assert "other@example.com" not in text
    assert "OTHER-0001" not in text
    assert "Other's secret" not in text


def test_export_asks_for_the_password_again_and_needs_csrf(db: None) -> None:
    user = make_user()
    client = Client()
    client.force_login(user)
    assert client.get(reverse("account_export")).status_code == 302  # to reauthenticate
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    # Reauthenticated (the same session), but a POST without the CSRF token is refused.
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post(reverse("account_export")).status_code == 403
    assert client.post(reverse("account_export")).status_code == 200


def test_export_page_says_what_the_file_holds(client: Client) -> None:
    client.force_login(make_user())
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.get(reverse("account_export")).content.decode()
    assert "invoices of the teams you own" in page
    assert_page_is_self_contained(page)
    delete_page = client.get(reverse("account_delete")).content.decode()
    assert_page_is_self_contained(delete_page)
    assert_every_input_is_labelled(delete_page)


def test_profile_page_saves_the_name(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    response = client.post(reverse("account_profile"), {"name": "Ada Lovelace"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.name == "Ada Lovelace"
    assert "Ada Lovelace" in client.get(reverse("account_profile")).content.decode()
