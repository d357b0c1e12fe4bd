"""Renewal storm (issue #15): N subscriptions on one test clock renew in one advance.

    uv run python bench/renewal_storm.py [--subs 1000] [--workers 2]
                                         [--modes payload,stock] [--emulator-args "..."]

For each mode, in a fresh environment (PostgreSQL database `saas_bench`,
private redis-server, the Stripe emulator in a subprocess with `:memory:`
state, gunicorn with production settings, 2 Celery worker processes with
`--concurrency=1`):

  1. Setup (not measured): one test clock, N customers on it with a 4242 card,
     N monthly subscriptions. The emulator delivers every event to the intake
     over HTTP and the workers process them, so the mirror and its watermarks
     are built by the pipeline, as in production. The bench waits until all
     are processed.
  2. Storm: the clock is advanced past the first period end in one request.
     Every event of the renewals (invoice created, finalized, paid, payment
     succeeded, payment intent, charge, subscription updated, ...) is
     delivered by the emulator to the intake and processed by the workers.
     Measured: seconds from the advance request until the last storm event is
     processed (its `processed_at`), events processed and failed, Stripe API
     requests made by the app during the storm (a counting pass-through,
     saas/devtools/stripe_counter.py, sits between the app and the emulator)
     per processed event, and the 429 answers it saw.

Modes: `payload` is BILLING_MIRROR_FROM_PAYLOAD=true (subscriptions.webhooks.mirror),
`stock` is false (dj-stripe's stock processing: every object re-read); the
ratio is payload against stock in the same run.

The emulator's Stripe-like latency and rate-limit options (issue #15) are
passed with `--emulator-args` when it has them; the script prints whether
`python -m stripe_emulator --help` mentions latency and rate limiting, and
says so next to the results when they were not used.

Targets (issue #15): <= 0.3 Stripe calls per processed event; >= 5x today's
events/s per worker (17.6, bench/RESULTS.md); 1,000 subscriptions processed
in < 120 s; zero failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


# Migrated once per run, then copied for each mode (migrating takes minutes on 2 busy cores).
TEMPLATE_NAME = f"{DB_NAME}_template"


def drop_database(name: str = DB_NAME) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(template: str | None = None) -> None:
    drop_database()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{DB_NAME}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def migrated_template(env: dict[str, str]) -> None:
    """Migrate the bench database once and keep it as the template of the next modes."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE_NAME,)
        ).fetchone()
    if exists:
        return
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env, timeout=1800)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEMPLATE_NAME}" TEMPLATE "{DB_NAME}"')


def emulator_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "stripe_emulator", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip


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


def start_app(services: Services, env: dict[str, str], app_port: int, workers: int) -> None:
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
    for n in range(workers):
        name = f"storm{n}"
        proc = services.start(
            name,
            [
                sys.executable, "-m", "celery", "-A", "saas", "worker", "--loglevel=INFO",
                "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
                "-Q", QUEUE, "-n", f"{name}@%h",
            ],
            env,
        )  # fmt: skip

        def ready(proc: subprocess.Popen[bytes] = proc, name: str = name) -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited:\n{services.log(name)[-3000:]}")
            return " ready." in services.log(name)

        wait_until(ready, timeout=90, what=f"worker {name}")


def emulator_helper(base: str, path: str, body: dict[str, Any]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def subscriptions_on_one_clock(client: stripe.StripeClient, n: int) -> tuple[str, int]:
    """N customers with a card on one test clock, each with a monthly subscription."""
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": start})
    price = client.v1.prices.list({"lookup_keys": ["pro_monthly"], "limit": 1}).data[0]
    period_end = 0
    for i in range(n):
        customer = client.v1.customers.create(
            {"test_clock": clock.id, "payment_method": "pm_card_visa",
             "email": f"storm{i}@example.com"}
        )  # fmt: skip
        card = client.v1.customers.payment_methods.list(customer.id).data[0]
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        sub = client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}]}
        )
        period_end = int(sub["items"].data[0].current_period_end)
    return clock.id, period_end


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
        idle = emulator_helper(emulator, "/_emulator/webhooks/wait", {"timeout": 1}) == 200
        counts = event_counts(conn, since)
        done = counts["processed"] + counts["failed"]
        if idle and done == counts["stored"] == previous and done > 0:
            return True
        previous = counts["stored"] if done == counts["stored"] else -1
        time.sleep(0.5)
    return False


@contextmanager
def environment(logs: Path, mode: str, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    logs.mkdir(parents=True, exist_ok=True)
    services = Services(logs)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        templated = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE_NAME,)
        ).fetchone()
    create_database(TEMPLATE_NAME if templated else None)
    try:
        redis_url = start_redis(services, logs)
        emulator = start_emulator(services, shlex.split(args.emulator_args))
        with stripe_counter(emulator) as counter:
            app_port = free_port()
            env = app_env(redis_url, counter.url, app_port, mode)
            manage = [sys.executable, "manage.py"]
            migrated_template(env)
            run(
                [*manage, "billing_bootstrap", "--site-url", f"http://127.0.0.1:{app_port}"],
                env,
                timeout=300,
            )
            start_app(services, env, app_port, args.workers)
            yield {"emulator": emulator, "counter": counter, "services": services}
    finally:
        services.stop_all()
        drop_database()


def storm(mode: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    with environment(logs / mode, mode, args) as env, psycopg.connect(DB_URL) as conn:
        conn.autocommit = True
        emulator: str = env["emulator"]
        counter: StripeCounter = env["counter"]
        client = stripe.StripeClient(
            "sk_test_bench", stripe_version=API_VERSION, base_addresses={"api": emulator}
        )
        setup_started = datetime.now(UTC)
        print(f"[{mode}] setup: {args.subs} subscriptions on one test clock...", flush=True)
        clock, period_end = subscriptions_on_one_clock(client, args.subs)
        if not wait_settled(conn, emulator, setup_started, args.max_seconds):
            raise RuntimeError(f"setup did not settle: {event_counts(conn, setup_started)}")
        setup = event_counts(conn, setup_started)
        counter.reset()
        print(f"[{mode}] storm: advancing the clock past the period end...", flush=True)
        started_at = datetime.now(UTC)
        started = time.monotonic()
        client.v1.test_helpers.test_clocks.advance(clock, {"frozen_time": period_end + 3600})
        while client.v1.test_helpers.test_clocks.retrieve(clock).status != "ready":
            time.sleep(0.1)
        advanced = time.monotonic() - started
        settled = wait_settled(conn, emulator, started_at, args.max_seconds)
        counts = event_counts(conn, started_at)
        last = counts["last"]
        seconds = (last - started_at).total_seconds() if last else float("nan")
        calls = counter.total()
        processed = counts["processed"]
        return {
            "mode": mode,
            "subscriptions": args.subs,
            "setup_events": setup["stored"],
            "setup_failed": setup["failed"],
            "clock_advance_s": round(advanced, 1),
            "storm_events": counts["stored"],
            "processed": processed,
            "failed": counts["failed"],
            "settled": settled,
            "advance_to_all_processed_s": round(seconds, 1),
            "events_per_s": round(processed / seconds, 1) if seconds else 0,
            "events_per_s_per_worker": round(processed / seconds / args.workers, 1)
            if seconds
            else 0,
            "stripe_calls": calls,
            "stripe_calls_per_event": round(calls / processed, 3) if processed else None,
            "rate_limited_429": counter.rate_limited,
            "top_calls": counter.requests.most_common(6),
        }


def report(results: list[dict[str, Any]], args: argparse.Namespace, stripe_like: bool) -> None:
    print(f"{args.subs} subscriptions on one test clock, {args.workers} worker processes")
    print(
        "emulator: "
        + (f"Stripe-like options {args.emulator_args!r}" if args.emulator_args else "")
        + ("" if args.emulator_args else "no added latency, no rate limit")
        + ("" if stripe_like else " (this emulator has no latency/rate-limit options yet)")
    )
    for result in results:
        top = result.pop("top_calls")
        print(json.dumps(result, indent=2))
        print(f"  most frequent Stripe requests ({result['mode']}): {top}")
    by_mode = {r["mode"]: r for r in results}
    if "payload" in by_mode and "stock" in by_mode:
        ours, stock = by_mode["payload"], by_mode["stock"]
        if stock["events_per_s"]:
            print(f"events/s payload vs stock: {ours['events_per_s'] / stock['events_per_s']:.1f}x")
        if ours["stripe_calls"]:
            fewer = stock["stripe_calls"] / ours["stripe_calls"]
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
    parser.add_argument("--modes", default="payload,stock")
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument(
        "--emulator-args",
        default=os.environ.get("RENEWAL_STORM_EMULATOR_ARGS", ""),
        help="extra `python -m stripe_emulator` options, e.g. its latency and rate limit",
    )
    args = parser.parse_args()
    help_text = emulator_help()
    stripe_like = "latency" in help_text and "rate" in help_text
    logs = Path(tempfile.mkdtemp(prefix="renewal_storm_"))
    results = []
    try:
        for mode in args.modes.split(","):
            results.append(storm(mode, args, logs))
    finally:
        drop_database(TEMPLATE_NAME)
    report(results, args, stripe_like)
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
