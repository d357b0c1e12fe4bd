"""A backlog on the webhook queue does not delay emails: one real worker per queue.

Stripe is made slow (the emulator's latency), so every stored event takes its
worker most of a second; the email of a notification sent meanwhile goes
through its own queue and worker at once. The same email put behind the
backlog, on the webhook queue, waits for all of it: what separate queues save.

The queues get names of their own here so the session's worker (which
consumes every queue of the settings) cannot take the tasks; which task goes
to which queue in production is tests/saas/test_celery.py's job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from notifications.models import Notification
from notifications.tasks import notification_email_send_task
from saas.tasks import ping
from subscriptions.models import StripeEvent
from subscriptions.webhooks.intake import enqueue_many
from tests.conftest import WorkerProcess, start_worker, stop_worker
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

WEBHOOKS = "isolation-webhooks"
EMAILS = "isolation-emails"
EVENTS = 20


def _queue_worker(log: Path, queue: str, emulator_url: str) -> WorkerProcess:
    worker = start_worker(
        log,
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        # dj-stripe's stock processing reads each event's object from the slow Stripe,
        # which is what makes the backlog long; payload-first processing reads nothing
        # for these events and would clear the backlog before the email is measured.
        env={
            "STRIPE_API_BASE": emulator_url,
            "BILLING_WEBHOOK_QUEUE": WEBHOOKS,
            "BILLING_MIRROR_FROM_PAYLOAD": "false",
        },
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if ping.apply_async(queue=queue).get(timeout=5) == "pong":
                return worker
        except Exception as exc:
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                output = worker.log()
                stop_worker(worker)
                raise AssertionError(f"worker did not start ({exc!r}):\n{output}") from None


@pytest.fixture
def slow_stripe(billing: Billing) -> Iterator[Billing]:
    """Every API request to the emulator takes a second, as a bad day at Stripe.

    Slow enough that the backlog outlasts the email path by far on any machine:
    the email never calls Stripe, so only the backlog slows down.
    """
    billing.helper("/_emulator/config", {"latency_p50_ms": 1000, "latency_p99_ms": 1000})
    yield billing
    billing.helper("/_emulator/config", {"latency_p50_ms": 0})


def _stored_product_events() -> list[int]:
    from subscriptions.services import stripe_client

    product = json.loads(str(stripe_client().v1.products.list({"limit": 1}).data[0]))
    pks = []
    for i in range(EVENTS):
        event_id = f"evt_isolation_{i:03d}"
        payload = {
            "id": event_id,
            "object": "event",
            "type": "product.updated",
            "livemode": False,
            "created": int(time.time()),
            "data": {"object": product},
        }
        pks.append(
            StripeEvent.objects.create(
                stripe_id=event_id,
                type="product.updated",
                object_id=product["id"],
                stripe_created=timezone.now(),
                payload=payload,
            ).pk
        )
    return pks


def _notification(title: str) -> Notification:
    return Notification.objects.create(
        user=make_user(),
        kind=Notification.Kind.PAYMENT_SUCCEEDED,
        title=title,
        stripe_event_id=f"evt_{title}",
    )


def _emailed(notification: Notification) -> bool:
    notification.refresh_from_db()
    return notification.emailed_at is not None


def _processed() -> int:
    return StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED).count()


def test_webhook_backlog_does_not_delay_emails(
    slow_stripe: Billing, tmp_path: Path, settings: Any
) -> None:
    settings.BILLING_WEBHOOK_QUEUE = WEBHOOKS
    pks = _stored_product_events()
    webhooks = _queue_worker(tmp_path / "webhooks.log", WEBHOOKS, slow_stripe.url)
    emails = _queue_worker(tmp_path / "emails.log", EMAILS, slow_stripe.url)
    try:
        enqueued_at = time.monotonic()
        assert enqueue_many(pks) == EVENTS
        wait_for(lambda: _processed() >= 1, what="the backlog to start")
        first = _notification("separate-queue")
        sent_at = time.monotonic()
        notification_email_send_task.apply_async((first.pk,), queue=EMAILS)
        wait_for(lambda: _emailed(first), timeout=30, what="the email on its own queue")
        email_seconds = time.monotonic() - sent_at
        backlog_left = EVENTS - _processed()
        # Sent while the backlog was worked on, done before half of it was. Both
        # figures are relative to the backlog: on a loaded machine, or on SQLite
        # where the two workers' writes take turns, the email takes seconds, and
        # the backlog still takes far longer.
        assert backlog_left >= EVENTS // 2, (backlog_left, email_seconds)

        # The same email queued behind the backlog waits for all of it.
        second = _notification("behind-the-backlog")
        notification_email_send_task.apply_async((second.pk,), queue=WEBHOOKS)
        wait_for(lambda: _emailed(second), timeout=180, what="the email behind the backlog")
        assert _processed() == EVENTS
        backlog_seconds = time.monotonic() - enqueued_at
        assert email_seconds < backlog_seconds / 2, (email_seconds, backlog_seconds)
        last_event = StripeEvent.objects.order_by("-processed_at").first()
        assert last_event is not None
        assert last_event.processed_at is not None
        assert second.emailed_at is not None
        assert last_event.processed_at <= second.emailed_at
    finally:
        stop_worker(webhooks)
        stop_worker(emails)
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).exists()
