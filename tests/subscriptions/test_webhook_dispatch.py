"""The intake queues one dispatch task per burst; the dispatch task queues one task per event.

Against the real Redis broker: each test gets a queue of its own and reads the
Celery messages that landed in it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db.models import F
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper

from subscriptions.models import StripeEvent
from subscriptions.webhooks import intake, pipeline
from subscriptions.webhooks.intake import DISPATCH_FLAG
from tests.webhook_helpers import product_event, signature, webhook_endpoint, webhook_path

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_dispatch"
DISPATCH = "subscriptions.webhook_events_dispatch"
PROCESS = "subscriptions.webhook_event_process"


@pytest.fixture
def queue(settings: SettingsWrapper) -> Iterator[list[tuple[str, Any]]]:
    """A queue nobody consumes; the value lists (task name, args) of what is in it."""
    name = f"test-dispatch-{uuid.uuid4().hex}"
    settings.BILLING_WEBHOOK_QUEUE = name
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    class Messages(list[tuple[str, Any]]):
        def refresh(self) -> Messages:
            self.clear()
            for raw in reversed(broker.lrange(name, 0, -1)):  # LPUSHed: oldest last
                message = json.loads(raw)
                body = json.loads(
                    base64.b64decode(message["body"])
                    if message["properties"].get("body_encoding") == "base64"
                    else message["body"]
                )
                self.append((message["headers"]["task"], body[0]))
            return self

    try:
        yield Messages()
    finally:
        broker.delete(name)


@pytest.fixture
def deliver(client: Client) -> Any:
    path = webhook_path(webhook_endpoint(stripe_id="we_dispatch", secret=SECRET))

    def _deliver(event_id: str) -> int:
        body = product_event(event_id)
        response = client.post(
            path,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature(body, SECRET),
        )
        return response.status_code

    return _deliver


def test_a_burst_of_deliveries_queues_one_dispatch(
    queue: Any, deliver: Any, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [deliver(f"evt_burst_{i}") for i in range(5)]
    assert statuses == [200] * 5
    assert queue.refresh() == [(DISPATCH, [])]
    assert cache.get(DISPATCH_FLAG) is not None  # pending until the dispatch starts


def test_dispatch_queues_each_stored_event_once(
    queue: Any, deliver: Any, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):
            deliver(f"evt_once_{i}")
    assert pipeline.stripe_events_dispatch() == 3
    assert cache.get(DISPATCH_FLAG) is None
    pks = list(StripeEvent.objects.order_by("pk").values_list("pk", flat=True))
    assert queue.refresh()[1:] == [(PROCESS, [pk]) for pk in pks]
    assert all(StripeEvent.objects.values_list("enqueued_at", flat=True))
    assert pipeline.stripe_events_dispatch() == 0  # nothing new: nothing queued twice
    assert len(queue.refresh()) == 4

    # A delivery after the dispatch started sets the flag again: a second dispatch.
    with django_capture_on_commit_callbacks(execute=True):
        deliver("evt_once_late")
    assert queue.refresh()[-1] == (DISPATCH, [])
    assert pipeline.stripe_events_dispatch() == 1


def test_dispatch_leaves_retries_and_taken_events_alone(queue: Any) -> None:
    def stored(stripe_id: str, **fields: Any) -> StripeEvent:
        return StripeEvent.objects.create(
            stripe_id=stripe_id,
            type="product.updated",
            stripe_created=timezone.now(),
            payload={"id": stripe_id},
            **fields,
        )

    waiting = stored("evt_waiting")
    stored("evt_retry_later", next_attempt_at=timezone.now() + timedelta(minutes=5))
    stored("evt_done", status=StripeEvent.Status.PROCESSED)
    stored("evt_queued", enqueued_at=timezone.now())
    assert pipeline.stripe_events_dispatch() == 1
    assert queue.refresh() == [(PROCESS, [waiting.pk])]


def test_a_full_batch_asks_for_another_round(queue: Any) -> None:
    for i in range(3):
        StripeEvent.objects.create(
            stripe_id=f"evt_batch_{i}",
            type="product.updated",
            stripe_created=timezone.now(),
            payload={},
        )
    assert pipeline.stripe_events_dispatch(batch=2) == 2
    assert [task for task, _ in queue.refresh()] == [PROCESS, PROCESS, DISPATCH]
    assert pipeline.stripe_events_dispatch(batch=2) == 1


def test_broker_down_clears_the_flag_for_the_next_delivery(
    deliver: Any,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.conftest import celery_broker

    with (
        celery_broker("redis://127.0.0.1:1/0"),  # nothing listens there
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert deliver("evt_no_broker") == 200
    assert "could not enqueue stored event pk=" in caplog.text
    assert cache.get(DISPATCH_FLAG) is None
    # Stored, not queued: the sweeper's job now.
    assert StripeEvent.objects.get().status == StripeEvent.Status.RECEIVED


def _minutes_pass(minutes: float) -> None:
    """Move every stored timestamp back, as if that much time had passed."""
    shift = timedelta(minutes=minutes)
    StripeEvent.objects.update(
        received_at=F("received_at") - shift,
        enqueued_at=F("enqueued_at") - shift,
        processing_started_at=F("processing_started_at") - shift,
    )


def _stored(stripe_id: str, **fields: Any) -> StripeEvent:
    return StripeEvent.objects.create(
        stripe_id=stripe_id,
        type="product.updated",
        stripe_created=timezone.now(),
        payload={"id": stripe_id},
        **fields,
    )


def test_sweeps_while_the_workers_are_down_queue_each_event_once(
    queue: Any, settings: SettingsWrapper
) -> None:
    settings.BILLING_WEBHOOK_SWEEP_GRACE_SECONDS = 60
    # Ten events reached the queue at intake; ten were stored while the broker was down.
    queued = [_stored(f"evt_queued_{i}").pk for i in range(10)]
    assert pipeline.stripe_events_dispatch() == 10
    missed = [_stored(f"evt_missed_{i}").pk for i in range(10)]
    StripeEvent.objects.filter(pk__in=missed).update(enqueued_at=None)

    sent = []
    for _ in range(3):  # beat, every minute, and no worker takes anything
        _minutes_pass(1)
        sent.append(pipeline.stripe_events_sweep())

    assert sent == [10, 0, 0]  # the missed ones, once
    messages = queue.refresh()
    assert len(messages) == 20
    assert sorted(args[0] for _, args in messages) == sorted(queued + missed)

    # A task still not taken after the lease is presumed lost: one more copy, once.
    _minutes_pass(pipeline.enqueue_lease().total_seconds() / 60)
    assert pipeline.stripe_events_sweep() == 20
    _minutes_pass(1)
    assert pipeline.stripe_events_sweep() == 0
    assert len(queue.refresh()) == 40


def test_a_stuck_event_is_queued_again_once(queue: Any, settings: SettingsWrapper) -> None:
    """A worker died holding the event: its task is gone, so the sweeper queues one."""
    settings.BILLING_WEBHOOK_PROCESSING_TIMEOUT = 300
    event = _stored("evt_stuck")
    assert pipeline.stripe_events_dispatch() == 1
    StripeEvent.objects.filter(pk=event.pk).update(  # a worker took the task, then died
        status=StripeEvent.Status.PROCESSING, processing_started_at=timezone.now()
    )
    _minutes_pass(4)
    assert pipeline.stripe_events_sweep() == 0  # its claim may still be alive
    _minutes_pass(2)
    assert [pipeline.stripe_events_sweep() for _ in range(3)] == [1, 0, 0]
    assert queue.refresh() == [(PROCESS, [event.pk]), (PROCESS, [event.pk])]


def test_a_sweep_into_a_broker_outage_is_retried_at_the_next_sweep(
    queue: Any, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import celery_broker

    settings.BILLING_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    event = _stored("evt_outage")
    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens there
        assert pipeline.stripe_events_sweep() == 0
    assert "could not enqueue stored event" in caplog.text
    assert queue.refresh() == []
    assert pipeline.stripe_events_sweep() == 1  # not waiting for the lease
    assert queue.refresh() == [(PROCESS, [event.pk])]


def test_a_flag_connection_that_redis_dropped_is_replaced(
    queue: Any,
    deliver: Any,
    settings: SettingsWrapper,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a Redis restart does to the thread's flag connection: the next SET NX reconnects."""
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver("evt_flag_before") == 200
    conn, _packed = intake._flag_connection()
    conn.send_command("CLIENT", "ID")
    client_id = conn.read_response()
    admin = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert admin.client_kill_filter(_id=client_id) == 1
    pipeline.stripe_events_dispatch()  # the dispatch starts: the flag is cleared
    assert cache.get(DISPATCH_FLAG) is None

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver("evt_flag_after") == 200
    assert cache.get(DISPATCH_FLAG) is not None
    assert [task for task, _ in queue.refresh()].count(DISPATCH) == 2
    assert "could not enqueue" not in caplog.text


def test_dispatch_puts_other_customers_events_between_one_customers(queue: Any) -> None:
    """A customer's renewal events arrive together; two workers should not take two of them."""
    arrivals = ["cus_a", "cus_a", "cus_a", "cus_b", "cus_b", ""]
    events = [
        StripeEvent.objects.create(
            stripe_id=f"evt_mix_{i}",
            type="invoice.updated",
            stripe_created=timezone.now(),
            customer_id=customer,
            object_id=f"in_{customer or 'none'}",
            payload={},
        )
        for i, customer in enumerate(arrivals)
    ]
    assert pipeline.stripe_events_dispatch() == 6
    a1, a2, a3, b1, b2, other = (e.pk for e in events)
    # Each customer's events keep their order; no two neighbours share a customer.
    assert queue.refresh() == [(PROCESS, [pk]) for pk in (a1, b1, other, a2, b2, a3)]
