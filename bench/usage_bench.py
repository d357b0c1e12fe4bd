"""Benchmark usage-based billing: what recording costs a request, how fast reporting goes.

    uv run python bench/usage_bench.py [--n 2000] [--buckets 1000]

Runs Django in-process on a fresh SQLite test database (migrations take about
a minute), a private Redis for the cache, and the Stripe emulator in a thread.
  * recording: a team view that calls ``usage_record(team, "api_calls", 1)``
    versus the same view without it, interleaved, through Django's test
    client (difference of the p50s, and the median of each pair's difference,
    = the cost added to a request); then
    ``usage_record`` and ``usage_consume`` (hard-limit check + record) alone.
    Target: < 0.2 ms added at p50.
  * reporting: ``--buckets`` minute buckets of 1-500 units for a Pro team
    subscribed through Checkout on the emulator, reported by
    ``usage_report_pending`` batches in this process (no Celery, no Stripe
    budget pacing) until none is left; units/s and meter events/s until the
    emulator's meter event summaries hold every unit, checked exactly.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.test")
os.environ.pop("DATABASE_URL", None)  # always a throwaway SQLite file

from app_bench import percentile, timed  # noqa: E402


def _recording(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    from django.http import HttpRequest, HttpResponse
    from django.test import Client
    from django.urls import clear_url_caches, path

    import saas.urls
    from tests.billing_helpers import personal_team
    from tests.factories import make_user
    from tests.usage.helpers import give_metered_plan
    from usage.services import usage_consume, usage_record

    def plain(request: HttpRequest, team_slug: str) -> HttpResponse:
        return HttpResponse("ok" if request.user.is_authenticated else "anon")

    def recorded(request: HttpRequest, team_slug: str) -> HttpResponse:
        usage_record(request.team, "api_calls", 1)  # type: ignore[attr-defined]
        return HttpResponse("ok" if request.user.is_authenticated else "anon")

    saas.urls.urlpatterns += [
        path("t/<slug:team_slug>/bench/plain", plain),
        path("t/<slug:team_slug>/bench/recorded", recorded),
    ]
    clear_url_caches()
    user = make_user()
    give_metered_plan(user, "pro_monthly")
    team = personal_team(user)
    client = Client()
    client.force_login(user)
    plain_url, recorded_url = f"/t/{team.slug}/bench/plain", f"/t/{team.slug}/bench/recorded"
    timed(lambda: (client.get(plain_url), client.get(recorded_url)), 30)  # warm-up
    plain_ms: list[float] = []
    recorded_ms: list[float] = []
    for _ in range(args.n):
        plain_ms += timed(lambda: client.get(plain_url), 1, warm_up=0)
        recorded_ms += timed(lambda: client.get(recorded_url), 1, warm_up=0)
    added = statistics.median(recorded_ms) - statistics.median(plain_ms)
    # Each recording request against the plain one just before it: less sensitive to
    # load that changes over the run than the difference of the two medians.
    paired = statistics.median(r - p for r, p in zip(recorded_ms, plain_ms, strict=True))
    record_us = [ms * 1000 for ms in timed(lambda: usage_record(team, "api_calls", 1), args.n)]
    consume_us = [ms * 1000 for ms in timed(lambda: usage_consume(team, "api_calls"), args.n)]
    return [
        ("recording: p50 added to a request", f"{added:.3f} ms", "< 0.2 ms"),
        ("recording: median of paired differences", f"{paired:.3f} ms", "< 0.2 ms"),
        (
            "plain view p50 / recording view p50",
            f"{statistics.median(plain_ms):.2f} / {statistics.median(recorded_ms):.2f} ms",
            "",
        ),
        (
            "usage_record alone p50 / p95",
            f"{statistics.median(record_us):.0f} / {percentile(record_us, 0.95):.0f} us",
            "",
        ),
        (
            "usage_consume (limit check + record) p50 / p95",
            f"{statistics.median(consume_us):.0f} / {percentile(consume_us, 0.95):.0f} us",
            "",
        ),
    ]


def _reporting(args: argparse.Namespace, emulator_url: str) -> list[tuple[str, str, str]]:
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from subscriptions import selectors as billing_selectors
    from subscriptions.services import stripe_client
    from tests.billing_helpers import personal_team
    from tests.factories import make_user
    from tests.subscriptions.conftest import Billing
    from usage.models import UsageBucket
    from usage.services import usage_record, usage_report_pending

    settings.USAGE_REPORT_SETTLE_SECONDS = 0
    user = make_user()
    client = Client()
    client.force_login(user)
    assert client.get(Billing(url=emulator_url).subscribe(client, "pro_monthly")).status_code == 200
    team = personal_team(user)
    rng = random.Random(7)
    now = timezone.now()
    recorded = 0
    for minute in range(args.buckets):
        units = rng.randint(1, 500)
        usage_record(team, "api_calls", units, at=now - timedelta(minutes=minute + 2))
        recorded += units
    events = 0
    started = time.perf_counter()
    while UsageBucket.objects.filter(team=team, dirty=True).exists():
        result = usage_report_pending()
        events += result.events_sent
    elapsed = time.perf_counter() - started
    customer = billing_selectors.customer_for_team(team=team)
    assert customer is not None
    api = stripe_client()
    meter = next(m for m in api.v1.billing.meters.list().data if m.event_name == "api_calls")
    end = int(time.time()) + 86400
    summaries = api.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": customer.id, "start_time": end - 40 * 86400, "end_time": end}
    )
    on_meter = int(sum(s.aggregated_value for s in summaries.auto_paging_iter()))
    return [
        ("reporting: units recorded / on the meter", f"{recorded:,} / {on_meter:,}", "equal"),
        ("reporting: meter events / seconds", f"{events:,} / {elapsed:.1f} s", ""),
        ("reporting throughput", f"{recorded / elapsed:,.0f} units/s", ""),
        ("reporting: meter events per second", f"{events / elapsed:,.0f} events/s", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=1000)
    args = parser.parse_args()

    import django

    django.setup()
    import stripe
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment
    from stripe_emulator import EmulatorServer

    from saas.stripe_bases import stripe_bases_route
    from subscriptions.bootstrap import billing_bootstrap

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print("creating the test database (migrations)...", flush=True)
    old_name = connection.creation.create_test_db(verbosity=0)
    emulator = EmulatorServer(port=0, data=":memory:").start()
    try:
        settings.STRIPE_API_BASE = settings.STRIPE_API_HOST = emulator.url
        stripe.api_base = emulator.url
        stripe_bases_route(base=emulator.url)
        settings.SITE_URL = "http://127.0.0.1:9"
        billing_bootstrap(site_url=settings.SITE_URL)
        rows: list[Any] = _recording(args) + _reporting(args, emulator.url)
        width = max(len(r[0]) for r in rows)
        print(f"\n{'measure':<{width}}  {'result':<26}  target")
        for name, value, target in rows:
            print(f"{name:<{width}}  {value:<26}  {target}")
        print(f"\n(database: {connection.vendor}; n={args.n}, buckets={args.buckets})")
    finally:
        emulator.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
