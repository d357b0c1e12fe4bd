"""Background Stripe calls: a shared budget of requests per second, and 429s that never fail.

The budget and the budgeted HTTP client are tested against the real Redis and
the emulator with Stripe's rate limit switched on; the pipeline against a
real worker process that has the client installed by its Celery signals, as
in production.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import stripe
from django.conf import settings as django_settings
from stripe_emulator import EmulatorServer

from subscriptions.models import StripeEvent
from subscriptions.stripe_budget import (
    BUDGET_KEY,
    BudgetedHTTPClient,
    StripeBudget,
    rate_limit_backoff,
)
from subscriptions.webhooks import pipeline
from tests.conftest import RedisServer, stop_worker
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_chaos import QUEUE
from tests.subscriptions.test_webhook_pipeline import wait_for

API_KEY = "sk_test_budget_tests_0000000000000000"


def _emulator_helper(url: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def limited_emulator(stripe_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session's emulator; whatever limits the test sets are switched off afterwards."""
    _emulator_helper(stripe_emulator.url, "POST", "/_emulator/stats/reset", {})
    yield stripe_emulator
    _emulator_helper(
        stripe_emulator.url, "POST", "/_emulator/config", {"rate_limit": 0, "latency_p50_ms": 0}
    )
    stripe_emulator.emulator.rate_limiter.clear()


def _budget(rate: float, fallback: float = 100.0, url: str | None = None) -> StripeBudget:
    budget = StripeBudget(
        rate=rate,
        fallback_rate=fallback,
        redis_url=url or django_settings.REDIS_URL,
        timeout=0.5,
    )
    return budget


def _clear_budget_key(url: str | None = None) -> None:
    redis.Redis.from_url(url or django_settings.REDIS_URL).delete(BUDGET_KEY)


def test_budget_spaces_requests_of_every_process_through_redis() -> None:
    _clear_budget_key()
    # Two budgets stand for two worker processes: they share the key in Redis.
    workers = [_budget(20), _budget(20)]
    stamps: list[float] = []
    lock = threading.Lock()

    def work(budget: StripeBudget) -> None:
        for _ in range(15):
            budget.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(b,)) for b in workers for _ in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 60
    # 60 slots 50 ms apart: about 3 s, whatever the number of processes and threads.
    assert time.monotonic() - started >= 2.9
    stamps.sort()
    most_in_one_second = max(sum(1 for s in stamps if first <= s < first + 1.0) for first in stamps)
    assert most_in_one_second <= 21


def test_budget_falls_back_to_a_bucket_per_process_when_redis_is_down(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    budget = _budget(100, fallback=10, url=private_redis.url)
    assert budget.acquire() == 0  # through Redis
    private_redis.stop()
    started = time.monotonic()
    for _ in range(6):
        budget.acquire()
    # Not unlimited: 10 per second in this process (the first slot is free).
    assert time.monotonic() - started >= 0.45
    assert "Redis unreachable" in caplog.text


def test_rate_limit_backoff_doubles_with_jitter_and_a_cap() -> None:
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (10, 8.0)):
        delays = [rate_limit_backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def _budgeted_client(url: str, *, rate: float, patience: float) -> stripe.StripeClient:
    _clear_budget_key()
    http_client = BudgetedHTTPClient(
        stripe.new_default_http_client(), _budget(rate), patience=patience
    )
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": url}, max_network_retries=2, http_client=http_client
    )


def test_budgeted_client_waits_out_stripes_429s(limited_emulator: EmulatorServer) -> None:
    url = limited_emulator.url
    _emulator_helper(url, "POST", "/_emulator/config", {"rate_limit": 3})
    client = _budgeted_client(url, rate=50, patience=20)
    for _ in range(10):
        assert isinstance(client.v1.products.list().data, list)
    stats = _emulator_helper(url, "GET", "/_emulator/stats")
    assert stats["rate_limited"] > 0  # Stripe said 429 ...
    assert stats["requests"] == 10 + stats["rate_limited"]  # ... and each was sent again
    assert stats["max_accepted_per_second"] <= 3


def test_budgeted_client_gives_the_429_back_after_its_patience(
    limited_emulator: EmulatorServer,
) -> None:
    url = limited_emulator.url
    _emulator_helper(url, "POST", "/_emulator/config", {"rate_limit": 1})
    client = _budgeted_client(url, rate=50, patience=0.2)
    client.v1.products.list()
    with pytest.raises(stripe.RateLimitError):
        client.v1.products.list()


@pytest.mark.django_db
def test_rate_limited_event_is_deferred_without_using_an_attempt(billing: Billing) -> None:
    """Even on its last attempt, an event that Stripe rate-limits is never failed."""
    from subscriptions.services import stripe_client

    product = stripe_client().v1.products.list({"limit": 1}).data[0]
    event = StripeEvent.objects.create(
        stripe_id="evt_rate_limited",
        type="product.updated",
        stripe_created="2026-01-01T00:00:00Z",
        payload={
            "id": "evt_rate_limited",
            "object": "event",
            "type": "product.updated",
            "livemode": False,
            "created": 1767225600,
            "data": {"object": json.loads(str(product))},
        },
    )
    status, result = billing.helper(
        "/_emulator/faults/api", {"mode": "429", "count": 20, "route": "^/v1/products"}
    )
    assert status == 200, result
    try:
        with pytest.raises(stripe.RateLimitError):
            pipeline.stripe_event_process(event_pk=event.pk, task_id="t1", retries_left=False)
    finally:
        urllib.request.urlopen(
            urllib.request.Request(f"{billing.url}/_emulator/faults", method="DELETE"), timeout=10
        ).close()
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.RECEIVED
    assert event.attempts == 0  # the run was given back
    assert event.next_attempt_at is not None
    assert "RateLimitError" in event.last_error
    # Once Stripe answers again the same event is processed.
    outcome = pipeline.stripe_event_process(event_pk=event.pk, task_id="t2", retries_left=False)
    assert outcome.status == "processed"


@pytest.mark.django_db
def test_task_retries_rate_limited_runs_beyond_the_attempt_limit(
    billing: Billing, settings: Any
) -> None:
    """Three 429s in a row with two attempts allowed: the event is processed, not failed.

    The task runs eagerly here, so its retries run at once, one after another.
    """
    from subscriptions.services import stripe_client
    from subscriptions.tasks import webhook_event_process_task

    settings.BILLING_WEBHOOK_MAX_ATTEMPTS = 2
    product = stripe_client().v1.products.list({"limit": 1}).data[0]
    event = StripeEvent.objects.create(
        stripe_id="evt_rate_limited_task",
        type="product.updated",
        stripe_created="2026-01-01T00:00:00Z",
        payload={
            "id": "evt_rate_limited_task",
            "object": "event",
            "type": "product.updated",
            "livemode": False,
            "created": 1767225600,
            "data": {"object": json.loads(str(product))},
        },
    )
    status, result = billing.helper(
        "/_emulator/faults/api", {"mode": "429", "count": 3, "route": "^/v1/products"}
    )
    assert status == 200, result
    outcome = webhook_event_process_task.apply(args=(event.pk,))
    assert outcome.get() == "processed"
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.PROCESSED
    assert event.attempts == 1  # three rate-limited runs, one attempt


# --- A burst through a real worker ----------------------------------------------------


def _product_updates(count: int) -> None:
    """A burst of ``product.updated`` events, delivered by the emulator to the app's intake."""
    from subscriptions.services import stripe_client

    client = stripe_client()
    product = client.v1.products.list({"limit": 1}).data[0]
    for i in range(count):
        client.v1.products.update(product.id, {"metadata": {"burst": str(i)}})


def _burst_processed_by_worker(
    live_billing: Billing, tmp_path: Path, *, events: int, budget: float, emulator_limit: int
) -> dict[str, Any]:
    """Store a burst, then let a worker with ``budget`` process it; the emulator's stats."""
    from tests.subscriptions.test_webhook_chaos import _worker  # on the "chaos" queue

    _product_updates(events)
    wait_for(
        lambda: StripeEvent.objects.filter(type="product.updated").count() >= events,
        what="the burst to be stored",
    )
    _clear_budget_key()
    url = live_billing.url
    _emulator_helper(url, "POST", "/_emulator/config", {"rate_limit": emulator_limit})
    _emulator_helper(url, "POST", "/_emulator/stats/reset", {})
    worker = _worker(
        tmp_path / "worker.log",
        url,
        STRIPE_BACKGROUND_REQUESTS_PER_SECOND=str(budget),
        BILLING_WEBHOOK_MAX_ATTEMPTS="2",  # a 429 counted as a failure would fail the event
    )
    try:
        wait_for(
            lambda: (
                not StripeEvent.objects.exclude(
                    status__in=[StripeEvent.Status.PROCESSED, StripeEvent.Status.FAILED]
                ).exists()
            ),
            timeout=120,
            what="the burst to be processed",
        )
        assert "background budget" in worker.log()
    finally:
        stop_worker(worker)
    return dict(_emulator_helper(url, "GET", "/_emulator/stats"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_burst_with_stripe_429s_ends_with_zero_failed_events(
    live_billing: Billing, limited_emulator: EmulatorServer, tmp_path: Path, settings: Any
) -> None:
    settings.BILLING_WEBHOOK_QUEUE = QUEUE
    # The workers' budget (8/s) is over what Stripe grants now (5/s), as when
    # customers use part of the limit: Stripe answers 429 and the workers wait.
    stats = _burst_processed_by_worker(
        live_billing, tmp_path, events=30, budget=8, emulator_limit=5
    )
    assert stats["rate_limited"] > 0
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).exists()
    assert StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED).count() >= 30


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_burst_stays_under_the_background_budget(
    live_billing: Billing, limited_emulator: EmulatorServer, tmp_path: Path, settings: Any
) -> None:
    settings.BILLING_WEBHOOK_QUEUE = QUEUE
    stats = _burst_processed_by_worker(
        live_billing, tmp_path, events=30, budget=4, emulator_limit=25
    )
    busy_seconds = [s for s in stats["per_second"] if s["requests"]]
    assert stats["requests"] >= 30
    assert stats["rate_limited"] == 0
    # One request every 250 ms: at most 4 in a wall-clock second, 5 at a boundary.
    assert max(s["requests"] for s in busy_seconds) <= 5, busy_seconds
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).exists()
