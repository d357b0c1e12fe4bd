"""Chaos: a worker killed mid-event, a broker or a database that goes away lose no webhook.

Each test runs its own worker on a queue of its own (the app's default queue
is switched for the test), so it can kill or starve it without touching the
session's worker.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.test import Client
from djstripe.models import WebhookEventTrigger

from notifications.models import Notification
from saas.tasks import ping
from subscriptions.models import StripeEvent
from subscriptions.webhooks.pipeline import stripe_events_sweep
from tests.billing_helpers import access_now, tpath
from tests.conftest import RedisServer, WorkerProcess, celery_broker, start_worker, stop_worker
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import _emulator_events, _faults, settled, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

QUEUE = "chaos"


@pytest.fixture
def chaos_queue(settings: Any) -> str:
    settings.BILLING_WEBHOOK_QUEUE = QUEUE
    return QUEUE


def _worker(log: Path, emulator_url: str, **env: str) -> WorkerProcess:
    # The worker's own queue setting too: its dispatch task queues the processing tasks.
    worker = start_worker(
        log,
        "-Q",
        QUEUE,
        env={"STRIPE_API_BASE": emulator_url, "BILLING_WEBHOOK_QUEUE": QUEUE, **env},
    )
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
        """Kill the worker while it holds an event stuck in the SDK's retries.

        Only an event processing for over half a second counts: the others
        finish in milliseconds, so killing on them could come too late.
        """
        from django.db import connection
        from django.utils import timezone

        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed.is_set():
                stuck = StripeEvent.objects.filter(
                    status=StripeEvent.Status.PROCESSING,
                    processing_started_at__lt=timezone.now() - timedelta(seconds=0.5),
                )
                if stuck.exists():
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
    assert access_now(user).plan_key == "pro"


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
        assert access_now(user).plan_key == "pro"
    finally:
        stop_worker(worker)


# How long the live server waits for SQLite's write lock during the outage (the
# app's own busy timeout is 20 s; see test_database_down_gets_503_and_...).
OUTAGE_BUSY_TIMEOUT_MS = 500


def _short_busy_timeout(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.execute(f"PRAGMA busy_timeout = {OUTAGE_BUSY_TIMEOUT_MS}")


@contextlib.contextmanager
def _database_down() -> Iterator[None]:
    """The test database refuses the live server's writes until the block exits.

    See the docstring of ``test_database_down_gets_503_and_stripe_retries_succeed_later``.
    """
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        connection_created.connect(_short_busy_timeout)
        lock = sqlite3.connect(settings_dict["NAME"], isolation_level=None, timeout=20)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            lock.close()  # rolls back the empty transaction: the lock is gone
            connection_created.disconnect(_short_busy_timeout)
    elif connection.vendor == "postgresql":
        name = connection.ops.quote_name(settings_dict["NAME"])
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        try:
            yield
        finally:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
    else:
        pytest.skip(f"no way to take {connection.vendor} down")


@contextlib.contextmanager
def _retry_schedule(billing: Billing, schedule: list[float]) -> Iterator[None]:
    """The emulator's delivery retries, for a while (the session's are too few and fast)."""
    _, saved = billing.helper("/_emulator/config", {})  # no change: reads the settings
    status, result = billing.helper("/_emulator/config", {"webhook_retry_schedule": schedule})
    assert status == 200, result
    try:
        yield
    finally:
        billing.helper(
            "/_emulator/config", {"webhook_retry_schedule": saved["webhook_retry_schedule"]}
        )


def _attempts(billing: Billing, events: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The emulator's delivery attempts of ``events``, in order, per event id."""
    with urllib.request.urlopen(f"{billing.url}/_emulator/webhooks/attempts", timeout=10) as r:
        attempts = json.loads(r.read())["data"]
    per_event: dict[str, list[dict[str, Any]]] = {event: [] for event in events}
    for attempt in attempts:
        if attempt["event"] in per_event:
            per_event[attempt["event"]].append(attempt)
    return per_event


@pytest.fixture
def _collect_refused_connections(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Free the SQLite files that the refused requests still hold, after the test.

    Django closed each refused request's connection, but SQLite keeps the file open
    until the failed statement is freed, and that statement lives on in the
    ``DatabaseError``'s traceback, a reference cycle that pytest's log capture keeps
    alive (the intake logs the error with its traceback). Drop those records (the
    report has their text already) and collect the cycles, or the open files outlive
    the test database and leave its -wal and -shm files behind.
    """
    yield
    caplog.get_records("call").clear()
    gc.collect()


@pytest.mark.usefixtures("_collect_refused_connections")
def test_database_down_gets_503_and_stripe_retries_succeed_later(
    client: Client, live_billing: Billing, chaos_queue: str, tmp_path: Path
) -> None:
    """Database down -> every delivery gets a 503 and stores nothing; the emulator's own
    retries after it is back are stored (2xx) and processed to the right state, once.

    "Down" means the web process cannot write to its database, for real (``_database_down``):

    * SQLite, which has no server to stop: another connection holds ``BEGIN EXCLUSIVE``,
      the database's write lock, for the whole outage. Reads still work (WAL), but the
      intake's ``BEGIN IMMEDIATE`` fails with ``OperationalError: database is locked``
      once the busy timeout runs out. The app waits up to 20 s for a busy lock
      (saas/settings/base.py, its tolerance for ordinary contention between web, worker
      and beat); a lock held longer than that *is* an outage. Connections opened in this
      process during the outage (the live server opens one per request) wait 0.5 s
      instead, which keeps the test fast and below the emulator's 5 s delivery timeout.
    * PostgreSQL: ``ALTER DATABASE <test db> WITH ALLOW_CONNECTIONS false``, issued from
      the maintenance database. Every connection the live server opens is refused with
      ``FATAL: database ... is not currently accepting connections``, as while the server
      is down or restarting. Sessions already open (this test's, the idle worker's) live
      on, so the test can look at the tables meanwhile.

    Either way the view gets a ``django.db.OperationalError``, which is a ``DatabaseError``:
    what the intake answers with 503, the same as for any other database failure, and
    nothing of the refused request stays behind (the transaction never began or rolled
    back). The live server runs in this process (threads); no view or connection is
    patched, the emulator's deliveries go over HTTP and a real worker processes them.
    """
    worker = _worker(tmp_path / "worker.log", live_billing.url)
    try:
        user = make_user()
        client.force_login(user)
        # The customer is created and linked to the user while the database is up...
        response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
        assert response.status_code == 303
        wait_for(settled(live_billing), what="the customer's events to settle")
        before = {e["id"] for e in _emulator_events(live_billing)}
        stored_before = StripeEvent.objects.count()

        # ... then the customer pays while it is down: every event is delivered into the outage.
        with _retry_schedule(live_billing, [1, 1, 2, 2, 3, 3, 5, 5]):
            with _database_down():
                status, result = live_billing.complete_checkout(response["Location"])
                assert status == 200, result
                # The endpoint takes some event types only: those with a delivery to make.
                outage = {
                    e["id"]
                    for e in _emulator_events(live_billing)
                    if e["id"] not in before and e["pending_webhooks"]
                }
                assert len(outage) >= 5, outage

                def refused_twice() -> bool:
                    """The first attempt and a retry of every event failed, all with 503."""
                    attempts = _attempts(live_billing, outage)
                    done = [a for event in attempts.values() for a in event]
                    assert all(a["status_code"] == 503 for a in done), done
                    return all(len(event) >= 2 for event in attempts.values())

                wait_for(refused_twice, timeout=20, what="every event to be refused twice")
                assert not StripeEvent.objects.filter(stripe_id__in=outage).exists()
                assert StripeEvent.objects.count() == stored_before
                assert WebhookEventTrigger.objects.count() == stored_before

            # Back up: nobody replays anything, the emulator's next retries deliver.
            wait_for(settled(live_billing), timeout=40, what="retries to be stored and processed")
    finally:
        stop_worker(worker)

    for event_id, attempts in _attempts(live_billing, outage).items():
        codes = [a["status_code"] for a in attempts]
        assert len(codes) >= 3, (event_id, codes)
        assert codes[:-1] == [503] * (len(codes) - 1), (event_id, codes)
        assert codes[-1] == 200, (event_id, codes)
        assert "temporarily unavailable" in attempts[0]["response_excerpt"]
    stored = StripeEvent.objects.filter(stripe_id__in=outage)
    assert {e.stripe_id for e in stored} == outage
    for event in stored:
        assert event.status == StripeEvent.Status.PROCESSED, (event.type, event.last_error)
        assert event.deliveries == 1  # the refused attempts left no trace
        assert event.attempts == 1
    # One raw request kept per stored event: the refused ones were rolled back or never began.
    assert WebhookEventTrigger.objects.count() == StripeEvent.objects.count()

    access = access_now(user)
    assert access.plan_key == "pro"
    assert access.has("api_access")
    kinds = list(Notification.objects.filter(user=user).values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        [Notification.Kind.SUBSCRIPTION_STARTED, Notification.Kind.PAYMENT_SUCCEEDED]
    ), kinds
