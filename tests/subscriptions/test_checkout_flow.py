"""Subscribe through the app, Stripe Checkout on the emulator, and the success page."""

from __future__ import annotations

import pytest
from django.test import Client
from djstripe.models import Subscription

from tests.billing_helpers import access_now, tpath
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def test_subscribe_with_4242_gives_access_at_once(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    assert access_now(user).plan_key == "free"

    success = billing.subscribe(client, "pro_monthly")
    page = client.get(success)
    assert page.status_code == 200
    assert b"You&#x27;re subscribed" in page.content or b"You're subscribed" in page.content

    access = access_now(user)
    assert access.plan_key == "pro"
    assert access.status == "active"
    assert access.has("api_access")
    assert access.has("exports")
    assert access.quota("projects") is None

    billing_page = client.get(tpath(client, "/billing/"))
    assert b"Pro" in billing_page.content
    assert b"visa" in billing_page.content.lower()
    assert b"4242" in billing_page.content
    assert b"paid" in billing_page.content


def test_starter_trial_without_card_is_trialing(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    success = billing.subscribe(client, "starter_monthly", card=None)
    client.get(success)
    access = access_now(user)
    assert access.status == "trialing"
    assert access.plan_key == "starter"
    assert access.has("exports")
    assert not access.has("api_access")
    assert access.quota("projects") == 5
    sub = Subscription.objects.get(customer__subscriber__personal_for=user)
    assert sub.stripe_data["trial_end"] - sub.stripe_data["trial_start"] == 14 * 86400


def test_declined_card_leaves_no_subscription(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    status, result = billing.complete_checkout(response["Location"], card="4000000000000002")
    assert status == 402
    assert result["error"]["decline_code"] == "generic_decline"
    session_status = result.get("session", result["error"].get("session", {})).get("status")
    assert session_status in ("open", None), result
    assert access_now(user).plan_key == "free"
    assert not Subscription.objects.filter(customer__subscriber__personal_for=user).exists()


def test_someone_elses_session_is_404(client: Client, billing: Billing) -> None:
    owner = make_user()
    owner_client = Client()
    owner_client.force_login(owner)
    success = billing.subscribe(owner_client, "pro_monthly")

    intruder = make_user()
    client.force_login(intruder)
    client.get(billing.subscribe(client, "starter_monthly", card=None))  # a customer too
    response = client.get(success)
    assert response.status_code == 404
    assert owner.email.encode() not in response.content
    assert access_now(intruder).plan_key == "starter"


def test_forged_session_ids_are_404(client: Client, billing: Billing) -> None:
    client.force_login(make_user())
    for forged in ("", "cs_doesnotexist", "x" * 300, "../../v1/customers"):
        assert (
            client.get(tpath(client, "/billing/success/"), {"session_id": forged}).status_code
            == 404
        )


def test_double_submit_makes_one_checkout_session(client: Client, billing: Billing) -> None:
    client.force_login(make_user())
    first = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    second = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]


@pytest.mark.parametrize("price", ["", "enterprise_monthly", "<script>", "free"])
def test_unknown_price_is_a_400_page(client: Client, billing: Billing, price: str) -> None:
    client.force_login(make_user())
    response = client.post(tpath(client, "/billing/checkout/"), {"price": price})
    assert response.status_code == 400
    assert b"no longer sold" in response.content or b"does not exist" in response.content


def test_existing_subscriber_is_sent_to_the_plan_change_preview(
    client: Client, billing: Billing
) -> None:
    client.force_login(make_user())
    client.get(billing.subscribe(client, "starter_monthly", card=None))
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    assert response.status_code == 303
    assert response["Location"].endswith("/billing/change/?price=pro_monthly")
    assert Subscription.objects.count() == 1


def test_anonymous_visitor_signs_up_and_lands_on_checkout(client: Client, billing: Billing) -> None:
    import re

    from django.core import mail

    response = client.get("/billing/choose/", {"price": "starter_monthly"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/signup/")
    password = "a long and unusual passphrase"
    # The signup form carries ?next= along, as the browser would post it.
    client.post(
        response["Location"],
        {"email": "visitor@example.com", "password1": password, "password2": password},
    )
    link = re.search(r"https?://[^\s]+", str(mail.outbox[-1].body))
    assert link
    path = "/" + link.group(0).split("/", 3)[3]
    response = client.post(path)  # confirming logs the visitor in (same browser)
    assert response.status_code == 302
    assert response["Location"] == "/billing/checkout/?price=starter_monthly"
    page = client.get(response["Location"], follow=True)  # on to the personal team's checkout
    assert page.status_code == 200
    assert b"Continue to payment" in page.content
    assert b"Starter" in page.content
    assert (
        client.post(tpath(client, "/billing/checkout/"), {"price": "starter_monthly"}).status_code
        == 303
    )


def test_stripe_outage_shows_a_retry_page_not_a_500(client: Client, billing: Billing) -> None:
    client.force_login(make_user())
    client.post(
        tpath(client, "/billing/checkout/"), {"price": "pro_monthly"}
    )  # customer exists now
    status, _ = billing.helper(
        "/_emulator/faults/api", {"mode": "503", "count": 10, "route": "^/v1/checkout/sessions"}
    )
    assert status == 200
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_yearly"})
    assert response.status_code == 503
    assert b"Try again" in response.content
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{billing.url}/_emulator/faults", method="DELETE"), timeout=10
    ).close()
    assert (
        client.post(tpath(client, "/billing/checkout/"), {"price": "pro_yearly"}).status_code == 303
    )


def test_rate_limit_is_reported_as_retryable(client: Client, billing: Billing) -> None:
    client.force_login(make_user())
    billing.helper("/_emulator/faults/api", {"mode": "429", "count": 1, "route": "^/v1/customers"})
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    assert response.status_code == 503
    assert b"Try again" in response.content


def test_hosted_checkout_names_the_site(client: Client, billing: Billing) -> None:
    from django.conf import settings

    from tests.subscriptions.conftest import HostedPage

    client.force_login(make_user())
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    page = HostedPage(response["Location"])
    assert f"&larr; Back to {settings.SITE_NAME}</a>" in page.html
    assert "Stripe Emulator" not in page.html
