"""The staff customer page: search, a team's billing on one page, bounded queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djstripe.models import Charge, Invoice

from notifications.models import Notification
from subscriptions.models import StripeEvent
from teams import services as team_services
from teams.models import Membership, Team
from tests.billing_helpers import give_plan, mirror_customer, personal_team
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _staff_client() -> Client:
    client = Client()
    client.force_login(make_user(email="support@example.com", is_staff=True))
    return client


def _customer_with_history(team: Team, n: int) -> str:
    """A team on Pro with ``n`` events, invoices, charges and notifications."""
    give_plan(team, lookup_key="pro_monthly", quantity=3)
    customer = mirror_customer(team)
    owner = Membership.objects.filter(team=team).select_related("user").first()
    assert owner is not None
    for i in range(n):
        StripeEvent.objects.create(
            stripe_id=f"evt_{team.pk}_{i}",
            type="customer.subscription.updated",
            stripe_created=datetime(2026, 1, 1 + i % 28, tzinfo=UTC),
            customer_id=customer.id,
            payload={"data": {"object": {"object": "subscription", "status": "active"}}},
            status="processed",
        )
        Invoice.objects.create(
            id=f"in_{team.pk}_{i}",
            customer=customer,
            livemode=False,
            stripe_data={
                "id": f"in_{team.pk}_{i}",
                "number": f"INV-{team.pk}-{i}",
                "status": "paid",
                "total": 1900,
                "currency": "usd",
                "created": 1_700_000_000 + i,
            },
        )
        Charge.objects.create(
            id=f"ch_{team.pk}_{i}",
            customer=customer,
            livemode=False,
            amount=19,
            currency="usd",
            status="succeeded",
            stripe_data={
                "id": f"ch_{team.pk}_{i}",
                "amount": 1900,
                "currency": "usd",
                "status": "succeeded",
                "created": 1_700_000_000 + i,
            },
        )
        Notification.objects.create(
            user=owner.user,
            team=team,
            kind="payment_succeeded",
            title=f"Payment {i} went through",
            stripe_event_id=f"evt_n{team.pk}_{i}",
        )
    return customer.id


def test_team_page_shows_plan_status_seats_events_invoices_payments_notifications() -> None:
    owner = make_user(email="owner@acme.test")
    team = team_services.team_create(owner=owner, name="Acme")
    customer_id = _customer_with_history(team, 2)

    html = _staff_client().get(reverse("staff_customer_team", args=[team.pk])).content.decode()

    assert "Pro" in html
    assert "active" in html
    assert 'data-testid="seats">3' in html
    assert "customer.subscription.updated" in html
    assert "subscription active" in html
    assert f"INV-{team.pk}-1" in html
    assert f"ch_{team.pk}_0" in html
    assert "Payment 1 went through" in html
    assert "owner@acme.test" in html
    assert f"/dashboard/objects/{customer_id}" in html  # the emulator's dashboard link


def test_team_page_query_count_does_not_grow_with_history() -> None:
    client = _staff_client()
    small = team_services.team_create(owner=make_user(), name="Small")
    big = team_services.team_create(owner=make_user(), name="Big")
    _customer_with_history(small, 1)
    _customer_with_history(big, 30)

    # Warm what one process loads once (the site, content types), then compare.
    assert client.get(reverse("staff_customer_team", args=[small.pk])).status_code == 200
    counts = []
    for team in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("staff_customer_team", args=[team.pk])).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert counts[1] <= 16, counts


def test_search_finds_by_email_team_name_and_stripe_customer_id() -> None:
    client = _staff_client()
    user = make_user(email="jane@corp.test")
    team = team_services.team_create(owner=user, name="Corp Industries")
    customer_id = mirror_customer(team).id
    personal_team(make_user(email="unrelated@example.com"))

    by_email = client.get(reverse("staff_customer_search"), {"q": "jane@corp"}).content.decode()
    by_name = client.get(reverse("staff_customer_search"), {"q": "industries"}).content.decode()
    by_id = client.get(reverse("staff_customer_search"), {"q": customer_id}).content.decode()

    assert reverse("staff_customer_user", args=[user.pk]) in by_email
    assert reverse("staff_customer_team", args=[team.pk]) in by_name
    assert reverse("staff_customer_team", args=[team.pk]) in by_id
    assert "unrelated@example.com" not in by_email + by_name + by_id


def test_user_page_lists_their_teams() -> None:
    user = make_user(email="multi@example.com")
    team = team_services.team_create(owner=user, name="Side Project")
    html = _staff_client().get(reverse("staff_customer_user", args=[user.pk])).content.decode()
    assert reverse("staff_customer_team", args=[team.pk]) in html
    assert reverse("staff_customer_team", args=[personal_team(user).pk]) in html


def test_customer_pages_are_staff_only(client: Client) -> None:
    team = personal_team(make_user())
    urls = [
        reverse("staff_customer_search"),
        reverse("staff_customer_team", args=[team.pk]),
        reverse("staff_customer_user", args=[team.personal_for_id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(make_user())
    for url in urls:
        assert client.get(url).status_code == 404  # signed in, not staff


def test_admin_team_and_user_pages_link_to_the_customer_page() -> None:
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    user = make_user()
    team = personal_team(user)
    client = Client()
    client.force_login(admin)
    team_html = client.get(reverse("admin:teams_team_change", args=[team.pk])).content.decode()
    user_html = client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert reverse("staff_customer_team", args=[team.pk]) in team_html
    assert reverse("staff_customer_user", args=[user.pk]) in user_html
