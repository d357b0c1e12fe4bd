"""Buying and spending credits through the app, the emulator (stock SDK over HTTP) and,
for fulfilment from webhooks, the real pipeline with a Celery worker process."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.test import Client

from subscriptions.models import StripeEvent
from subscriptions.services import stripe_client
from subscriptions.webhooks.pipeline import stripe_events_replay
from teams.models import Membership, Team
from teams.services import team_create
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.usage.helpers import give_metered_plan
from usage import credits
from usage.credit_selectors import credit_balance
from usage.models import CreditEntry, UsageBucket
from usage.services import usage_record

PACK = "credits_1000"


def _team_with(owner_client: Client, *, member_client: Client | None = None) -> Team:
    owner = make_user()
    owner_client.force_login(owner)
    team = team_create(owner=owner, name=f"Team {owner.pk}")
    if member_client is not None:
        member = make_user()
        Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
        member_client.force_login(member)
    return team


def _buy(client: Client, billing: Billing, team: Team, pack: str = PACK) -> str:
    """Owner buys ``pack`` on the emulator's Checkout; returns the app path it sends back to."""
    response = client.post(f"/t/{team.slug}/credits/buy/", {"pack": pack})
    assert response.status_code == 303, response.content[:300]
    status, result = billing.complete_checkout(response["Location"], card="4242424242424242")
    assert status == 200, result
    assert result["status"] == "complete", result
    back = urlsplit(result["redirect_url"])
    return f"{back.path}?{back.query}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# --- Pages, buying, the return sync (webhooks go nowhere here) --------------------------


@pytest.mark.django_db
def test_owner_buys_a_pack_and_the_return_page_grants_it_once(
    client: Client, billing: Billing
) -> None:
    team = _team_with(client)
    back = _buy(client, billing, team)
    assert back.startswith(f"/t/{team.slug}/credits/?session_id=cs_")
    page = client.get(back, follow=True)
    assert page.redirect_chain[-1][0] == f"/t/{team.slug}/credits/"
    html = page.content.decode()
    assert 'data-credit-balance="1000"' in html
    assert "1,000 credits were added to your team" in html
    # A reload of the return URL (or the webhook later) grants nothing more.
    client.get(back)
    assert credit_balance(team_id=team.pk) == 1000
    entry = CreditEntry.objects.get(team=team)
    assert (entry.kind, entry.pack, entry.amount_paid, entry.currency) == (
        "purchase",
        PACK,
        1000,
        "usd",
    )
    # What Stripe got: payment mode for the team's customer, with a paid invoice.
    session = stripe_client().v1.checkout.sessions.retrieve(entry.source, {"expand": ["invoice"]})
    assert session.mode == "payment"
    assert session.metadata is not None
    assert session.metadata["team_id"] == str(team.pk)
    invoice = session.invoice
    assert invoice is not None
    assert not isinstance(invoice, str)
    assert (invoice.status, invoice.total) == ("paid", 1000)
    assert invoice.customer == session.customer


@pytest.mark.django_db
def test_members_see_the_balance_read_only_and_cannot_buy(client: Client, billing: Billing) -> None:
    member_client = Client()
    team = _team_with(client, member_client=member_client)
    page = member_client.get(f"/t/{team.slug}/credits/")
    assert page.status_code == 200
    assert 'data-credit-balance="0"' in page.content.decode()
    assert "The team's owners and admins can buy credits." in page.content.decode()
    assert "credits_buy" not in page.content.decode()
    assert member_client.post(f"/t/{team.slug}/credits/buy/", {"pack": PACK}).status_code == 403


@pytest.mark.django_db
def test_other_teams_get_404_for_the_page_and_the_session(client: Client, billing: Billing) -> None:
    team = _team_with(client)
    back = _buy(client, billing, team)
    outsider = Client()
    other = _team_with(outsider)
    assert outsider.get(f"/t/{team.slug}/credits/").status_code == 404
    assert outsider.post(f"/t/{team.slug}/credits/buy/", {"pack": PACK}).status_code == 404
    # Another team's Checkout Session on one's own page: 404, nothing granted.
    session_id = back.split("session_id=")[1]
    assert outsider.get(f"/t/{other.slug}/credits/?session_id={session_id}").status_code == 404
    assert outsider.get(f"/t/{other.slug}/credits/?session_id=nonsense").status_code == 404
    assert credit_balance(team_id=other.pk) == 0


@pytest.mark.django_db
def test_buying_needs_the_csrf_token_and_a_known_pack(client: Client, billing: Billing) -> None:
    team = _team_with(client)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(Membership.objects.get(team=team).user)
    assert strict.post(f"/t/{team.slug}/credits/buy/", {"pack": PACK}).status_code == 403
    refused = client.post(f"/t/{team.slug}/credits/buy/", {"pack": "credits_free"}, follow=True)
    assert "That credit pack is not for sale." in refused.content.decode()
    assert client.get(f"/t/{team.slug}/credits/buy/").status_code == 405


@pytest.mark.django_db
def test_the_ledger_is_paginated(client: Client) -> None:
    team = _team_with(client)
    staff = make_user(is_staff=True)
    for i in range(25):
        credits.credits_adjust(team=team, credits=i + 1, reason=f"entry {i}", staff_user=staff)
    first = client.get(f"/t/{team.slug}/credits/").content.decode()
    assert first.count("data-entry-kind=") == 20
    assert "entry 24" in first  # newest first
    assert "Page 1 of 2" in first
    second = client.get(f"/t/{team.slug}/credits/?page=2").content.decode()
    assert second.count("data-entry-kind=") == 5
    assert "entry 0" in second


# --- Exports past the plan's limit ---------------------------------------------------------


@pytest.mark.django_db
def test_exports_past_the_limit_spend_credits_or_say_how_to_get_them(client: Client) -> None:
    team = _team_with(client)
    give_metered_plan(team, "starter_monthly")  # exports: 100 per period, hard limit
    usage_record(team, "exports", 100)
    exports = f"/t/{team.slug}/app/exports/"
    refused = client.get(f"{exports}projects.csv", follow=True)
    html = refused.content.decode()
    assert refused.redirect_chain[-1][0] == exports
    assert "spend 10 prepaid credits each and your team has 0: buy credits" in html
    assert f'href="/t/{team.slug}/credits/"' in html  # the "Buy credits" link

    credits.credits_adjust(team=team, credits=15, reason="test", staff_user=make_user())
    download = client.get(f"{exports}projects.csv")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert credit_balance(team_id=team.pk) == 5
    spend = CreditEntry.objects.get(team=team, kind="spend")
    assert (spend.credits, spend.description) == (-10, "Export past the plan's limit")
    # Paid with credits, so not recorded on the exports meter (never billed twice).
    assert sum(UsageBucket.objects.filter(team=team).values_list("units", flat=True)) == 100
    notice = client.get(exports).content.decode()
    assert "This export spent 10 credits; 5 left." in notice
    assert "your team has 5" in notice
    # 5 left: the next export is refused and spends nothing.
    client.get(f"{exports}projects.csv")
    assert credit_balance(team_id=team.pk) == 5


# --- Fulfilment from the webhook pipeline (real worker) -------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_webhooks_grant_once_under_redelivery_and_reverse_refunds(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    team = _team_with(client)
    _buy(client, live_billing, team)  # the customer never comes back to the return page
    wait_for(lambda: credit_balance(team_id=team.pk) == 1000, "the webhook's grant")
    entry = CreditEntry.objects.get(team=team, kind="purchase")
    assert entry.stripe_event_id.startswith("evt_")

    # Redelivered by Stripe (twice) and replayed by staff: one purchase still.
    completed = StripeEvent.objects.get(stripe_id=entry.stripe_event_id)
    for _ in range(2):
        status, body = live_billing.helper(f"/_emulator/events/{completed.stripe_id}/resend", {})
        assert status == 200, body
    stripe_events_replay(event_type="checkout.session.completed", run_inline=True)
    live_billing.helper("/_emulator/webhooks/wait", {"timeout": 10})
    wait_for(
        lambda: (
            not StripeEvent.objects.filter(
                status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.PROCESSING]
            ).exists()
        ),
        "the redeliveries to be processed",
    )
    assert CreditEntry.objects.filter(team=team, kind="purchase").count() == 1

    # A partial refund (from the Dashboard, say) takes back its share of the credits.
    credits.credits_spend(team, 100, "exports", "before-refund")
    stripe_client().v1.refunds.create({"payment_intent": entry.payment_intent, "amount": 500})
    wait_for(lambda: CreditEntry.objects.filter(team=team, kind="refund").exists(), "the reversal")
    reversal = CreditEntry.objects.get(team=team, kind="refund")
    assert (reversal.credits, reversal.amount_refunded) == (-500, 500)
    assert credit_balance(team_id=team.pk) == 400
    # The rest refunded: the other half is 500 credits, but only 400 are left.
    stripe_client().v1.refunds.create({"payment_intent": entry.payment_intent})
    wait_for(lambda: CreditEntry.objects.filter(team=team, kind="refund").count() == 2, "refund 2")
    assert credit_balance(team_id=team.pk) == 0
    assert [e.credits for e in CreditEntry.objects.filter(team=team).order_by("id")] == [
        1000,
        -100,
        -500,
        -400,
    ]
    assert re.fullmatch(
        r"ch_\w+:1000", CreditEntry.objects.filter(kind="refund").latest("id").source
    )


@pytest.mark.django_db
def test_a_refund_processed_before_its_purchase_is_applied_by_the_grant(
    client: Client, billing: Billing
) -> None:
    """Events out of order: ``charge.refunded`` first (nothing to reverse yet, dj-stripe
    mirrors the charge), then ``checkout.session.completed``: the grant reverses it."""
    from djstripe.models import Charge

    team = _team_with(client)
    back = _buy(client, billing, team)  # the return page is not visited
    session = stripe_client().v1.checkout.sessions.retrieve(back.split("session_id=")[1])
    stripe_client().v1.refunds.create(
        {"payment_intent": str(session.payment_intent), "amount": 250}
    )
    charge = (
        stripe_client().v1.charges.list({"payment_intent": str(session.payment_intent)}).data[0]
    )
    Charge.sync_from_stripe_data(charge)  # what dj-stripe does with the charge.refunded event
    assert credits.credits_refund_reverse(team_id=team.pk, charge=charge.to_dict()) is None
    credits.credits_grant(team_id=team.pk, session=session.to_dict())
    assert [e.credits for e in CreditEntry.objects.filter(team=team).order_by("id")] == [1000, -250]
    # The refund's event, processed again later, finds it done.
    assert credits.credits_refund_reverse(team_id=team.pk, charge=charge.to_dict()) is None
    assert credit_balance(team_id=team.pk) == 750
