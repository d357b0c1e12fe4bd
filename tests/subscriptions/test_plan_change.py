"""Plan change with the price shown first, and pausing payments, against the emulator.

The app talks to the emulator over HTTP with the stock SDK; the tests set up
what a customer would have done elsewhere (a card change) with the same SDK.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from django.core import signing
from django.test import Client
from djstripe.models import Subscription

from subscriptions import services
from subscriptions.access.policy import Reason
from teams.models import Membership
from tests.billing_helpers import access_now, personal_team, tpath
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _client() -> stripe.StripeClient:
    return services.stripe_client()


def _subscribed(client: Client, billing: Billing, price: str = "pro_monthly", **kw: Any) -> Any:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, price, **kw))
    return user


def _sub(user: Any) -> Subscription:
    sub = Subscription.objects.get(customer__subscriber=personal_team(user))
    return sub


def _on_starter(client: Client, billing: Billing, quantity: int = 1) -> Any:
    """A paying Starter subscriber (Pro bought, then moved to Starter as the portal would)."""
    user = _subscribed(client, billing)
    sub = _sub(user)
    item = sub.stripe_data["items"]["data"][0]["id"]
    starter = services.price_for_checkout(lookup_key="starter_monthly")
    _client().v1.subscriptions.update(
        sub.id,
        {
            "items": [{"id": item, "price": starter.id, "quantity": quantity}],
            "proration_behavior": "none",
        },
    )
    services.customer_sync_all(team=personal_team(user))
    assert access_now(user).plan_key == "starter"
    return user


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}".replace(".00", "")


def _preview(client: Client, price: str) -> tuple[str, str]:
    response = client.get(tpath(client, f"/billing/change/?price={price}"))
    assert response.status_code == 200, response.content[:800]
    html = response.content.decode()
    token = re.search(r'name="confirmation" value="([^"]+)"', html)
    assert token
    return html, token.group(1)


def _invoices(sub_id: str, reason: str) -> list[Any]:
    found = _client().v1.invoices.list({"subscription": sub_id, "limit": 100}).data
    return [i for i in found if i.billing_reason == reason]


def test_upgrade_preview_is_what_is_charged_once(client: Client, billing: Billing) -> None:
    """Three seats (a per-seat plan's quantity) are priced and kept through the change."""
    user = _on_starter(client, billing, quantity=3)
    sub = _sub(user)
    html, token = _preview(client, "pro_monthly")
    assert "Change from Starter to Pro" in html
    assert "Priced for 3 seats, as now." in html
    assert "Credit for unused time on Starter" in html
    due = re.search(r"data-amount-due-today>([^<]+)<", html)
    assert due
    amounts = re.findall(r'<dd class="col-sm-5 text-sm-end[^"]*"[^>]*>\$([\d.,]+)<', html)
    credit, charge, today = (float(a.replace(",", "")) for a in amounts)
    # Unused Starter time is credited, the rest of the period on Pro is charged.
    assert 0 < credit < charge
    assert today == pytest.approx(charge - credit, abs=0.01)
    assert "Next invoice: $87" in html  # 3 x $29

    for _ in range(2):  # a double submit changes once
        response = client.post(
            tpath(client, "/billing/change/"), {"price": "pro_monthly", "confirmation": token}
        )
        assert response.status_code == 303
        assert response["Location"].endswith("/billing/")
    updates = _invoices(sub.id, "subscription_update")
    assert len(updates) == 1
    assert updates[0].status == "paid"
    # The preview's amount due today is exactly what Stripe charged.
    assert _money(updates[0].amount_due) == due.group(1).strip()
    item = _client().v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert (item.price.lookup_key, item.quantity) == ("pro_monthly", 3)
    # Mirrored at once: access is Pro without waiting for a webhook.
    access = access_now(user)
    assert access.plan_key == "pro"
    assert access.has("api_access")


def test_forged_or_mismatched_confirmation_is_refused(client: Client, billing: Billing) -> None:
    user = _on_starter(client, billing)
    _html, token = _preview(client, "pro_monthly")
    path = tpath(client, "/billing/change/")
    forged = signing.dumps({"t": 1, "s": "sub_x", "k": "pro_monthly", "d": 1}, salt="other")
    response = client.post(path, {"price": "pro_monthly", "confirmation": forged})
    assert response.status_code == 400
    assert "was not issued by this page" in response.content.decode()
    # A real token for Pro monthly, posted with another price.
    for price in ("pro_yearly", "nope"):
        response = client.post(path, {"price": price, "confirmation": token})
        assert response.status_code == 400
        assert "is for another plan change" in response.content.decode()
    assert access_now(user).plan_key == "starter"
    assert _invoices(_sub(user).id, "subscription_update") == []


def test_same_plan_and_unknown_price_get_a_clear_error(client: Client, billing: Billing) -> None:
    _subscribed(client, billing)
    response = client.get(tpath(client, "/billing/change/?price=pro_monthly"))
    assert response.status_code == 400
    assert "already on this plan" in response.content.decode()
    assert client.get(tpath(client, "/billing/change/?price=gold")).status_code == 400


def test_3ds_upgrade_sends_to_authentication_and_changes_nothing_until_paid(
    client: Client, billing: Billing
) -> None:
    user = _on_starter(client, billing)
    sub = _sub(user)
    customer = sub.stripe_data["customer"]
    pm = _client().v1.payment_methods.attach(
        "pm_card_authenticationRequired", {"customer": customer}
    )
    _client().v1.subscriptions.update(sub.id, {"default_payment_method": pm.id})
    _html, token = _preview(client, "pro_monthly")
    response = client.post(
        tpath(client, "/billing/change/"), {"price": "pro_monthly", "confirmation": token}
    )
    assert response.status_code == 303
    assert response["Location"].startswith(billing.url)
    assert "/3ds/pi_" in response["Location"]
    held = _client().v1.subscriptions.retrieve(sub.id)
    assert held.pending_update is not None
    assert access_now(user).plan_key == "starter"
    page = client.get(tpath(client, "/billing/")).content.decode()
    assert "Your change to Pro waits for its payment" in page
    assert "Complete the payment" in page

    pi = response["Location"].rsplit("/", 1)[1]
    status, _ = billing.helper(
        f"/_emulator/billing/payment_intents/{pi}/authenticate", {"succeed": False}
    )
    assert status == 200
    services.customer_sync_all(team=personal_team(user))
    assert access_now(user).plan_key == "starter"


def test_subscriber_checkout_goes_to_the_preview(client: Client, billing: Billing) -> None:
    _subscribed(client, billing)
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "starter_monthly"})
    assert response.status_code == 303
    assert response["Location"].endswith("/billing/change/?price=starter_monthly")


def test_interval_change_opens_the_portal_confirmation(client: Client, billing: Billing) -> None:
    _subscribed(client, billing)
    response = client.get(tpath(client, "/billing/change/?price=pro_yearly"))
    assert response.status_code == 303
    assert response["Location"].startswith(billing.url)


def test_downgrade_waits_for_period_end_and_can_be_undone(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing)
    html, token = _preview(client, "starter_monthly")
    assert "Nothing is charged today" in html
    assert "Next invoice: $9" in html
    response = client.post(
        tpath(client, "/billing/change/"), {"price": "starter_monthly", "confirmation": token}
    )
    assert response.status_code == 303
    sub = _client().v1.subscriptions.retrieve(_sub(user).id)
    assert sub.schedule is not None
    schedule = _client().v1.subscription_schedules.retrieve(str(sub.schedule))
    assert len(schedule.phases) == 2
    assert access_now(user).plan_key == "pro"  # until the period end
    end = access_now(user).current_period_end
    assert end is not None

    page = client.get(tpath(client, "/billing/")).content.decode()
    assert f"Pro until {end:%B} {end.day}, then Starter" in page
    assert "Keep Pro" in page

    response = client.post(tpath(client, "/billing/change/keep/"))
    assert response.status_code == 302
    released = _client().v1.subscription_schedules.retrieve(schedule.id)
    assert released.status == "released"
    assert _client().v1.subscriptions.retrieve(sub.id).schedule is None
    page = client.get(tpath(client, "/billing/")).content.decode()
    assert "then Starter" not in page
    assert access_now(user).plan_key == "pro"


def test_pause_gives_the_free_tier_and_resume_restores_at_once(
    client: Client, billing: Billing
) -> None:
    user = _subscribed(client, billing)
    path = tpath(client, "/billing/pause/")
    response = client.post(path, {"months": "5"})
    assert response.status_code == 302
    assert access_now(user).plan_key == "pro"

    client.post(path, {"months": "2"})
    sub = _client().v1.subscriptions.retrieve(_sub(user).id)
    assert sub.pause_collection is not None
    assert sub.pause_collection.behavior == "void"
    access = access_now(user)
    assert access.reason == Reason.COLLECTION_PAUSED
    assert access.plan_key == "free"
    assert access.collection_resumes_at is not None
    assert int(access.collection_resumes_at.timestamp()) == sub.pause_collection.resumes_at
    page = client.get(tpath(client, "/billing/")).content.decode()
    assert "Payments for Pro are paused until" in page
    assert "Resume payments now" in page

    response = client.post(tpath(client, "/billing/pause/resume/"))
    assert response.status_code == 302
    assert _client().v1.subscriptions.retrieve(sub.id).pause_collection is None
    assert access_now(user).plan_key == "pro"


def test_paused_access_plan_keeps_the_plan(client: Client, billing: Billing, settings: Any) -> None:
    settings.BILLING_PAUSED_ACCESS = "plan"
    settings.BILLING_PAUSE_BEHAVIOR = "keep_as_draft"
    user = _subscribed(client, billing)
    client.post(tpath(client, "/billing/pause/"), {"months": "1"})
    sub = _client().v1.subscriptions.retrieve(_sub(user).id)
    assert sub.pause_collection is not None
    assert sub.pause_collection.behavior == "keep_as_draft"
    assert access_now(user).plan_key == "pro"


def test_members_get_403_and_strangers_404(client: Client, billing: Billing) -> None:
    owner = _subscribed(client, billing)
    team = personal_team(owner)
    member = make_user()
    Membership.objects.create(team=team, user=member, role="member")
    _html, token = _preview(client, "starter_monthly")
    actions = [
        ("get", "/billing/change/?price=starter_monthly", {}),
        ("post", "/billing/change/", {"price": "starter_monthly", "confirmation": token}),
        ("post", "/billing/change/keep/", {}),
        ("post", "/billing/pause/", {"months": "1"}),
        ("post", "/billing/pause/resume/", {}),
    ]
    member_client, stranger_client = Client(), Client()
    member_client.force_login(member)
    stranger_client.force_login(make_user())
    for method, path, data in actions:
        url = f"/t/{team.slug}{path}"
        assert getattr(member_client, method)(url, data).status_code == 403, path
        assert getattr(stranger_client, method)(url, data).status_code == 404, path
    assert _client().v1.subscriptions.retrieve(_sub(owner).id).schedule is None


def test_actions_need_csrf(billing: Billing) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    for path in ("/billing/change/", "/billing/pause/", "/billing/change/keep/"):
        assert client.post(tpath(client, path), {"months": "1"}).status_code == 403
