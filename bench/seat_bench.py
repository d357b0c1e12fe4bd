"""Seat changes (issue 12): from a membership change to the new quantity in Stripe.

    uv run python bench/seat_bench.py [--changes 40]

Runs as `make run` does: development settings, a SQLite file, a private
redis-server, the Stripe emulator in a subprocess (`:memory:` state) and one
`celery -A saas worker --concurrency=2` consuming every queue (the seat sync
goes to "seats"). Setup (not measured): billing_bootstrap, a team of three on
the per-seat "Team" plan bought through Checkout for 3 seats.

Measured, `--changes` times alternately: a colleague accepts an invitation
(3 -> 4 seats), then is removed (4 -> 3). The clock starts when the
membership change has committed (the service returned) and stops when the
emulator's subscription item has the new quantity (polled every 10 ms over
HTTP with the stock SDK). Each change makes the worker read the subscription,
update the item (an always_invoice proration invoice, paid) and mirror the
result. Reported: p50, p95, max. Target (issue 12): p95 < 2 s.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webhook_bench import ROOT, Services, percentile, start_emulator, start_redis

TARGET_P95_SECONDS = 2.0


def environment(tmp: Path, services: Services) -> dict[str, str]:
    redis_url = start_redis(services, tmp)
    stripe_base = start_emulator(services, [])
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "saas.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "STRIPE_API_BASE": stripe_base,
        "SITE_URL": "http://127.0.0.1:9",  # no webhooks: the worker mirrors itself
        "EMAIL_URL": "consolemail://",
        "DJANGO_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def team_on_team_plan(base: str) -> tuple[Any, Any, str]:
    """A team of three bought through Checkout for 3 seats; returns team, owner, sub id."""
    import json
    import urllib.request

    from subscriptions import services as billing
    from subscriptions.bootstrap import billing_bootstrap
    from teams import services
    from teams.models import Membership
    from tests.factories import make_user

    billing_bootstrap(site_url="http://127.0.0.1:9")
    owner = make_user()
    team = services.team_create(owner=owner, name="Bench Seats")
    for _ in range(2):
        Membership.objects.create(team=team, user=make_user(), role=Membership.Role.MEMBER)
    url = billing.checkout_session_create(
        team=team, user=owner, price_lookup_key="team_monthly", quantity=3
    )
    found = re.search(r"(cs_[A-Za-z0-9_]+)", url)
    assert found, url
    session_id = found.group(1)
    request = urllib.request.Request(
        f"{base}/_emulator/checkout/sessions/{session_id}/complete",
        data=json.dumps({"card": "4242424242424242"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).close()
    billing.checkout_success_sync(team=team, session_id=session_id)
    subscription = billing.selectors.subscription_current(team=team)
    assert subscription is not None
    return team, owner, subscription.id


def quantity(subscription_id: str) -> int:
    from subscriptions.services import stripe_client

    sub = stripe_client().v1.subscriptions.retrieve(subscription_id)
    return int(sub["items"].data[0].quantity or 0)


def timed(change: Any, subscription_id: str, expected: int) -> float:
    change()
    started = time.monotonic()
    while quantity(subscription_id) != expected:
        if time.monotonic() - started > 60:
            raise RuntimeError(f"quantity never reached {expected}")
        time.sleep(0.01)
    return time.monotonic() - started


def join_then_leave(actor: Any, sub_id: str, email: str) -> tuple[float, float]:
    """A colleague accepts an invitation (3 -> 4 seats), then is removed (4 -> 3)."""
    from teams import services as teams
    from tests.factories import make_user

    issued = teams.invitation_create(actor=actor, email=email)
    user = make_user(email=email)
    joined: list[Any] = []

    def join() -> None:
        joined.append(teams.invitation_accept(user=user, token=issued.token))

    def leave() -> None:
        teams.membership_remove(actor=actor, target=joined[0])

    return timed(join, sub_id, 4), timed(leave, sub_id, 3)


def wait_ready(worker: Any) -> None:
    """Until the worker answers a ping: the first change must not time the worker's start."""
    from saas.tasks import ping

    deadline = time.monotonic() + 120
    while True:
        if worker.poll() is not None:
            raise RuntimeError("the worker exited")
        try:
            if ping.apply_async().get(timeout=5) == "pong":
                return
        except Exception:
            if time.monotonic() > deadline:
                raise


def run(changes: int, env: dict[str, str], services: Services) -> list[float]:
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from teams.models import Membership

    team, owner, sub_id = team_on_team_plan(env["STRIPE_API_BASE"])
    worker = services.start(
        "worker",
        [sys.executable, "-m", "celery", "-A", "saas", "worker", "--loglevel=INFO",
         "--concurrency=2", "--without-gossip", "--without-mingle"],
        env,
    )  # fmt: skip
    wait_ready(worker)
    actor = Membership.objects.get(team=team, user=owner)
    samples: list[float] = []
    for n in range(changes // 2):
        samples.extend(join_then_leave(actor, sub_id, f"colleague{n}@example.com"))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seat-bench-", dir=ROOT / "var") as tmp:
        services = Services(Path(tmp))
        try:
            env = environment(Path(tmp), services)
            samples = run(args.changes, env, services)
        except Exception:
            print(services.log("worker")[-3000:], file=sys.stderr)
            raise
        finally:
            services.stop_all()
            if os.environ.get("SEAT_BENCH_LOG"):
                Path(os.environ["SEAT_BENCH_LOG"]).write_text(services.log("worker"))
    p95 = percentile(samples, 95)
    print(f"seat changes: {len(samples)} (join and removal alternately), worker concurrency 2")
    print(f"membership change -> emulator quantity: p50 {statistics.median(samples) * 1000:.0f} ms")
    print(f"  p95 {p95 * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms")
    met = "met" if p95 < TARGET_P95_SECONDS else "MISSED"
    print(f"target p95 < {TARGET_P95_SECONDS:.0f} s: {met}")


if __name__ == "__main__":
    main()
