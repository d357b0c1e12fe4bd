"""Chaos: a worker killed mid-event and a broker that goes away lose no webhook.

Each test runs its own worker on a queue of its own (the app's default queue
is switched for the test), so it can kill or starve it without touching the
session's worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from saas.tasks import ping
from subscriptions.access import access_for
from subscriptions.models import StripeEvent
from subscriptions.pipeline import stripe_events_sweep
from tests.conftest import RedisServer, WorkerProcess, celery_broker, start_worker, stop_worker
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import _faults, settled

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

QUEUE = "chaos"


@pytest.fixture
def chaos_queue(settings: Any) -> str:
    settings.BILLING_WEBHOOK_QUEUE = QUEUE
    return QUEUE


def _worker(log: Path, emulator_url: str, **env: str) -> WorkerProcess:
    worker = start_worker(log, "-Q", QUEUE, env={"STRIPE_API_BASE": emulator_url, **env})
    deadline = time.monotonic() + 60
    while True:
        try:
            if ping.apply_async(queue=QUEUE).get(timeout=5) == "pong":
                return worker
        except Exception as exc:
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                output = worker.log()
                stop_worker(worker)  # never leave a stray worker behind
                raise AssertionError(f"worker did not start ({exc!r}):\n{output}") from None


def _kill_hard(worker: WorkerProcess) -> None:
    """SIGKILL the worker and its pool processes: no chance to requeue or ack anything."""
    children = subprocess.run(
        ["pgrep", "-P", str(worker.proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(worker.proc.pid, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    worker.proc.wait(timeout=10)


def test_worker_killed_mid_event_is_processed_after_redelivery(
    client: Client,
    live_billing: Billing,
    chaos_queue: str,
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.BILLING_WEBHOOK_PROCESSING_TIMEOUT = 10  # the claim of a dead worker expires
    settings.BILLING_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    first = _worker(tmp_path / "first.log", live_billing.url)
    killed = threading.Event()

    def killer() -> None:
        """Kill the worker the moment it holds an event (polls the database)."""
        from django.db import connection

        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed.is_set():
                if StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSING).exists():
                    _kill_hard(first)
                    killed.set()
                    return
                time.sleep(0.02)
        finally:
            connection.close()

    watcher = threading.Thread(target=killer, daemon=True)
    watcher.start()
    try:
        # Slow the re-reads (the SDK backs off between retries) so we can kill mid-event.
        _faults(
            live_billing,
            "api",
            {"mode": "500", "count": 4, "route": "^/v1/subscriptions/sub_", "method": "GET"},
        )
        user = make_user()
        client.force_login(user)
        client.get(live_billing.subscribe(client, "pro_monthly"))
        watcher.join(timeout=70)
    finally:
        if not killed.is_set():
            killed.set()
            _kill_hard(first)
    # Whatever the dead worker was holding stays "processing": those are the victims.
    victims = list(StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSING))
    assert victims, "the worker finished before it could be killed"

    second = _worker(tmp_path / "second.log", live_billing.url)
    try:
        deadline = time.monotonic() + 60
        while not settled(live_billing)():
            assert time.monotonic() < deadline, "events not processed after the kill"
            stripe_events_sweep()  # what beat runs every minute
            time.sleep(1)
    finally:
        stop_worker(second)
    for victim in victims:
        victim.refresh_from_db()
        assert victim.status == StripeEvent.Status.PROCESSED
        assert victim.attempts >= 2  # the killed attempt, then the one after redelivery
    assert not StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).exists()
    assert access_for(user).plan_key == "pro"


def test_broker_down_during_deliveries_loses_nothing(
    client: Client,
    live_billing: Billing,
    chaos_queue: str,
    private_redis: RedisServer,
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.BILLING_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    with celery_broker(private_redis.url):
        _broker_down_scenario(client, live_billing, private_redis, tmp_path)


def _broker_down_scenario(
    client: Client, live_billing: Billing, private_redis: RedisServer, tmp_path: Path
) -> None:
    from django.conf import settings

    worker = _worker(
        tmp_path / "worker.log",
        live_billing.url,
        REDIS_URL=private_redis.url,
        # Results stay on the suite's Redis, where this process waits for them.
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
    )
    try:
        private_redis.stop()
        user = make_user()
        client.force_login(user)
        client.get(live_billing.subscribe(client, "pro_monthly"))
        status, _ = live_billing.helper("/_emulator/webhooks/wait", {"timeout": 30})
        assert status == 200
        stored = StripeEvent.objects.all()
        assert stored.exists()
        # Every delivery was acknowledged although nothing could be enqueued.
        assert set(stored.values_list("status", flat=True)) == {StripeEvent.Status.RECEIVED}
        assert all(e.deliveries == 1 for e in stored)

        private_redis.start()  # same port: the worker reconnects by itself
        deadline = time.monotonic() + 90
        while not settled(live_billing)():
            assert time.monotonic() < deadline, "events not processed after Redis came back"
            stripe_events_sweep()
            time.sleep(1)
        assert set(stored.values_list("status", flat=True)) == {StripeEvent.Status.PROCESSED}
        assert access_for(user).plan_key == "pro"
    finally:
        stop_worker(worker)
