"""Seats follow membership through a real Celery worker: joining, leaving, Stripe errors.

The membership change commits, its seat sync is queued after commit on the "seats"
queue, and the worker (a separate process on the test database) updates the
emulator's subscription item quantity and mirrors the subscription.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from stripe_emulator import EmulatorServer

from accounts.models import User
from teams import services
from teams.models import Membership, Team
from tests.billing_helpers import turl
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.teams.test_seats import buy_seats, proration_invoices, remote_quantity, team_of_three

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture(autouse=True)
def worker_quiet_at_the_end(
    live_billing: Billing, stripe_emulator: EmulatorServer
) -> Iterator[None]:
    """After each test, let the worker finish what the test set off before the flush.

    The emulator goes on delivering the test's webhooks and the worker processing
    them; PostgreSQL's flush (TRUNCATE) at teardown would deadlock with a task still
    writing. Torn down before ``live_billing`` (it depends on it), so before the flush.
    """
    yield
    from saas.celery import app

    stripe_emulator.emulator.dispatcher.wait_idle(10)  # the test's webhooks delivered
    from subscriptions.models import StripeEvent

    done = (StripeEvent.Status.PROCESSED, StripeEvent.Status.FAILED)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        active = app.control.inspect(timeout=1).active() or {}
        busy = any(tasks for tasks in active.values())
        if not busy and not StripeEvent.objects.exclude(status__in=done).exists():
            return
        time.sleep(0.3)


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _invite_and_join(team: Team, owner: User, email: str) -> Membership:
    actor = Membership.objects.get(team=team, user=owner)
    issued = services.invitation_create(actor=actor, email=email)
    return services.invitation_accept(user=make_user(email=email), token=issued.token)


def test_joining_charges_a_seat_and_leaving_credits_it(
    live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, live_billing, team)
    assert remote_quantity(subscription.id) == 3

    joined = _invite_and_join(team, owner, "colleague@example.com")
    wait_for(lambda: remote_quantity(subscription.id) == 4, what="quantity 3 -> 4")
    # always_invoice on add: an invoice of the proration lines, charged now.
    wait_for(lambda: len(proration_invoices(subscription.id)) == 1, what="proration invoice")
    (charge,) = proration_invoices(subscription.id)
    assert sum(charge) > 0

    response = client.post(turl(team, "team_member_remove", pk=joined.pk))
    assert response.status_code == 302
    wait_for(lambda: remote_quantity(subscription.id) == 3, what="quantity 4 -> 3")
    wait_for(lambda: len(proration_invoices(subscription.id)) == 2, what="credit invoice")
    credit = next(lines for lines in proration_invoices(subscription.id) if sum(lines) < 0)
    assert any(amount < 0 for amount in credit)
    # The worker mirrored the subscription: the billing page says so.
    wait_for(
        lambda: "3 of 3 seats used" in client.get(turl(team, "billing")).content.decode(),
        what="billing page to show 3 of 3",
    )


def test_a_stripe_error_is_retried_until_the_seat_is_added(
    live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    team, owner = team_of_three()
    client = Client()
    client.force_login(owner)
    subscription = buy_seats(client, live_billing, team)
    # Six 500s on the item update: the SDK's own three attempts fail twice over, so the
    # task itself must retry (with backoff) before the update goes through.
    status, result = live_billing.helper(
        "/_emulator/faults/api",
        {"mode": "500", "count": 6, "route": "^/v1/subscription_items/", "method": "POST"},
    )
    assert status == 200, result
    try:
        _invite_and_join(team, owner, "late@example.com")
        wait_for(lambda: remote_quantity(subscription.id) == 4, timeout=90, what="retried update")
    finally:
        urllib.request.urlopen(
            urllib.request.Request(f"{live_billing.url}/_emulator/faults", method="DELETE"),
            timeout=10,
        ).close()
    log = celery_worker_process.log()
    assert "subscriptions.seats.quantity_sync" in log
    assert "retry" in log.lower()
    assert len(proration_invoices(subscription.id)) == 1
