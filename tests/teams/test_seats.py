"""Per-seat plans through the app and the emulator: the catalog, Checkout's quantity,
seats that follow membership, idempotency, and who may buy seats."""

from __future__ import annotations

import json
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from djstripe.models import Customer, Subscription

from subscriptions.catalog import CATALOG_PATH, CatalogError, parse_catalog
from subscriptions.changes import seats
from subscriptions.services import stripe_client
from teams import services
from teams.models import Membership, Team
from tests.billing_helpers import turl
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = pytest.mark.django_db


# --- Catalog -----------------------------------------------------------------------------


def _catalog_with(**seat_table: Any) -> dict[str, Any]:
    data = tomllib.loads(CATALOG_PATH.read_text())
    team = next(p for p in data["plans"] if p["key"] == "team")
    team["seats"] = seat_table
    return data


def test_catalog_team_plan_is_per_seat_with_limits_and_prorations() -> None:
    plan = parse_catalog(tomllib.loads(CATALOG_PATH.read_text())).plan("team")
    assert plan.is_per_seat
    assert plan.seats is not None
    assert {p.lookup_key for p in plan.prices} == {"team_monthly", "team_yearly"}
    assert plan.seats.clamp(1) == plan.seats.minimum
    assert plan.seats.maximum is not None
    assert plan.seats.clamp(999) == plan.seats.maximum
    assert plan.seats.proration_for(old=3, new=4) == plan.seats.proration_on_add


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"minimum": 0}, "minimum must be a whole number >= 1"),
        ({"minimum": "two"}, "minimum must be a whole number >= 1"),
        ({"minimum": 5, "maximum": 3}, "maximum 3 is below minimum 5"),
        ({"proration_on_add": "later"}, "proration_on_add must be one of always_invoice"),
        ({"proration_on_remove": "refund"}, "proration_on_remove must be one of"),
        ({"max": 3}, "unknown keys ['max']"),
    ],
)
def test_catalog_rejects_bad_seat_tables_with_a_clear_message(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogError, match="plan team: seats") as caught:
        parse_catalog(_catalog_with(**table))
    assert message in str(caught.value)


def test_catalog_free_plan_cannot_be_per_seat() -> None:
    data = tomllib.loads(CATALOG_PATH.read_text())
    data["plans"][0]["seats"] = {"minimum": 1}
    with pytest.raises(CatalogError, match="plan free: seats need prices"):
        parse_catalog(data)


def test_bootstrap_lets_the_portal_adjust_the_team_quantity(billing: Billing) -> None:
    client = stripe_client()
    configs = client.v1.billing_portal.configurations.list({"active": True}).data
    (config,) = [
        json.loads(str(c))
        for c in configs
        if c.metadata and c.metadata.to_dict().get("source") == "saas-catalog"
    ]
    products = {p["product"]: p for p in config["features"]["subscription_update"]["products"]}
    team_price = json.loads(str(client.v1.prices.list({"lookup_keys": ["team_monthly"]}).data[0]))
    assert team_price["unit_amount"] == 1200
    assert team_price["recurring"]["usage_type"] == "licensed"
    adjustable = products[team_price["product"]]["adjustable_quantity"]
    assert adjustable == {"enabled": True, "minimum": 2, "maximum": 25}
    pro = client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data[0]
    assert not products[pro.product]["adjustable_quantity"]["enabled"]


# --- Checkout ----------------------------------------------------------------------------


def team_of_three() -> tuple[Team, Any]:
    """A team with its owner and two members (joined before any subscription)."""
    owner = make_user()
    team = services.team_create(owner=owner, name="Seat Co")
    for _ in range(2):
        Membership.objects.create(team=team, user=make_user(), role=Membership.Role.MEMBER)
    return team, owner


def buy_seats(client: Client, billing: Billing, team: Team, seats_: str = "3") -> Subscription:
    response = client.post(
        turl(team, "billing_checkout"), {"price": "team_monthly", "seats": seats_}
    )
    assert response.status_code == 303, response.content[:300]
    status, result = billing.complete_checkout(response["Location"], card="4242424242424242")
    assert (status, result["status"]) == (200, "complete"), result
    success = urlsplit(result["redirect_url"])
    assert client.get(f"{success.path}?{success.query}").status_code == 200
    return Subscription.objects.get(customer__subscriber=team)


def remote_quantity(subscription_id: str) -> int:
    sub = stripe_client().v1.subscriptions.retrieve(subscription_id)
    return int(sub["items"].data[0].quantity or 0)


def proration_invoices(subscription_id: str) -> list[list[int]]:
    """The amounts of the proration lines of each of the subscription's invoices that has any."""
    invoices = stripe_client().v1.invoices.list({"subscription": subscription_id, "limit": 100})
    found = []
    for invoice in invoices.data:
        data = json.loads(str(invoice))
        lines = [line["amount"] for line in data["lines"]["data"] if _is_proration(line)]
        if lines:
            found.append(lines)
    return found


def _is_proration(line: dict[str, Any]) -> bool:
    """Proration lines come from invoice items (``parent.invoice_item_details.proration``)
    or, for a subscription's own items, ``parent.subscription_item_details.proration``."""
    parent = line.get("parent") or {}
    details = parent.get("invoice_item_details") or parent.get("subscription_item_details") or {}
    return bool(details.get("proration"))


@pytest.mark.integration
def test_checkout_buys_the_seats_asked_for(billing: Billing) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    page = client.get(turl(team, "billing_checkout") + "?price=team_monthly")
    assert b'name="seats"' in page.content
    assert b'value="3"' in page.content
    subscription = buy_seats(client, billing, team, "5")
    assert remote_quantity(subscription.id) == 5
    usage = seats.seat_usage(team=team)
    assert usage is not None
    assert (usage.members, usage.paid) == (3, 5)
    billing_page = client.get(turl(team, "billing")).content.decode()
    assert "3 of 5 seats used" in billing_page
    assert "Team · monthly" in billing_page
    # The home page's plan preview is the current team's (the one last opened).
    home = client.get("/").content.decode()
    assert "3 of 5 seats used" in home
    assert "Team · monthly" in home
    anonymous = Client().get("/").content.decode()
    assert "per seat" in anonymous
    assert "seats used" not in anonymous


@pytest.mark.integration
@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("2", "Your team has 3 members: buy at least 3 seats"),
        ("26", "This plan has at most 25 seats."),
        ("three", "Enter the number of seats as a whole number."),
        ("-1", "Your team has 3 members: buy at least 3 seats"),
    ],
)
def test_checkout_refuses_too_few_too_many_or_forged_seats(
    billing: Billing, asked: str, message: str
) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    response = client.post(
        turl(team, "billing_checkout"), {"price": "team_monthly", "seats": asked}, follow=True
    )
    assert message in response.content.decode()
    customer = Customer.objects.filter(subscriber=team).first()
    assert (
        customer is None
        or not stripe_client().v1.checkout.sessions.list({"customer": customer.id}).data
    )


@pytest.mark.integration
def test_members_cannot_buy_seats_or_open_the_portal(billing: Billing) -> None:
    team, owner = team_of_three()
    owner_client = Client()
    owner_client.force_login(owner)
    subscription = buy_seats(owner_client, billing, team)
    member = Membership.objects.filter(team=team, role=Membership.Role.MEMBER).first()
    assert member is not None
    client = Client()
    client.force_login(member.user)
    assert client.post(turl(team, "billing_seats"), {"seats": "9"}).status_code == 403
    assert client.post(turl(team, "billing_portal")).status_code == 403
    assert client.post(turl(team, "billing_checkout"), {"price": "team_monthly"}).status_code == 403
    page = client.get(turl(team, "billing")).content.decode()
    assert "3 of 3 seats used" in page
    assert 'name="seats"' not in page
    assert remote_quantity(subscription.id) == 3
    outsider = Client()
    outsider.force_login(make_user())
    assert outsider.post(turl(team, "billing_seats"), {"seats": "9"}).status_code == 404


# --- Seats follow membership (the sync, called directly) ---------------------------------


def _join(team: Team, owner: Any) -> Membership:
    actor = Membership.objects.get(team=team, user=owner)
    issued = services.invitation_create(actor=actor, email=f"new{team.seat_version}@example.com")
    return services.invitation_accept(
        user=make_user(email=issued.invitation.email), token=issued.token
    )


@pytest.mark.integration
def test_seat_sync_adds_a_seat_once_even_when_run_twice(billing: Billing) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, billing, team)
    _join(team, owner)
    version = Team.objects.get(pk=team.pk).seat_version

    first = seats.seats_quantity_sync(team_id=team.pk, seat_version=version)
    second = seats.seats_quantity_sync(team_id=team.pk, seat_version=version)

    assert (first.status, first.before, first.after) == ("updated", 3, 4)
    assert second.status == "unchanged"
    assert remote_quantity(subscription.id) == 4
    assert len(proration_invoices(subscription.id)) == 1
    assert seats.seats_quantity_sync(team_id=team.pk, seat_version=version - 1).status == (
        "superseded"
    )


@pytest.mark.integration
def test_the_idempotency_key_stops_a_replayed_update(billing: Billing) -> None:
    """A task killed after Stripe answered runs again: same key, Stripe replays, one invoice."""
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, billing, team)
    item_id = subscription.stripe_data["items"]["data"][0]["id"]
    for _ in range(2):
        seats._quantity_push(
            stripe_client(),
            subscription_id=subscription.id,
            item_id=item_id,
            quantity=4,
            proration="always_invoice",
            idempotency_key="saas-test-seats-v1-3-4",
        )
    assert remote_quantity(subscription.id) == 4
    assert len(proration_invoices(subscription.id)) == 1


@pytest.mark.integration
def test_seats_bought_in_advance_are_a_floor_and_the_portal_choice_is_adopted(
    billing: Billing,
) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, billing, team)
    response = client.post(turl(team, "billing_seats"), {"seats": "6"}, follow=True)
    assert "Your team now pays for 6 seats." in response.content.decode()
    assert remote_quantity(subscription.id) == 6
    _join(team, owner)  # 4 members, 6 bought: nothing to add
    assert seats.seats_quantity_sync(team_id=team.pk).status == "unchanged"
    # The owner lowers the quantity in the portal (here: straight in Stripe) below the
    # members: the next sync raises it back to the members, and keeps no higher floor.
    stripe_client().v1.subscription_items.update(
        subscription.stripe_data["items"]["data"][0]["id"],
        {"quantity": 2, "proration_behavior": "none"},
    )
    outcome = seats.seats_quantity_sync(team_id=team.pk)
    assert (outcome.status, outcome.after) == ("updated", 4)
    assert Team.objects.get(pk=team.pk).seats_purchased == 2
    refused = client.post(turl(team, "billing_seats"), {"seats": "3"}, follow=True)
    assert "Your team has 4 members: buy at least 4 seats" in refused.content.decode()
    assert remote_quantity(subscription.id) == 4


@pytest.mark.integration
def test_invitations_beyond_the_maximum_seats_are_refused(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    buy_seats(client, billing, team)
    small = parse_catalog(_catalog_with(minimum=2, maximum=4))
    monkeypatch.setattr(seats, "get_catalog", lambda: small)
    response = client.post(
        turl(team, "team_invitation_create"),
        {"email": "fourth@example.com", "role": "member"},
        follow=True,
    )
    assert "fourth@example.com" in response.content.decode()
    response = client.post(
        turl(team, "team_invitation_create"),
        {"email": "fifth@example.com", "role": "member"},
        follow=True,
    )
    page = response.content.decode()
    assert "at most 4 seats" in page
    assert "3 members plus 1 open invitations" in page
    assert not team.invitations.filter(email="fifth@example.com").exists()


@pytest.mark.integration
def test_reconciliation_fixes_a_drift_once_and_alerts_staff_once(billing: Billing) -> None:
    from notifications.models import StaffAlert
    from subscriptions.reports.reconcile import seats_reconcile

    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, billing, team)
    # A member added where no seat sync follows (e.g. by staff in the admin).
    Membership.objects.create(team=team, user=make_user(), role=Membership.Role.MEMBER)

    report = seats_reconcile()
    again = seats_reconcile()

    assert len(report.fixed) == 1
    assert "quantity 3 -> 4" in report.fixed[0]
    assert again.fixed == []
    assert remote_quantity(subscription.id) == 4
    alert = StaffAlert.objects.get(event_type=StaffAlert.SEAT_DRIFT_EVENT_TYPE)
    assert alert.object_id == subscription.id
    assert alert.status == "paid 3 -> 4, 4 members"
