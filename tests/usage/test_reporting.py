"""Usage reaches Stripe's meters exactly once: a real Celery worker on the "usage" queue
reports to the emulator over HTTP (stock SDK), through a killed worker, 429s, 500s,
lost responses and a stopped Redis. The proof each time: the meter's event summary
on the emulator equals the units recorded, exactly.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper
from stripe_emulator import EmulatorServer

from saas.tasks import ping
from subscriptions import selectors as billing_selectors
from subscriptions.bootstrap import billing_bootstrap
from subscriptions.services import stripe_client
from teams.models import Team
from tests.billing_helpers import personal_team
from tests.conftest import RedisServer, WorkerProcess, start_worker, stop_worker
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, _billing
from usage import services
from usage.models import UsageBucket
from usage.tasks import usage_report_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

QUEUE = "usage"


@pytest.fixture
def usage_billing(
    stripe_emulator: EmulatorServer, settings: SettingsWrapper, transactional_db: None
) -> Iterator[Billing]:
    """The emulator bootstrapped from the catalog, data visible to worker processes."""
    settings.USAGE_REPORT_SETTLE_SECONDS = 0
    yield from _billing(stripe_emulator, settings, "http://127.0.0.1:9")
    _clear_faults(stripe_emulator.url)


def _clear_faults(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{url}/_emulator/faults", method="DELETE"), timeout=10
    ).close()


def _pro_team(client: Client, billing: Billing, plan: str = "pro_monthly") -> Team:
    user = make_user()
    client.force_login(user)
    assert client.get(billing.subscribe(client, plan)).status_code == 200
    team = personal_team(user)
    assert billing_selectors.subscription_current(team=team) is not None
    return team


def _worker(log: Path, emulator_url: str, **env: str) -> WorkerProcess:
    worker = start_worker(
        log,
        "-Q",
        QUEUE,
        env={"STRIPE_API_BASE": emulator_url, "USAGE_REPORT_SETTLE_SECONDS": "0", **env},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if ping.apply_async(queue=QUEUE).get(timeout=5) == "pong":
                return worker
        except Exception as exc:
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                output = worker.log()
                stop_worker(worker)
                raise AssertionError(f"worker did not start ({exc!r}):\n{output}") from None


def _kill_hard(worker: WorkerProcess) -> None:
    """SIGKILL the worker and its pool: nothing is acknowledged or cleaned up."""
    children = subprocess.run(
        ["pgrep", "-P", str(worker.proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(worker.proc.pid, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    worker.proc.wait(timeout=10)


def _record_spread(team: Team, meter: str, buckets: int, seed: int) -> int:
    """Units in ``buckets`` past minutes (settled, so reportable); returns their total."""
    rng = random.Random(seed)
    now = timezone.now()
    total = 0
    for minute in range(buckets):
        units = rng.randint(1, 500)
        services.usage_record(team, meter, units, at=now - timedelta(minutes=minute + 2))
        total += units
    return total


def _meter_total(team: Team, event_name: str) -> int:
    """What Stripe's meter holds for the team's customer (meter event summaries)."""
    client = stripe_client()
    customer = billing_selectors.customer_for_team(team=team)
    assert customer is not None
    meter = next(
        m for m in client.v1.billing.meters.list({"limit": 100}).data if m.event_name == event_name
    )
    now = int(time.time())
    start = (now - 40 * 86400) // 60 * 60
    summaries = client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": customer.id, "start_time": start, "end_time": now + 86400}
    )
    return int(sum(s.aggregated_value for s in summaries.auto_paging_iter()))


def _all_reported(timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while UsageBucket.objects.filter(dirty=True).exists():
        assert time.monotonic() < deadline, list(
            UsageBucket.objects.filter(dirty=True).values("pk", "units", "reported_units")
        )
        time.sleep(0.3)


def test_units_reach_the_meter_exactly_once_through_a_worker(
    client: Client, usage_billing: Billing, tmp_path: Path
) -> None:
    team = _pro_team(client, usage_billing)
    api_calls = _record_spread(team, "api_calls", 30, seed=1)
    exports = _record_spread(team, "exports", 5, seed=2)
    worker = _worker(tmp_path / "worker.log", usage_billing.url)
    try:
        usage_report_task.apply_async()
        _all_reported()
        assert _meter_total(team, "api_calls") == api_calls
        # Pro does not bill exports: kept for the usage page, never sent.
        assert _meter_total(team, "exports") == 0
        buckets = UsageBucket.objects.filter(team=team)
        assert sum(b.unbilled_units for b in buckets if b.meter == "exports") == exports
        # Running again sends nothing more.
        usage_report_task.apply_async()
        services.usage_record(team, "api_calls", 7, at=timezone.now() - timedelta(minutes=3))
        usage_report_task.apply_async()
        _all_reported()
        assert _meter_total(team, "api_calls") == api_calls + 7
    finally:
        stop_worker(worker)


def test_a_resent_identifier_counts_once(client: Client, usage_billing: Billing) -> None:
    """A reporter that died after Stripe accepted the event, before marking it, resends it."""
    team = _pro_team(client, usage_billing)
    services.usage_record(team, "api_calls", 40, at=timezone.now() - timedelta(minutes=3))
    bucket = UsageBucket.objects.get(team=team)
    frozen = services._freeze_delta(bucket)
    assert frozen is not None
    target = services._target_for(stripe_client(), team.pk)
    assert services._send(stripe_client(), frozen, target, target.clock_now or timezone.now())
    # ...and the process died here. The next run sends the same identifier again.
    result = services.usage_report_pending()
    assert (result.duplicates, result.events_sent) == (1, 0)
    assert _meter_total(team, "api_calls") == 40
    bucket.refresh_from_db()
    assert (bucket.reported_units, bucket.pending_units, bucket.dirty) == (40, None, False)


def test_worker_killed_mid_batch_loses_and_doubles_nothing(
    client: Client, usage_billing: Billing, tmp_path: Path
) -> None:
    team = _pro_team(client, usage_billing)
    expected = _record_spread(team, "api_calls", 60, seed=3)
    usage_billing.helper("/_emulator/config", {"latency_p50_ms": 150, "latency_p99_ms": 150})
    first = _worker(tmp_path / "first.log", usage_billing.url)
    try:
        usage_report_task.apply_async()
        deadline = time.monotonic() + 60
        while UsageBucket.objects.filter(reported_units__gt=0).count() < 10:
            assert time.monotonic() < deadline, first.log()
            time.sleep(0.05)
    finally:
        _kill_hard(first)
    usage_billing.helper("/_emulator/config", {"latency_p50_ms": 0, "latency_p99_ms": 0})
    assert UsageBucket.objects.filter(dirty=True).exists(), "the batch finished before the kill"
    second = _worker(tmp_path / "second.log", usage_billing.url)
    try:
        usage_report_task.apply_async()  # what beat sends every minute
        _all_reported()
    finally:
        stop_worker(second)
    assert _meter_total(team, "api_calls") == expected


def test_429_500_and_lost_responses_are_retried_to_the_exact_total(
    client: Client, usage_billing: Billing, tmp_path: Path
) -> None:
    team = _pro_team(client, usage_billing)
    expected = _record_spread(team, "api_calls", 25, seed=4)
    route = "^/v1/billing/meter_events"
    for fault in (
        {"mode": "429", "count": 6, "route": route},
        {"mode": "500", "count": 5, "route": route},
        # Stripe acted, the answer never came back: the resend is a duplicate.
        {"mode": "drop_after", "count": 4, "route": route},
    ):
        status, result = usage_billing.helper("/_emulator/faults/api", fault)
        assert status == 200, result
    worker = _worker(
        tmp_path / "worker.log",
        usage_billing.url,
        STRIPE_BACKGROUND_RATE_LIMIT_PATIENCE_SECONDS="0.5",
    )
    try:
        deadline = time.monotonic() + 120
        while UsageBucket.objects.filter(dirty=True).exists():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            usage_report_task.apply_async()  # beat's minute, shortened
            time.sleep(2)
    finally:
        stop_worker(worker)
    assert _meter_total(team, "api_calls") == expected


def test_recording_and_reporting_with_redis_stopped(
    client: Client,
    usage_billing: Billing,
    settings: SettingsWrapper,
    private_redis: RedisServer,
) -> None:
    """The cache (hard-limit totals) and the Stripe budget live in Redis; neither is
    needed to record or to report."""
    team = _pro_team(client, usage_billing)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    settings.REDIS_URL = private_redis.url
    private_redis.stop()
    for _ in range(20):
        services.usage_consume(team, "api_calls")  # checks Pro's hard limit
    # Recorded three minutes ago: settled, so the reporter takes it.
    three_minutes_ago = (timezone.now() - timedelta(minutes=3)).replace(second=0, microsecond=0)
    UsageBucket.objects.filter(team=team).update(minute=three_minutes_ago)
    result = services.usage_report_pending()
    assert result.units_sent == 20
    assert _meter_total(team, "api_calls") == 20


def test_units_past_stripes_35_day_window_are_dropped_and_counted(
    client: Client, usage_billing: Billing, caplog: pytest.LogCaptureFixture
) -> None:
    team = _pro_team(client, usage_billing)
    old = timezone.now() - timedelta(days=36)
    services.usage_record(team, "api_calls", 12, at=old)
    services.usage_record(team, "api_calls", 5, at=timezone.now() - timedelta(minutes=2))
    client_ = stripe_client()
    target = services._target_for(client_, team.pk)
    # A customer without a test clock: its units keep the time they were recorded.
    target = services._Target(customer_id=target.customer_id, billed=target.billed, clock_now=None)
    result = services.ReportResult()
    for bucket in UsageBucket.objects.filter(team=team).order_by("minute"):
        services._report_bucket(client_, bucket, target, result)
    assert (result.units_dropped, result.units_sent) == (12, 5)
    assert "usage dropped: 12 units of api_calls" in caplog.text
    dropped = UsageBucket.objects.get(team=team, minute=old.replace(second=0, microsecond=0))
    assert (dropped.dropped_units, dropped.reported_units, dropped.dirty) == (12, 12, False)
    assert _meter_total(team, "api_calls") == 5


def test_bootstrap_makes_meters_and_metered_prices_once(usage_billing: Billing) -> None:
    client = stripe_client()
    meters = {m.event_name: m for m in client.v1.billing.meters.list({"limit": 100}).data}
    assert set(meters) == {"api_calls", "exports"}
    assert meters["api_calls"].default_aggregation.formula == "sum"
    assert meters["api_calls"].customer_mapping.event_payload_key == "stripe_customer_id"
    price = client.v1.prices.list(
        {"lookup_keys": ["pro_api_calls_monthly"], "expand": ["data.tiers"]}
    ).data[0]
    assert price.recurring is not None
    assert (price.recurring.usage_type, price.recurring.meter) == (
        "metered",
        meters["api_calls"].id,
    )
    assert [(t.up_to, str(t.unit_amount_decimal)) for t in price.tiers or []] == [
        (10000, "0"),
        (None, "0.2"),
    ]
    assert billing_bootstrap(site_url="http://127.0.0.1:9").changes == []


def test_checkout_adds_the_metered_price_without_quantity(
    client: Client, usage_billing: Billing
) -> None:
    team = _pro_team(client, usage_billing)
    subscription = billing_selectors.subscription_current(team=team)
    assert subscription is not None
    items = subscription.stripe_data["items"]["data"]
    assert sorted(i["price"]["lookup_key"] for i in items) == [
        "pro_api_calls_monthly",
        "pro_monthly",
    ]
    metered = next(i for i in items if i["price"]["lookup_key"] == "pro_api_calls_monthly")
    assert "quantity" not in metered or metered["quantity"] in (None, 0)
    state = billing_selectors.subscription_state(subscription)
    assert state.price_lookup_key == "pro_monthly"
