"""Benchmark the app's billing paths (issue #4 targets).

    uv run python bench/app_bench.py [--n 300]

Runs Django in-process on a fresh SQLite test database (migrations take about
a minute), a private Redis for the cache, and the Stripe emulator in a thread,
then measures with Django's test client (no network between client and view):
  * access check: a view that reads request.access, warm cache, versus the
    same view without it (difference = cost of the check) and its queries,
    and access_for alone from each cache layer (memory, Redis, computed);
  * /pricing/: database queries and p50 latency;
  * POST /billing/checkout/ -> 303 to Stripe Checkout, against the emulator.
Targets: access < 0.3 ms p50 and no query when warm; /pricing/ <= 4 queries and
< 20 ms p50; checkout redirect < 60 ms p50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.test")
os.environ.pop("DATABASE_URL", None)  # always a throwaway SQLite file


class QueryCounter:
    """Counts SQL statements run on the default connection (execute_wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def _wrapper(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> QueryCounter:
        from django.db import connection

        self._cm = connection.execute_wrapper(self._wrapper)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)

    def __len__(self) -> int:
        return self.count


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def timed(fn: Callable[[], Any], n: int, *, warm_up: int = 20) -> list[float]:
    for _ in range(min(warm_up, n)):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    import stripe
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.http import HttpRequest, HttpResponse
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import clear_url_caches, path
    from stripe_emulator import EmulatorServer

    from subscriptions.bootstrap import billing_bootstrap

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print("creating the test database (migrations)...", flush=True)
    old_name = connection.creation.create_test_db(verbosity=0)
    emulator = EmulatorServer(port=0, data=":memory:").start()
    try:
        settings.STRIPE_API_BASE = emulator.url
        stripe.api_base = emulator.url
        settings.SITE_URL = "http://127.0.0.1:9"
        billing_bootstrap(site_url=settings.SITE_URL)

        # Two tiny views for the access-check comparison.
        import saas.urls

        # Team pages, as the product's are: the team middleware loads the membership and
        # team for both, so only the access check differs.
        def plain(request: HttpRequest, team_slug: str) -> HttpResponse:
            # Loads the session and user like the gated view, so only access differs.
            return HttpResponse("ok" if request.user.is_authenticated else "anon")

        def gated(request: HttpRequest, team_slug: str) -> HttpResponse:
            return HttpResponse("ok" if request.access.has("exports") else "no")  # type: ignore[attr-defined]

        saas.urls.urlpatterns += [
            path("t/<slug:team_slug>/bench/plain", plain),
            path("t/<slug:team_slug>/bench/gated", gated),
        ]
        clear_url_caches()

        from tests.billing_helpers import give_plan, personal_team
        from tests.factories import make_user

        user = make_user()
        give_plan(user, lookup_key="pro_monthly")
        team = personal_team(user)
        plain_url, gated_url = f"/t/{team.slug}/bench/plain", f"/t/{team.slug}/bench/gated"
        client = Client()
        client.force_login(user)
        client.get(gated_url)  # warm the access cache

        with QueryCounter() as plain_q:
            client.get(plain_url)
        with QueryCounter() as gated_q:
            client.get(gated_url)
        # Interleaved, so drift (CPU frequency, other load) hits both views alike.
        timed(lambda: (client.get(plain_url), client.get(gated_url)), 20)  # warm-up
        plain_ms: list[float] = []
        gated_ms: list[float] = []
        for _ in range(args.n):
            plain_ms += timed(lambda: client.get(plain_url), 1, warm_up=0)
            gated_ms += timed(lambda: client.get(gated_url), 1, warm_up=0)
        access_cost = statistics.median(gated_ms) - statistics.median(plain_ms)

        # access_for itself, per layer: process memory, Redis, computed from the mirror.
        from subscriptions.access.access import access_for, access_local_clear

        def from_redis() -> None:
            access_local_clear()
            access_for(team)

        def computed() -> None:
            access_local_clear()
            cache.clear()
            access_for(team)

        memory_us = [ms * 1000 for ms in timed(lambda: access_for(team), args.n)]
        redis_us = [ms * 1000 for ms in timed(from_redis, args.n)]
        computed_us = [ms * 1000 for ms in timed(computed, max(50, args.n // 5))]

        anon = Client()
        with QueryCounter() as pricing_q:
            assert anon.get("/pricing/").status_code == 200
        with QueryCounter() as pricing_user_q:
            client.get("/pricing/")
        pricing_ms = timed(lambda: anon.get("/pricing/"), args.n)

        buyer = make_user()
        buyer_client = Client()
        buyer_client.force_login(buyer)
        checkout_url = f"/t/{personal_team(buyer).slug}/billing/checkout/"
        buyer_client.post(checkout_url, {"price": "starter_monthly"})  # creates the customer

        def checkout() -> None:
            response = buyer_client.post(checkout_url, {"price": "starter_monthly"})
            assert response.status_code == 303, response.status_code

        checkout_ms = timed(checkout, max(50, args.n // 3))

        rows = [
            ("access check (warm) p50 added", f"{access_cost:.3f} ms", "< 0.3 ms"),
            ("access check extra queries", str(len(gated_q) - len(plain_q)), "0"),
            ("plain view p50 / gated view p50",
             f"{statistics.median(plain_ms):.2f} / {statistics.median(gated_ms):.2f} ms", ""),
            ("access_for p50: memory / Redis / mirror",
             f"{statistics.median(memory_us):.1f} / {statistics.median(redis_us):.0f}"
             f" / {statistics.median(computed_us):.0f} us", ""),
            ("/pricing/ queries (anonymous / logged in)",
             f"{len(pricing_q)} / {len(pricing_user_q)}", "<= 4"),
            ("/pricing/ p50 / p95",
             f"{statistics.median(pricing_ms):.2f} / {percentile(pricing_ms, 0.95):.2f} ms",
             "< 20 ms"),
            ("checkout redirect p50 / p95",
             f"{statistics.median(checkout_ms):.2f} / {percentile(checkout_ms, 0.95):.2f} ms",
             "< 60 ms"),
        ]  # fmt: skip
        width = max(len(r[0]) for r in rows)
        print(f"\n{'measure':<{width}}  {'result':<22}  target")
        for name, value, target in rows:
            print(f"{name:<{width}}  {value:<22}  {target}")
    finally:
        emulator.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
