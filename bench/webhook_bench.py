"""Benchmark the webhook pipeline (issue #5 targets): intake, processing, worker memory.

    uv run python bench/webhook_bench.py [--burst 1000] [--memory-events 10000]
                                         [--stock-events 1000] [--clients 50]

Self-contained: creates the PostgreSQL database `saas_bench` (dropped at the
end), starts a private redis-server, the Stripe emulator (subprocess,
`:memory:`), migrates, runs `billing_bootstrap`, adds a second webhook endpoint
for dj-stripe's stock view (bench/webhook_setup.py) and starts gunicorn with
`bench.bench_settings` (production settings + the stock view at
/stripe-stock/webhook/<uuid>/). Both emulator endpoints are disabled, so the
only webhook traffic is the bench's own.

Events are clones of real emulator `product.updated` / `price.updated` events
with fresh `evt_` ids, signed like Stripe (`t=<ts>,v1=<HMAC-SHA256 of
"t.body">`) at send time.

  1. Intake: gunicorn gthread, 4 workers x 4 threads (2 cores: 2 processes per
     core overlap one process's PostgreSQL/Redis waits with another's CPU work;
     gthread, unlike the sync worker, keeps client connections alive, and idle
     keep-alive connections wait in the poller, not in a thread). wrk (Debian's
     package, installed when missing) with 50 keep-alive connections posts
     distinct, pre-signed events to our intake, then to the stock view
     (bench/wrk_deliver.lua); without wrk, 50 Python client threads do it. No
     Celery worker runs: our intake enqueues on a queue nobody consumes, so
     processing does not compete for the cores. Latency = request sent ->
     response read, at the client. The CPU that each delivery costs gunicorn,
     PostgreSQL, Redis and the load generator is read from /proc around the run.
  2. Processing: two worker processes (`--concurrency=1` each, the way they
     scale as containers), started and ready; the bench enqueues 1,000 of the
     events stored in step 1 at once; time from the first enqueue until all are
     `processed` (polling StripeEvent status counts).
  3. Memory: one worker (`--concurrency=1`): 200 events of warm-up, VmRSS of the
     parent and the pool child, then up to 10,000 more events (bounded to 10
     minutes: the number processed is printed), VmRSS again.
Targets: intake p99 < 50 ms and >= 10x stock throughput; burst of 1,000 < 60 s
with two workers; RSS growth < 10 % over 10,000 events.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "saas_bench"
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
INTAKE_QUEUE = "bench_intake"  # nobody consumes it: intake is measured alone
PROCESS_QUEUE = "bench_process"
EVENT_PREFIX = "evt_bench"
PROCESS_TASK = "subscriptions.webhook_event_process"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Services:
    """Every process the bench starts, stopped in reverse order at the end."""

    logs: Path
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self.procs)):
            self.stop(proc)


def run(cmd: list[str], env: dict[str, str], *, timeout: float) -> str:
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def drop_database(name: str = DB_NAME) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str = DB_NAME) -> None:
    drop_database(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


# --- events -----------------------------------------------------------------------


def clone_events(sources: list[dict[str, Any]], n: int, tag: str) -> list[tuple[str, bytes]]:
    """n distinct events (id, body) cloned round-robin from real emulator events."""
    out = []
    for i in range(n):
        event = dict(sources[i % len(sources)])
        event["id"] = f"{EVENT_PREFIX}{tag}{i:07d}{uuid.uuid4().hex[:8]}"
        body = json.dumps(event, separators=(",", ":"))
        out.append((event["id"], body.encode()))
    return out


def sign(body: bytes, secret: str) -> str:
    """The Stripe-Signature header Stripe sends: t=<ts>,v1=<hmac-sha256 of 't.body'>."""
    ts = int(time.time())
    v1 = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={v1}"


@dataclass
class FireResult:
    latencies_ms: list[float]
    statuses: dict[int, int]
    errors: int
    seconds: float
    timed_out: bool
    # From wrk: the request count and its latency percentiles (no per-request list).
    count: int | None = None
    percentiles_ms: dict[int, float] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.count if self.count is not None else len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def p(self, q: int) -> float:
        if q in self.percentiles_ms:
            return self.percentiles_ms[q]
        return percentile(self.latencies_ms, q / 100)


def fire(
    port: int,
    path: str,
    secret: str,
    events: list[tuple[str, bytes]],
    *,
    clients: int,
    max_seconds: float,
) -> FireResult:
    """POST every event once with `clients` keep-alive connections; bounded in time."""
    lock = threading.Lock()
    next_index = iter(range(len(events)))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.monotonic() + max_seconds
    timed_out = False

    def worker() -> None:
        nonlocal errors, timed_out
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        my_status: dict[int, int] = {}
        my_errors = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                with lock:
                    i = next(next_index, None)
                if i is None:
                    break
                _event_id, body = events[i]
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(body, secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                }
                for attempt in (1, 2):
                    try:
                        started = time.perf_counter()
                        conn.request("POST", path, body=body, headers=headers)
                        response = conn.getresponse()
                        response.read()
                        mine.append((time.perf_counter() - started) * 1000)
                        my_status[response.status] = my_status.get(response.status, 0) + 1
                        break
                    except (OSError, http.client.HTTPException):
                        # The server closed an idle keep-alive connection: reconnect once.
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        if attempt == 2:
                            my_errors += 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                for status, count in my_status.items():
                    statuses[status] = statuses.get(status, 0) + count
                errors += my_errors

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 120)
    seconds = time.monotonic() - started
    return FireResult(latencies, statuses, errors, seconds, timed_out)


def wrk_available() -> bool:
    """wrk (a C load generator) from Debian's package; installed when missing and root."""
    if shutil.which("wrk"):
        return True
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing Debian's wrk for the intake load...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
        apt = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(apt, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update", "-qq"], **quiet)  # type: ignore[call-overload]
            subprocess.run(apt, **quiet)  # type: ignore[call-overload]
    return shutil.which("wrk") is not None


def fire_wrk(
    port: int,
    path: str,
    secret: str,
    events: list[tuple[str, bytes]],
    *,
    clients: int,
    max_seconds: float,
) -> FireResult:
    """POST every event once with `clients` keep-alive connections from wrk.

    The deliveries are signed just before the run (well inside Stripe's 300 s
    tolerance) and written to a file that bench/wrk_deliver.lua replays, each
    once. wrk measures each request in C, so the latency is the server's, not
    a Python client's waiting for its own GIL. Spare deliveries after the
    counted ones keep every connection posting real work until the last
    counted answer; the run then stops and the few requests still in flight
    are not measured (as at the end of any wrk run).
    """
    threads = 2 if clients >= 2 else 1
    # Spare deliveries keep every connection busy with real work until the last
    # counted answer; only answers are counted, so a few spares may be stored too.
    spare = clone_events([json.loads(events[0][1])], 4 * clients, "x")
    with tempfile.TemporaryDirectory(prefix="wrk_") as tmp:
        requests = Path(tmp) / "deliveries.tsv"
        with requests.open("w") as f:
            for _event_id, body in [*events, *spare]:
                f.write(f"{path}\t{sign(body, secret)}\t{body.decode()}\n")
        share = len(events) / (len(events) + len(spare))
        marker = str(Path(tmp) / "done")
        proc = subprocess.Popen(
            [
                "wrk", "-t", str(threads), "-c", str(clients), "-d", f"{int(max_seconds)}s",
                "--timeout", "30s", "-s", str(ROOT / "bench" / "wrk_deliver.lua"),
                f"http://127.0.0.1:{port}", "--", str(requests), str(threads), marker,
                f"{share:.9f}",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # wrk waits out its whole -d duration: stop it once every thread has its answers.
        while proc.poll() is None and len(list(Path(tmp).glob("done.*"))) < threads:
            time.sleep(0.02)
        timed_out = len(list(Path(tmp).glob("done.*"))) < threads
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk failed:\n{stdout}\n{stderr}")
    report = json.loads(lines[-1])
    return FireResult(
        latencies_ms=[],
        statuses={200: report["answered"] - report["not_ok"], 0: report["not_ok"]},
        errors=report["errors"],
        seconds=report["duration_us"] / 1e6,
        timed_out=timed_out,
        count=report["answered"],
        percentiles_ms={p: report[f"p{p}_us"] / 1000 for p in (50, 90, 99)},
    )


# --- CPU by process ----------------------------------------------------------------


def _cpu_seconds_by_group() -> dict[str, float]:
    """CPU seconds (user + system) of every live process, summed by kind."""
    tick = os.sysconf("SC_CLK_TCK")
    groups: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone in between
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if b"gunicorn" in cmdline:
            group = "gunicorn"
        elif name.startswith("postgres"):
            group = "PostgreSQL"
        elif name.startswith("redis-server"):
            group = "Redis"
        else:
            group = "other"
        groups[group] = groups.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return groups


@contextlib.contextmanager
def cpu_split() -> Iterator[dict[str, float]]:
    """CPU seconds spent in the block by gunicorn, PostgreSQL, Redis and the load generator.

    Live processes are read from /proc; the load generator (wrk, a child that
    has exited by the end) from this process's children's resource usage.
    """
    import resource

    split: dict[str, float] = {}
    before, children = _cpu_seconds_by_group(), resource.getrusage(resource.RUSAGE_CHILDREN)
    yield split
    after, children_after = _cpu_seconds_by_group(), resource.getrusage(resource.RUSAGE_CHILDREN)
    for group in ("gunicorn", "PostgreSQL", "Redis"):
        split[group] = after.get(group, 0.0) - before.get(group, 0.0)
    split["load generator"] = (children_after.ru_utime + children_after.ru_stime) - (
        children.ru_utime + children.ru_stime
    )


# --- workers and the database ------------------------------------------------------


def worker_cmd(name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "saas", "worker",
        "--loglevel=INFO", "--concurrency=1", "--pool=prefork",
        "--without-gossip", "--without-mingle", "-Q", PROCESS_QUEUE, "-n", f"{name}@%h",
    ]  # fmt: skip


def start_worker(services: Services, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = services.start(name, worker_cmd(name), env)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"worker {name} exited:\n{services.log(name)[-3000:]}")
        return " ready." in services.log(name) and bool(pool_children(proc.pid))

    wait_until(ready, timeout=90, what=f"worker {name}")
    return proc


def pool_children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def status_counts(conn: psycopg.Connection[Any], pks: list[int]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) FROM subscriptions_stripeevent WHERE id = ANY(%s) GROUP BY status",
        (pks,),
    ).fetchall()
    return {str(status): int(count) for status, count in rows}


def settled(counts: dict[str, int]) -> int:
    return counts.get("processed", 0) + counts.get("failed", 0)


def drain(
    conn: psycopg.Connection[Any],
    app: Celery,
    pks: list[int],
    *,
    max_seconds: float,
    on_tick: Callable[[], None] | None = None,
) -> tuple[float, dict[str, int]]:
    """Enqueue pks at once; seconds until all are processed or failed (or the bound)."""
    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for pk in pks:
            app.send_task(PROCESS_TASK, args=(pk,), queue=PROCESS_QUEUE, producer=producer)
    deadline = started + max_seconds
    counts = status_counts(conn, pks)
    while settled(counts) < len(pks) and time.monotonic() < deadline:
        time.sleep(0.1)
        if on_tick is not None:
            on_tick()
        counts = status_counts(conn, pks)
    return time.monotonic() - started, counts


def stored_event_pks(conn: psycopg.Connection[Any], tag: str) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM subscriptions_stripeevent WHERE stripe_id LIKE %s "
        "AND status = 'received' ORDER BY id",
        (f"{EVENT_PREFIX}{tag}%",),
    ).fetchall()
    return [int(row[0]) for row in rows]


def start_emulator(services: Services, extra: list[str]) -> str:
    proc = services.start(
        "emulator",
        [
            sys.executable, "-m", "stripe_emulator", "--port", "0", "--data", ":memory:",
            "--webhook-retry-schedule", "1", "--log-level", "WARNING", *extra,
        ],
        dict(os.environ),
    )  # fmt: skip

    def url() -> str:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited:\n{services.log('emulator')}")
        first = services.log("emulator").splitlines()
        return first[0].strip() if first and first[0].startswith("http") else ""

    wait_until(lambda: bool(url()), timeout=30, what="the emulator")
    return url()


def start_redis(services: Services, logs: Path) -> str:
    port = free_port()
    services.start(
        "redis",
        [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(logs),
        ],
        dict(os.environ),
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=20, what="redis-server")
    return f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def bench_environment(
    logs: Path, db_name: str = DB_NAME
) -> Iterator[tuple[Services, dict[str, str], int]]:
    """Database, Redis, emulator and the environment every process of the app gets.

    ``db_name``: a bench that may run beside this one takes a database of its own
    (each drops its database when it starts).
    """
    services = Services(logs)
    create_database(db_name)
    try:
        redis_url = start_redis(services, logs)
        stripe_base = start_emulator(services, [])
        app_port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
            "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db_name}",
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "STRIPE_API_BASE": stripe_base,
            # Production settings run on the emulator only when told to (a warning at start).
            "STRIPE_EMULATOR_IN_PRODUCTION": "true",
            # Production settings want https; the emulator delivers no webhook to it here.
            "SITE_URL": f"https://127.0.0.1:{app_port}",
            "EMAIL_URL": "consolemail://",
            "BILLING_WEBHOOK_QUEUE": INTAKE_QUEUE,
            "SENTRY_DSN": "",
            "PYTHONPATH": str(ROOT),
        }
        yield services, env, app_port
    finally:
        services.stop_all()
        drop_database(db_name)


# --- the bench ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--memory-warmup", type=int, default=200)
    parser.add_argument("--memory-events", type=int, default=10000)
    parser.add_argument("--memory-seconds", type=float, default=600)
    parser.add_argument("--stock-events", type=int, default=1000)
    parser.add_argument("--intake-seconds", type=float, default=180)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="webhook_bench_"))
    load_before = os.getloadavg()[0]
    rows: list[tuple[str, str, str]] = []
    notes: list[str] = []
    try:
        with bench_environment(logs) as (services, env, app_port):
            print("migrating the bench database and bootstrapping the emulator...", flush=True)
            manage = [sys.executable, "manage.py"]
            run([*manage, "migrate", "--noinput", "-v", "0"], env, timeout=600)
            site = f"http://127.0.0.1:{app_port}"
            run([*manage, "billing_bootstrap", "--site-url", site], env, timeout=300)
            fixture = json.loads(
                run(
                    [
                        sys.executable,
                        "-m",
                        "bench.webhook_setup",
                        f"{site}/stripe-stock/",
                        "3",
                    ],
                    env,
                    timeout=300,
                )
            )
            sources: list[dict[str, Any]] = fixture["events"]
            types = sorted({e["type"] for e in sources})
            notes.append(f"{len(sources)} source events cloned ({', '.join(types)})")

            gunicorn = services.start(
                "gunicorn",
                [
                    sys.executable, "-m", "gunicorn", "saas.wsgi:application",
                    "--pythonpath", str(ROOT), "--chdir", str(ROOT),
                    "--bind", f"127.0.0.1:{app_port}", "--worker-class", "gthread",
                    "--workers", "4", "--threads", "4", "--keep-alive", "5",
                    "--log-level", "warning", "--timeout", "60",
                ],
                env,
            )  # fmt: skip
            wait_until(lambda: port_open(app_port), timeout=60, what="gunicorn")
            if gunicorn.poll() is not None:
                raise RuntimeError(services.log("gunicorn"))

            ours_path = f"/stripe/webhook/{fixture['ours']['uuid']}/"
            stock_path = f"/stripe-stock/webhook/{fixture['stock']['uuid']}/"
            ours_secret: str = fixture["ours"]["secret"]
            stock_secret: str = fixture["stock"]["secret"]
            stored_needed = args.burst + args.memory_warmup + args.memory_events
            deliver = fire_wrk if wrk_available() else fire
            notes.append(
                "load generator: wrk (bench/wrk_deliver.lua)"
                if deliver is fire_wrk
                else "load generator: Python threads (wrk is not installed; latencies "
                "include the client's own GIL waits)"
            )

            # Warm-up: every gunicorn worker imports its views and opens its connections.
            for path, secret, tag in (
                (ours_path, ours_secret, "w"),
                (stock_path, stock_secret, "v"),
            ):
                warm = deliver(app_port, path, secret, clone_events(sources, 200, tag),
                            clients=args.clients, max_seconds=60)  # fmt: skip
                if warm.statuses.get(200, 0) != warm.done:
                    raise RuntimeError(
                        f"warm-up {path}: {warm.statuses}\n{services.log('gunicorn')[-3000:]}"
                    )

            print("intake: 300 events to our view, one client (service time)...", flush=True)
            serial = deliver(app_port, ours_path, ours_secret, clone_events(sources, 300, "q"),
                          clients=1, max_seconds=120)  # fmt: skip
            print(f"intake: {stored_needed} events to our view...", flush=True)
            ours_events = clone_events(sources, stored_needed, "o")
            with cpu_split() as cpu:
                ours = deliver(app_port, ours_path, ours_secret, ours_events,
                               clients=args.clients, max_seconds=args.intake_seconds)  # fmt: skip
            print(f"intake: {args.stock_events} events to the stock view...", flush=True)
            stock = deliver(app_port, stock_path, stock_secret,
                         clone_events(sources, args.stock_events, "s"),
                         clients=args.clients, max_seconds=args.intake_seconds)  # fmt: skip
            services.stop(gunicorn)
            for name, result in (("ours", ours), ("stock", stock)):
                bad = {s: c for s, c in result.statuses.items() if s != 200 and c}
                if bad or result.errors or result.timed_out:
                    notes.append(f"{name}: non-200 {bad}, connection errors {result.errors}, "
                                 f"time bound hit: {result.timed_out}")  # fmt: skip

            def latency_row(name: str, result: FireResult) -> tuple[str, str, str]:
                return (
                    f"intake {name}: p50/p90/p99 ({result.done} events, {args.clients} clients)",
                    f"{result.p(50):.1f} / {result.p(90):.1f} / {result.p(99):.1f} ms",
                    "p99 < 50 ms" if name == "ours" else "",
                )

            with psycopg.connect(DB_URL, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE t.processed), count(*) "
                    "FROM djstripe_webhookeventtrigger t JOIN djstripe_webhookendpoint e "
                    "ON e.id = t.webhook_endpoint_id WHERE e.djstripe_uuid = %s",
                    (uuid.UUID(fixture["stock"]["uuid"]),),
                ).fetchone()
            notes.append(f"stock view: {row[0] if row else 0} of {row[1] if row else 0} "
                         "triggers processed synchronously (warm-up included)")  # fmt: skip
            rows.append((
                f"intake ours, 1 client: p50 / p99 ({serial.done} events)",
                f"{serial.p(50):.1f} / {serial.p(99):.1f} ms",
                "",
            ))  # fmt: skip
            ratio = ours.throughput / stock.throughput if stock.throughput else float("inf")
            rows += [
                latency_row("ours", ours),
                latency_row("stock dj-stripe", stock),
                ("intake throughput ours / stock",
                 f"{ours.throughput:.0f} / {stock.throughput:.1f} req/s", ""),
                ("intake throughput ratio", f"{ratio:.1f}x", ">= 10x"),
                ("intake ours: CPU per delivery, " + " / ".join(cpu),
                 " / ".join(f"{1000 * v / max(ours.done, 1):.2f}" for v in cpu.values()) + " ms",
                 ""),
                ("intake ours: CPU per delivery, all of them",
                 f"{1000 * sum(cpu.values()) / max(ours.done, 1):.2f} ms "
                 f"(cores busy: {sum(cpu.values()) / ours.seconds:.2f} of {os.cpu_count()})", ""),
            ]  # fmt: skip

            app = Celery(broker=env["CELERY_BROKER_URL"])
            with psycopg.connect(DB_URL, autocommit=True) as conn:
                pks = stored_event_pks(conn, "o")
                if len(pks) < stored_needed:
                    notes.append(f"only {len(pks)} of {stored_needed} events were stored")
                burst_pks = pks[: args.burst]
                memory_pks = pks[args.burst :]

                print(f"processing: {len(burst_pks)} events, two workers...", flush=True)
                workers = [start_worker(services, f"bench{i}", env) for i in (1, 2)]
                seconds, counts = drain(conn, app, burst_pks, max_seconds=180)
                for proc in workers:
                    services.stop(proc)
                done = counts.get("processed", 0)
                if done < len(burst_pks):
                    notes.append(f"burst: status counts {counts}")
                rows += [
                    (f"burst of {len(burst_pks)}: enqueue -> all processed (2 workers)",
                     f"{seconds:.1f} s", "< 60 s"),
                    ("processing rate per worker", f"{done / seconds / 2:.1f} events/s", ""),
                ]  # fmt: skip

                print(f"memory: one worker, {len(memory_pks)} events...", flush=True)
                worker = start_worker(services, "bench_mem", env)
                warmup = memory_pks[: args.memory_warmup]
                rest = memory_pks[args.memory_warmup :]
                drain(conn, app, warmup, max_seconds=120)
                child = pool_children(worker.pid)[0]
                start_parent, start_child = rss_kib(worker.pid), rss_kib(child)
                samples: list[tuple[float, int]] = []
                last_sample = time.monotonic()
                began = last_sample

                def sample() -> None:
                    nonlocal last_sample
                    if time.monotonic() - last_sample >= 30:
                        last_sample = time.monotonic()
                        samples.append((last_sample - began, rss_kib(child)))

                seconds, counts = drain(
                    conn, app, rest, max_seconds=args.memory_seconds, on_tick=sample
                )
                children = pool_children(worker.pid)
                end_parent = rss_kib(worker.pid)
                end_child = rss_kib(children[0]) if children else 0
                services.stop(worker)
                if children != [child]:
                    notes.append(f"memory: the pool child changed ({child} -> {children})")
                processed = counts.get("processed", 0)
                if processed < len(rest):
                    notes.append(
                        f"memory: {processed} of {len(rest)} events processed within "
                        f"{args.memory_seconds:.0f} s (status counts {counts})"
                    )
                notes.append(
                    "memory: pool child VmRSS every 30 s: "
                    + ", ".join(f"{t:.0f}s={kib / 1024:.1f}" for t, kib in samples)
                    + " MiB"
                )
                growth = (end_child - start_child) / start_child * 100
                growth_parent = (end_parent - start_parent) / start_parent * 100
                rows += [
                    (f"memory: events after {len(warmup)} warm-up (1 worker)",
                     f"{processed} in {seconds:.0f} s", "10000"),
                    ("memory: rate (1 worker)", f"{processed / seconds:.1f} events/s", ""),
                    ("memory: pool child VmRSS start -> end",
                     f"{start_child / 1024:.1f} -> {end_child / 1024:.1f} MiB "
                     f"({growth:+.1f} %)", "< 10 %"),
                    ("memory: worker parent VmRSS start -> end",
                     f"{start_parent / 1024:.1f} -> {end_parent / 1024:.1f} MiB "
                     f"({growth_parent:+.1f} %)", "< 10 %"),
                ]  # fmt: skip
    except BaseException:
        print(f"bench failed; process logs kept in {logs}", file=sys.stderr)
        raise
    shutil.rmtree(logs, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'result':<32}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<32}  {target}")
    print()
    for note in notes:
        print(f"note: {note}")
    print(
        f"load average (1 min) at the start / end: {load_before:.2f} / "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
