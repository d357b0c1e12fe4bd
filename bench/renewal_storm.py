"""Renewal storm (issue #15): N subscriptions on one test clock renew in one advance.

    uv run python bench/renewal_storm.py [--subs 1000] [--workers 2] [--modes stock,payload]
                                         [--latency-p50-ms 120] [--latency-p99-ms 600]
                                         [--rate-limit 25]

One environment: PostgreSQL database `saas_bench_storm`, a private
redis-server, the Stripe emulator in a subprocess (`:memory:` state), a
counting pass-through between the app and the emulator
(saas/devtools/stripe_counter.py), gunicorn with production settings, and
Celery worker processes with `--concurrency=1` on the webhook queue.

  1. Setup (not measured): one test clock, N customers on it with a card and
     a monthly subscription, created by 8 threads; the emulator has no latency
     or rate limit yet. Every event is delivered to the intake and processed
     by the workers (payload-first), so the mirror and its watermarks are
     built by the pipeline, as in production.
  2. One storm per mode, in the order given, each a month after the previous:
     workers are started with that mode (`payload` is
     BILLING_MIRROR_FROM_PAYLOAD=true, `stock` is false: dj-stripe re-reads
     every object), the emulator gets Stripe-like latency (log-normal, p50
     120 ms, p99 600 ms) and the test-mode rate limit (25 requests/s per key)
     through `/_emulator/config`, and the clock is advanced past the period
     end in one request. Every renewal event is delivered to the intake and
     processed. Measured: seconds from the advance request until the last
     storm event is processed (its `processed_at`); events processed and
     failed; Stripe API requests from `/_emulator/stats` minus the bench's own
     (the advance and its polls, on another key), per processed event; 429s
     (emulator and as seen by the app); the workers' CPU per event (psutil);
     each event's processing time from the workers' logs.

Stock goes first, so payload-first processes the second renewal against the
larger tables. The ratio is payload against stock in the same run (the
machine's cores are shared; absolute numbers move with the load).

Targets (issue #15): <= 0.3 Stripe calls per processed event; >= 5x today's
events/s per worker (17.6, bench/RESULTS.md); 1,000 subscriptions processed
in < 120 s; zero failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webhook_bench import (
    PG_ADMIN,
    Services,
    free_port,
    port_open,
    run,
    start_emulator,
    start_redis,
    wait_until,
)

from saas.devtools.stripe_counter import StripeCounter, stripe_counter

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "bench_storm"
# Its own database: other benches (webhook_bench.py) drop theirs when they start.
DB_NAME = "saas_bench_storm"
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
TODAY_EVENTS_PER_SECOND_PER_WORKER = 17.6  # bench/RESULTS.md, webhook_bench.py (issue #5)
API_VERSION = "2026-05-27.dahlia"
SETUP_THREADS = 8
MONTH = 31 * 86400


PROCESSED_RE = re.compile(r'"time": "(?P<time>[^"]+)".*processed in (?P<ms>\d+) ms')
# The emulator's latency and rate limit off (setup) .
STRIPE_OFF = {"latency_p50_ms": 0, "latency_p99_ms": 0, "rate_limit": 0}


def drop_database(name: str = DB_NAME) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database() -> None:
    drop_database()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def app_env(redis_url: str, stripe_base: str, app_port: int, mode: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "saas.settings.production",
        "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_EMULATOR_IN_PRODUCTION": "true",
        # Production refuses an http SITE_URL; webhooks go to the --site-url of the bootstrap.
        "SITE_URL": f"https://127.0.0.1:{app_port}",
        "EMAIL_URL": "consolemail://",
        "BILLING_WEBHOOK_QUEUE": QUEUE,
        "BILLING_MIRROR_FROM_PAYLOAD": "true" if mode == "payload" else "false",
        "SENTRY_DSN": "",
        "PYTHONPATH": str(ROOT),
    }


def start_web(services: Services, env: dict[str, str], app_port: int) -> None:
    services.start(
        "gunicorn",
        [
            sys.executable, "-m", "gunicorn", "saas.wsgi:application",
            "--pythonpath", str(ROOT), "--chdir", str(ROOT),
            "--bind", f"127.0.0.1:{app_port}", "--worker-class", "gthread",
            "--workers", "2", "--threads", "4", "--log-level", "warning", "--timeout", "60",
        ],
        env,
    )  # fmt: skip
    wait_until(lambda: port_open(app_port), timeout=60, what="gunicorn")


def start_workers(
    services: Services, env: dict[str, str], workers: int, mode: str, name: str, **extra: str
) -> list[subprocess.Popen[bytes]]:
    """Worker processes (``--concurrency=1`` each) processing with ``mode``."""
    env = {**env, "BILLING_MIRROR_FROM_PAYLOAD": "true" if mode == "payload" else "false", **extra}
    procs = []
    for n in range(workers):
        worker = f"{name}{n}"
        proc = services.start(
            worker,
            [
                sys.executable, "-m", "celery", "-A", "saas", "worker", "--loglevel=INFO",
                "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
                "-Q", QUEUE, "-n", f"{worker}@%h",
            ],
            env,
        )  # fmt: skip

        def ready(proc: subprocess.Popen[bytes] = proc, worker: str = worker) -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {worker} exited:\n{services.log(worker)[-3000:]}")
            return " ready." in services.log(worker)

        wait_until(ready, timeout=90, what=f"worker {worker}")
        procs.append(proc)
    return procs


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU of the worker processes and their pool children so far."""
    total = 0.0
    for proc in procs:
        parent = psutil.Process(proc.pid)
        for p in [parent, *parent.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
    return total


def emulator_call(base: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An emulator helper endpoint: GET without a body, POST with one."""
    import urllib.request

    request = urllib.request.Request(
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read() or b"{}"))


def webhooks_idle(base: str) -> bool:
    import urllib.error

    try:
        emulator_call(base, "/_emulator/webhooks/wait", {"timeout": 1})
    except urllib.error.HTTPError:
        return False
    return True


def _customer_with_subscription(client: stripe.StripeClient, clock: str, price: str, i: int) -> int:
    customer = client.v1.customers.create(
        {"test_clock": clock, "payment_method": "pm_card_visa", "email": f"storm{i}@example.com"}
    )
    card = client.v1.customers.payment_methods.list(customer.id).data[0]
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price}]})
    return int(sub["items"].data[0].current_period_end)


def subscriptions_on_one_clock(client: stripe.StripeClient, n: int) -> tuple[str, int]:
    """N customers with a card on one test clock, each with a monthly subscription.

    Created by several threads at once (setup only; the emulator has no latency
    or rate limit then): one at a time, 1,000 took longer than the storm.
    """
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": start})
    price = client.v1.prices.list({"lookup_keys": ["pro_monthly"], "limit": 1}).data[0]
    with ThreadPoolExecutor(max_workers=SETUP_THREADS) as pool:
        ends = list(
            pool.map(lambda i: _customer_with_subscription(client, clock.id, price.id, i), range(n))
        )
    return clock.id, max(ends)


def event_counts(conn: psycopg.Connection[Any], since: datetime) -> dict[str, Any]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'processed'),"
        " count(*) FILTER (WHERE status = 'failed'), max(processed_at)"
        " FROM subscriptions_stripeevent WHERE received_at >= %s",
        (since,),
    ).fetchone()
    assert row is not None
    return {"stored": row[0], "processed": row[1], "failed": row[2], "last": row[3]}


def wait_settled(
    conn: psycopg.Connection[Any], emulator: str, since: datetime, bound: float
) -> bool:
    """Deliveries done, nothing received or processing, and no new event for a moment."""
    deadline = time.monotonic() + bound
    previous = -1
    while time.monotonic() < deadline:
        idle = webhooks_idle(emulator)
        counts = event_counts(conn, since)
        done = counts["processed"] + counts["failed"]
        if idle and done == counts["stored"] == previous and done > 0:
            return True
        previous = counts["stored"] if done == counts["stored"] else -1
        time.sleep(0.5)
    return False


@contextmanager
def environment(logs: Path, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Database, Redis, the emulator (no latency or limit yet), the counter, gunicorn."""
    logs.mkdir(parents=True, exist_ok=True)
    services = Services(logs)
    create_database()
    try:
        redis_url = start_redis(services, logs)
        emulator = start_emulator(services, [])
        with stripe_counter(emulator) as counter:
            app_port = free_port()
            env = app_env(redis_url, counter.url, app_port, "payload")
            run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env, timeout=1800)
            run(
                [sys.executable, "manage.py", "billing_bootstrap",
                 "--site-url", f"http://127.0.0.1:{app_port}"],
                env,
                timeout=300,
            )  # fmt: skip
            start_web(services, env, app_port)
            yield {"emulator": emulator, "counter": counter, "services": services, "env": env}
    finally:
        services.stop_all()
        drop_database()


def setup(ctx: dict[str, Any], client: stripe.StripeClient, conn: Any, args: Any) -> str:
    """N subscriptions on one clock, their events processed (payload-first), as in production."""
    started = datetime.now(UTC)
    print(f"setup: {args.subs} subscriptions on one test clock...", flush=True)
    t0 = time.monotonic()
    clock, _ = subscriptions_on_one_clock(client, args.subs)
    created = time.monotonic() - t0
    # The intake stores the deliveries meanwhile; the workers start on the
    # backlog. Setup is not measured: its Stripe budget is raised so that the
    # related objects of the first events (payment methods) do not queue at 10/s.
    workers = start_workers(
        ctx["services"], ctx["env"], args.workers, "payload", "setup",
        STRIPE_BACKGROUND_REQUESTS_PER_SECOND="1000",
    )  # fmt: skip
    if not wait_settled(conn, ctx["emulator"], started, args.max_seconds):
        raise RuntimeError(f"setup did not settle: {event_counts(conn, started)}")
    counts = event_counts(conn, started)
    print(
        f"setup: created in {created:.0f} s, {counts['stored']} events processed in "
        f"{time.monotonic() - t0:.0f} s, {counts['failed']} failed",
        flush=True,
    )
    for proc in workers:
        ctx["services"].stop(proc)
    return clock


def storm_seconds_per_event(log: str, since: datetime) -> list[float]:
    """'processed in N ms' of each event a worker processed after ``since``."""
    times = []
    for line in log.splitlines():
        match = PROCESSED_RE.search(line)
        if not match:
            continue
        at = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        if at >= since.replace(microsecond=0):
            times.append(float(match["ms"]))
    return times


def storm(
    mode: str, ctx: dict[str, Any], client: Any, conn: Any, clock: str, args: Any
) -> dict[str, Any]:
    """Advance the clock past the next period end with the workers processing in ``mode``."""
    services: Services = ctx["services"]
    emulator: str = ctx["emulator"]
    counter: StripeCounter = ctx["counter"]
    workers = start_workers(services, ctx["env"], args.workers, mode, f"{mode}-w")
    sub = client.v1.subscriptions.list({"limit": 1, "status": "all"}).data[0]
    target = int(sub["items"].data[0].current_period_end) + 3600
    emulator_call(emulator, "/_emulator/config", ctx["stripe_like"])
    counter.reset()
    emulator_call(emulator, "/_emulator/stats/reset", {})
    cpu_before = cpu_seconds(workers)
    print(f"[{mode}] storm: advancing the clock past the period end...", flush=True)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    client.v1.test_helpers.test_clocks.advance(clock, {"frozen_time": target})
    bench_calls = 1
    while client.v1.test_helpers.test_clocks.retrieve(clock).status != "ready":
        bench_calls += 1
        time.sleep(1.0)  # the bench's own requests use another key than the app's
    bench_calls += 1
    advanced = time.monotonic() - started
    settled = wait_settled(conn, emulator, started_at, args.max_seconds)
    counts = event_counts(conn, started_at)
    stats = emulator_call(emulator, "/_emulator/stats")
    cpu = cpu_seconds(workers) - cpu_before
    emulator_call(emulator, "/_emulator/config", STRIPE_OFF)
    per_event = sorted(
        t for n in range(args.workers)
        for t in storm_seconds_per_event(services.log(f"{mode}-w{n}"), started_at)
    )  # fmt: skip
    for proc in workers:
        services.stop(proc)
    last = counts["last"]
    seconds = (last - started_at).total_seconds() if last else float("nan")
    processed = counts["processed"]
    app_calls = stats["requests"] - bench_calls
    return {
        "mode": mode,
        "subscriptions": args.subs,
        "clock_advance_s": round(advanced, 1),
        "storm_events": counts["stored"],
        "processed": processed,
        "failed": counts["failed"],
        "settled": settled,
        "advance_to_all_processed_s": round(seconds, 1),
        "events_per_s": round(processed / seconds, 1) if seconds else 0,
        "events_per_s_per_worker": round(processed / seconds / args.workers, 1) if seconds else 0,
        "stripe_calls_app": app_calls,
        "stripe_calls_per_event": round(app_calls / processed, 3) if processed else None,
        "rate_limited_429_emulator": stats["rate_limited"],
        "rate_limited_429_seen_by_app": counter.rate_limited,
        "emulator_max_accepted_per_s": stats["max_accepted_per_second"],
        "worker_cpu_ms_per_event": round(cpu * 1000 / processed, 1) if processed else None,
        "processing_ms_p50": percentile(per_event, 0.5),
        "processing_ms_p90": percentile(per_event, 0.9),
        "top_calls": counter.requests.most_common(5),
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"{args.subs} subscriptions on one test clock, {args.workers} worker processes")
    print(
        f"emulator during the storms: latency p50 {args.latency_p50_ms:.0f} ms, "
        f"p99 {args.latency_p99_ms:.0f} ms, rate limit {args.rate_limit}/s per key "
        "(setup ran without them)"
    )
    for result in results:
        top = result.pop("top_calls")
        print(json.dumps(result, indent=2))
        print(f"  most frequent Stripe requests ({result['mode']}): {top}")
    by_mode = {r["mode"]: r for r in results}
    if "payload" in by_mode and "stock" in by_mode:
        ours, stock = by_mode["payload"], by_mode["stock"]
        if stock["events_per_s_per_worker"]:
            ratio = ours["events_per_s_per_worker"] / stock["events_per_s_per_worker"]
            print(f"events/s per worker, payload vs stock in this run: {ratio:.1f}x")
        if ours["stripe_calls_app"]:
            fewer = stock["stripe_calls_app"] / ours["stripe_calls_app"]
            print(f"Stripe calls stock vs payload: {fewer:.1f}x")
    if "payload" in by_mode:
        ours = by_mode["payload"]
        per_worker = ours["events_per_s_per_worker"]
        print("targets (payload mode):")
        print(f"  <= 0.3 Stripe calls/event: {ours['stripe_calls_per_event']}")
        print(
            f"  >= 5x today's {TODAY_EVENTS_PER_SECOND_PER_WORKER} events/s per worker: "
            f"{per_worker} ({per_worker / TODAY_EVENTS_PER_SECOND_PER_WORKER:.1f}x)"
        )
        print(f"  storm processed in < 120 s: {ours['advance_to_all_processed_s']} s "
              f"for {args.subs} subscriptions")  # fmt: skip
        print(f"  zero failed: {ours['failed']} failed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--modes", default="stock,payload", help="storms in this order, one month apart"
    )
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--latency-p50-ms", type=float, default=120.0)
    parser.add_argument("--latency-p99-ms", type=float, default=600.0)
    parser.add_argument("--rate-limit", type=int, default=25, help="Stripe test mode: 25/s")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="renewal_storm_"))
    results = []
    with environment(logs, args) as ctx, psycopg.connect(DB_URL) as conn:
        conn.autocommit = True
        ctx["stripe_like"] = {
            "latency_p50_ms": args.latency_p50_ms,
            "latency_p99_ms": args.latency_p99_ms,
            "rate_limit": args.rate_limit,
        }
        client = stripe.StripeClient(
            "sk_test_bench", stripe_version=API_VERSION, base_addresses={"api": ctx["emulator"]}
        )
        clock = setup(ctx, client, conn, args)
        for mode in args.modes.split(","):
            results.append(storm(mode, ctx, client, conn, clock, args))
    report(results, args)
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
