"""Per-operation latency through the stock stripe SDK: the emulator, and localstripe beside it.

    uv run python bench/operations_bench.py [--iterations 100] [--skip-localstripe]

Runs the operations an app makes most (customer, product/price, payment method,
subscription create/retrieve/update/cancel, invoice list and preview, event
list, Checkout Session create) with the project's stripe SDK (a
`stripe.StripeClient`, keep-alive, no retries) against two servers, one after
the other, each in a subprocess pinned to the same CPU core (Linux), the client
on the other cores:
  * the emulator (`python -m stripe_emulator`, SQLite state in a temporary
    file: its default, persistent mode, since localstripe persists too);
  * localstripe (PyPI, LOCALSTRIPE_VERSION), installed by this script into its
    own throwaway venv under var/ (never a project dependency) and served on a
    free loopback port (its CLI binds every interface, so its own aiohttp app
    is run by a one-line launcher bound to 127.0.0.1).
Every operation is tried on both: one that errors is recorded as unsupported
with the reason, never dropped; one that answers unlike Stripe is timed and
marked "!" with the difference. localstripe has no Prices API, so its
subscription rows use its legacy Plans (marked "plan"); the emulator has no
Plans. A subscription is paid by the customer's default payment method.
Issue #11: record emulator latency and the same-run comparison (p50, p95, ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stripe

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_test_bench"
API_VERSION = "2026-05-27.dahlia"
LOCALSTRIPE_VERSION = "1.15.10"
LOCALSTRIPE_VENV = ROOT / "var" / "bench-localstripe-venv"
# localstripe pickles its whole store to this fixed path after every write.
LOCALSTRIPE_PICKLE = Path("/tmp/localstripe.pickle")  # noqa: S108
# Runs localstripe's own aiohttp app, bound to loopback only (its CLI binds `::`).
LOCALSTRIPE_LAUNCHER = (
    "import sys; from aiohttp import web; from localstripe.server import app; "
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)"
)
# Operations the emulator is expected not to have (Stripe's legacy Plans API).
EMULATOR_WITHOUT = {"plan create (legacy)"}


@dataclass
class Outcome:
    samples: list[float] = field(default_factory=list)
    unsupported: str = ""  # an error: no numbers
    wrong: str = ""  # the first answer that differs from Stripe's (numbers kept, marked "!")
    note: str = ""

    def cell(self) -> str:
        if self.unsupported:
            return "unsupported"
        return f"{self.p50:.1f} / {self.p95:.1f}" + ("!" if self.wrong else "")

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_core() -> int | None:
    # The last allowed core, as emulator_bench.py: the first is where most other work lands.
    if not hasattr(os, "sched_setaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))[-1]


def pin(pid: int) -> None:
    core = server_core()
    if core is not None:
        os.sched_setaffinity(pid, {core})


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


@contextlib.contextmanager
def emulator_server(in_memory: bool) -> Iterator[str]:
    port = free_port()
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as data_dir:
        data = ":memory:" if in_memory else str(Path(data_dir) / "emulator.sqlite3")
        cmd = [sys.executable, "-m", "stripe_emulator", "--port", str(port)]
        cmd += ["--data", data, "--log-level", "WARNING"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # the base URL: the server is listening
            pin(proc.pid)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def localstripe_python() -> Path:
    """The throwaway venv's interpreter, with localstripe installed (made once, under var/)."""
    python = LOCALSTRIPE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import localstripe.server"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    shutil.rmtree(LOCALSTRIPE_VENV, ignore_errors=True)
    LOCALSTRIPE_VENV.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(LOCALSTRIPE_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"localstripe=={LOCALSTRIPE_VERSION}"],
        check=True,
        capture_output=True,
    )
    return python


@contextlib.contextmanager
def localstripe_server(python: Path) -> Iterator[str]:
    if LOCALSTRIPE_PICKLE.exists():
        # Another localstripe's state: starting ours would overwrite it.
        raise RuntimeError(f"{LOCALSTRIPE_PICKLE} exists (another localstripe's state)")
    port = free_port()
    proc = subprocess.Popen(
        [str(python), "-c", LOCALSTRIPE_LAUNCHER, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        pin(proc.pid)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        LOCALSTRIPE_PICKLE.unlink(missing_ok=True)


def item(key: str, target: str, item_id: str | None = None) -> Any:
    """A subscription item on a price or a plan (`key`): the SDK's types know only prices."""
    return {key: target} | ({"id": item_id} if item_id else {})


class Run:
    """One server's pass over the operations, in a fixed order (later ones use earlier objects)."""

    def __init__(self, url: str, iterations: int) -> None:
        self.client = stripe.StripeClient(
            KEY,
            base_addresses={"api": url},
            stripe_version=API_VERSION,
            max_network_retries=0,  # one request per sample
        )
        self.n = iterations
        self.outcomes: dict[str, Outcome] = {}
        self.events_stored = 0

    def measure(
        self,
        name: str,
        call: Callable[[int], Any],
        check: Callable[[int, Any], str | None] = lambda i, result: None,
        note: str = "",
    ) -> list[Any]:
        """Time `call(i)` for each i: an error makes it unsupported, a wrong answer is noted."""
        outcome = self.outcomes[name] = Outcome(note=note)
        results = []
        try:
            for i in range(self.n):
                started = time.perf_counter()
                result = call(i)
                outcome.samples.append((time.perf_counter() - started) * 1000)
                problem = check(i, result)
                if problem and not outcome.wrong:
                    outcome.wrong = problem
                results.append(result)
        except stripe.StripeError as exc:
            outcome.unsupported = " ".join(str(exc).split())[:150] or type(exc).__name__
            return []
        return results

    def skip(self, name: str, reason: str) -> None:
        self.outcomes[name] = Outcome(unsupported=reason)

    def operations(self) -> dict[str, Outcome]:
        v1 = self.client.v1
        for _ in range(20):  # warm up: connection, first-request costs
            v1.customers.retrieve(v1.customers.create({"email": "warm@example.com"}).id)

        customers = self.measure(
            "customer create",
            lambda i: v1.customers.create({"email": f"c{i}@example.com", "name": f"C {i}"}),
            lambda i, c: None if c.email == f"c{i}@example.com" else "email",
        )
        self.measure(
            "customer retrieve",
            lambda i: v1.customers.retrieve(customers[i].id),
            lambda i, c: None if c.id == customers[i].id else "id",
        )
        products = self.measure(
            "product create", lambda i: v1.products.create({"name": f"Plan {i}"})
        )
        if not customers or not products:
            raise RuntimeError("customer or product create failed: nothing else can run")

        # The recurring price each subscription is on: a Price, or a legacy Plan.
        prices = self.measure(
            "price create (recurring)",
            lambda i: v1.prices.create(
                {
                    "product": products[i].id,
                    "unit_amount": 1000,
                    "currency": "eur",
                    "recurring": {"interval": "month"},
                }
            ),
            lambda i, p: None if p.unit_amount == 1000 else "unit_amount",
        )
        plans = self.measure(
            "plan create (legacy)",
            lambda i: v1.plans.create(
                {"product": products[i].id, "amount": 1000, "currency": "eur", "interval": "month"}
            ),
            lambda i, p: None if p.amount == 1000 else "amount",
        )
        key = "price" if prices else "plan"
        items_on = prices or plans
        note = "" if prices else "plan"
        if not items_on:
            raise RuntimeError("neither prices nor plans: no subscription can be made")
        upgrade: Any = (
            v1.prices.create(
                {
                    "product": products[0].id,
                    "unit_amount": 2000,
                    "currency": "eur",
                    "recurring": {"interval": "month"},
                }
            )
            if prices
            else v1.plans.create(
                {"product": products[0].id, "amount": 2000, "currency": "eur", "interval": "month"}
            )
        )

        self.measure(
            "payment method create (card[token]=tok_visa)",
            lambda i: v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}}),
            lambda i, pm: None if pm.card and pm.card.last4 == "4242" else "card.last4",
        )
        methods = self.measure(
            "payment method create (card number 4242)",
            lambda i: v1.payment_methods.create(
                {
                    "type": "card",
                    "card": {
                        "number": "4242424242424242",
                        "exp_month": 12,
                        "exp_year": 2034,
                        "cvc": "123",
                    },
                }
            ),
            lambda i, pm: None if pm.card and pm.card.last4 == "4242" else "card.last4",
        )
        if not methods:
            raise RuntimeError("no payment method: no subscription can be paid")
        self.measure(
            "payment method attach",
            lambda i: v1.payment_methods.attach(methods[i].id, {"customer": customers[i].id}),
            lambda i, pm: None if pm.customer == customers[i].id else "customer",
        )
        self.measure(
            "customer update (default payment method)",
            lambda i: v1.customers.update(
                customers[i].id, {"invoice_settings": {"default_payment_method": methods[i].id}}
            ),
            lambda i, c: (
                None
                if c.invoice_settings and c.invoice_settings.default_payment_method == methods[i].id
                else "invoice_settings.default_payment_method"
            ),
        )

        def first_item(sub: Any) -> Any:
            return sub["items"].data[0]

        def on(item: Any, target: Any) -> bool:
            return bool(item[key].id == target.id)

        subscriptions = self.measure(
            "subscription create",
            lambda i: v1.subscriptions.create(
                {"customer": customers[i].id, "items": [item(key, items_on[i].id)]}
            ),
            lambda i, s: (
                None
                if s.status == "active" and on(first_item(s), items_on[i])
                else f"status {s.status}"
            ),
            note,
        )
        if not subscriptions:
            for name in (
                "subscription retrieve",
                "subscription update (price change)",
                "invoice list (customer)",
                "invoice create_preview (price change)",
                "subscription cancel",
            ):
                self.skip(name, "needs subscription create")
        else:
            self.measure(
                "subscription retrieve",
                lambda i: v1.subscriptions.retrieve(subscriptions[i].id),
                lambda i, s: None if s.id == subscriptions[i].id else "id",
            )
            self.measure(
                "invoice create_preview (price change)",
                lambda i: v1.invoices.create_preview(
                    {
                        "customer": customers[i].id,
                        "subscription": subscriptions[i].id,
                        "subscription_details": {
                            "items": [item(key, upgrade.id, first_item(subscriptions[i]).id)]
                        },
                    }
                ),
                lambda i, inv: None if inv.amount_due > 0 else f"amount_due {inv.amount_due}",
                note,
            )
            self.measure(
                "subscription update (price change)",
                lambda i: v1.subscriptions.update(
                    subscriptions[i].id,
                    {"items": [item(key, upgrade.id, first_item(subscriptions[i]).id)]},
                ),
                lambda i, s: (
                    None
                    if len(s["items"].data) == 1
                    and on(first_item(s), upgrade)
                    and first_item(s).id == first_item(subscriptions[i]).id
                    else "the subscription item is replaced (new si_ id), not updated"
                ),
                note,
            )
            self.measure(
                "invoice list (customer)",
                lambda i: v1.invoices.list({"customer": customers[i].id}),
                lambda i, page: None if page.data else "no invoice",
            )
            self.measure(
                "subscription cancel",
                lambda i: v1.subscriptions.cancel(subscriptions[i].id),
                lambda i, s: (
                    None
                    if s.status == "canceled" and s.canceled_at
                    else f"status {s.status}, canceled_at {s.canceled_at}"
                ),
            )
        newest = int(time.time()) - 1  # Stripe lists the newest events first

        def newest_first(page: Any) -> str | None:
            if len(page.data) != 10:
                return f"{len(page.data)} events"
            if page.data[0].created < newest:
                return f"oldest first (first: {page.data[0].type}, created {page.data[0].created})"
            return None

        self.measure(
            "event list (limit 10)",
            lambda i: v1.events.list({"limit": 10}),
            lambda i, page: newest_first(page),
        )
        self.measure(
            "checkout session create (subscription)",
            lambda i: v1.checkout.sessions.create(
                {
                    "mode": "subscription",
                    "customer": customers[i].id,
                    "line_items": [{"price": items_on[i].id, "quantity": 1}],
                    "success_url": "http://127.0.0.1/done?session={CHECKOUT_SESSION_ID}",
                    "cancel_url": "http://127.0.0.1/pricing",
                }
            ),
            lambda i, s: None if s.url else "url",
            note,
        )
        # What the event list had to look through (bounded: a broken has_more cannot loop).
        pages = v1.events.list({"limit": 100}).auto_paging_iter()
        self.events_stored = sum(1 for _, _event in zip(range(100_000), pages, strict=False))
        return self.outcomes


def table(runs: dict[str, dict[str, Outcome]]) -> list[str]:
    emulator = runs["emulator"]
    other = runs.get("localstripe", {})
    head = f"{'operation (ms, p50 / p95)':44} {'emulator':>15} {'localstripe':>22}  {'ratio':>6}"
    lines = [head]
    for name, mine in emulator.items():
        theirs = other.get(name)
        ratio = ""
        if theirs and not theirs.unsupported and not mine.unsupported:
            ratio = f"{theirs.p50 / mine.p50:.1f}x"
        their_cell = "-" if theirs is None else theirs.cell()
        if theirs and theirs.note and not theirs.unsupported:
            their_cell = f"{their_cell} ({theirs.note})"
        lines.append(f"{name:44} {mine.cell():>15} {their_cell:>22}  {ratio:>6}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--skip-localstripe", action="store_true")
    parser.add_argument("--emulator-in-memory", action="store_true", help="--data :memory:")
    args = parser.parse_args()

    core = server_core()
    if core is not None:
        # The client stays off the servers' core (when there is another one).
        others = set(os.sched_getaffinity(0)) - {core}
        if others:
            os.sched_setaffinity(0, others)

    runs: dict[str, dict[str, Outcome]] = {}
    events: dict[str, int] = {}
    with emulator_server(args.emulator_in_memory) as url:
        run = Run(url, args.iterations)
        runs["emulator"] = run.operations()
        events["emulator"] = run.events_stored

    localstripe_status = "skipped (--skip-localstripe)"
    if not args.skip_localstripe:
        try:
            python = localstripe_python()
            with localstripe_server(python) as url:
                run = Run(url, args.iterations)
                runs["localstripe"] = run.operations()
                events["localstripe"] = run.events_stored
            localstripe_status = f"localstripe {LOCALSTRIPE_VERSION} ({python.parent.parent.name})"
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            localstripe_status = f"skipped: {exc}"

    print(
        f"stripe-python {importlib.metadata.version('stripe')} (StripeClient, keep-alive, "
        f"no retries), Stripe-Version {API_VERSION}, Python {platform.python_version()}; "
        f"{args.iterations} requests per operation per server, one server at a time"
    )
    state = "in memory" if args.emulator_in_memory else "in SQLite (temporary file)"
    pinned = f"pinned to core {core}, client on the others" if core is not None else "not pinned"
    print(f"servers {pinned}; emulator state {state}; {localstripe_status}")
    print()
    print("\n".join(table(runs)))
    failures = [
        f"  {name}: {outcome.unsupported}"
        for name, outcome in runs["emulator"].items()
        if outcome.unsupported and name not in EMULATOR_WITHOUT
    ]
    for server, outcomes in runs.items():
        refused = [(n, o.unsupported) for n, o in outcomes.items() if o.unsupported]
        if refused:
            print(f"\nunsupported on {server}:")
            print("\n".join(f"  {name}: {reason}" for name, reason in refused))
        wrong = [(n, o.wrong) for n, o in outcomes.items() if o.wrong and not o.unsupported]
        if wrong:
            print(f"\n! answers unlike Stripe's on {server} (timed all the same):")
            print("\n".join(f"  {name}: {reason}" for name, reason in wrong))
    if "localstripe" in runs:
        print(
            "\nratio: localstripe p50 / emulator p50. (plan): localstripe has no Prices API, so "
            "its subscriptions are on legacy Plans (items[][plan]); on both servers they are "
            "paid by the customer's invoice_settings.default_payment_method (localstripe refuses "
            "a subscription's own default_payment_method). localstripe ignores Stripe-Version "
            "(it answers in 2017-era shapes) and pickles its whole store to disk after every "
            "write, so its write latency grows with the number of objects (the order and count "
            "of requests are the same on both servers)."
        )
    stored = ", ".join(f"{server} {count}" for server, count in events.items())
    print(f"\nevents stored when listed: {stored}")
    if failures:
        print("\nemulator failures:\n" + "\n".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
