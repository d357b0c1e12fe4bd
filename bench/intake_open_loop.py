"""Intake, open loop (issue #15): signed deliveries arriving at a fixed rate.

    uv run python bench/intake_open_loop.py [--rate 300] [--seconds 60]
                                            [--configs 2x4,2x2] [--py-spy FILE]

A closed loop (webhook_bench.py: 50 clients, each waiting for its answer) only
measures throughput: its latency is the reciprocal. Stripe does not wait for
one delivery's answer before sending the next, so here delivery i is sent at
t0 + i / rate whatever happened to the ones before, on an idle keep-alive
connection or on a new one when none is idle. Its latency runs from that
scheduled time to the last byte of the answer, so a server that falls behind
sees its queue in the numbers (no coordinated omission). The generator is
Python asyncio on raw sockets, in this process; how late it started each send
is printed too, so its own delays are not mistaken for the server's.

The stack is webhook_bench.py's (same helpers): PostgreSQL at 127.0.0.1 with
the database `saas_bench_intake` (its own, dropped at the end), a private
redis-server, the emulator, gunicorn gthread with production settings (each
--configs entry, workers x threads, started fresh and warmed up in turn). No
Celery worker runs: the intake enqueues on a queue nobody consumes, so
processing does not compete for the cores.

Deliveries: clones (fresh `evt_` ids) of the real emulator events of a few
signups (customer, payment method, subscription, invoice, payment intent,
charge) and catalogue updates, signed like Stripe with the endpoint secret at
the start of the run. One delivery in 100 is a redelivery of the event sent a
second earlier, as Stripe's retries and duplicates are.

Measured: latency p50/p90/p99/max, errors (anything but a 200 answer), rows
stored (every event exactly once, its `deliveries` count matching), and the
CPU time (user + system, from /proc, process by process: see CpuSampler) of
the server processes across the run: gunicorn's master and workers, the
PostgreSQL backends of the bench database, Redis; divided by the deliveries.
PostgreSQL's own background processes (WAL writer, checkpointer) serve every
database of the server, other engineers' test databases too, so they are
printed apart.

Targets (issue #15): at 300/s for 60 s, p99 < 25 ms with zero errors; CPU per
delivery < 1.5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webhook_bench import (
    EVENT_PREFIX,
    Services,
    bench_environment,
    percentile,
    port_open,
    run,
    sign,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
# Its own database: webhook_bench.py and renewal_storm.py drop theirs when they start.
DB_NAME = "saas_bench_intake"
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
TAG = "ol"
REDELIVERY_EVERY = 100
TARGET_P99_MS = 25.0
TARGET_CPU_MS = 1.5


# --- deliveries --------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    event_id: str
    request: bytes  # the whole HTTP request, as Stripe would send it


def deliveries(
    sources: list[dict[str, Any]],
    n: int,
    *,
    rate: int,
    host: str,
    path: str,
    secret: str,
    tag: str = TAG,
) -> list[Delivery]:
    """n signed deliveries; every REDELIVERY_EVERY-th repeats the event of one second before."""
    out: list[Delivery] = []
    for i in range(n):
        if i % REDELIVERY_EVERY == REDELIVERY_EVERY - 1 and i >= rate:
            out.append(out[i - rate])
            continue
        event = dict(sources[i % len(sources)])
        event["id"] = f"{EVENT_PREFIX}{tag}{i:07d}{uuid.uuid4().hex[:8]}"
        body = json.dumps(event, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
            "Accept: */*; q=0.5, application/xml\r\n"
            f"Stripe-Signature: {sign(body, secret)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(Delivery(event["id"], head.encode() + body))
    return out


# --- the open-loop generator -------------------------------------------------------


class StaleConnection(Exception):
    """A kept-alive connection the server had closed: nothing was answered on it."""


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class OpenLoop:
    port: int
    requests: list[bytes]
    rate: float
    timeout: float = 10.0
    latencies_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    opened: int = 0
    reconnects: int = 0
    peak_connections: int = 0
    _idle: list[Connection] = field(default_factory=list)
    _busy: int = 0

    async def run(self) -> float:
        """Send every request at its time; the seconds from the first due time to the end."""
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        tasks = []
        for i, request in enumerate(self.requests):
            due = start + i / self.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.deliver(request, due)))
        await asyncio.gather(*tasks)
        for _reader, writer in self._idle:
            writer.close()
        return loop.time() - start

    async def deliver(self, request: bytes, due: float) -> None:
        loop = asyncio.get_running_loop()
        self.send_lag_ms.append((loop.time() - due) * 1000)
        try:
            status = await asyncio.wait_for(self._exchange(request), self.timeout)
        except TimeoutError:
            self.errors["timeout"] += 1
            return
        except (OSError, asyncio.IncompleteReadError, ValueError, StaleConnection) as exc:
            self.errors[exc.__class__.__name__] += 1
            return
        self.latencies_ms.append((loop.time() - due) * 1000)
        self.statuses[status] += 1

    async def _exchange(self, request: bytes) -> int:
        self._busy += 1
        self.peak_connections = max(self.peak_connections, self._busy + len(self._idle))
        conn: Connection | None = None
        try:
            conn, reused = await self._connection()
            try:
                status, keep = await self._send(conn, request)
            except StaleConnection:
                if not reused:
                    raise
                # The server closed it while idle (its keep-alive timeout), before
                # reading anything: what any HTTP client does, send on a new one.
                conn[1].close()
                self.reconnects += 1
                conn = await self._open()
                status, keep = await self._send(conn, request)
            if keep:
                self._idle.append(conn)
                conn = None
            return status
        finally:
            self._busy -= 1
            if conn is not None:
                conn[1].close()

    async def _connection(self) -> tuple[Connection, bool]:
        if self._idle:
            return self._idle.pop(), True  # the most recently used: least likely closed
        return await self._open(), False

    async def _open(self) -> Connection:
        self.opened += 1
        return await asyncio.open_connection("127.0.0.1", self.port)

    @staticmethod
    async def _send(conn: Connection, request: bytes) -> tuple[int, bool]:
        reader, writer = conn
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise StaleConnection from exc
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise StaleConnection from exc
            raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            await OpenLoop._read_chunks(reader)
        else:
            await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers.get("connection", "").lower() != "close"

    @staticmethod
    async def _read_chunks(reader: asyncio.StreamReader) -> None:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)  # the chunk and its CRLF
        await reader.readuntil(b"\r\n")  # the empty line after the last chunk (no trailers)


# --- CPU of the server processes ---------------------------------------------------


def _descendants(pid: int) -> list[int]:
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += _descendants(int(child))
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> tuple[list[int], list[int]]:
    """(backends of the bench database, the server's background processes)."""
    ours, background = [], []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if not cmdline.startswith("postgres:"):
            continue
        if f" {DB_NAME} " in cmdline:
            ours.append(int(pid))
        elif "(" not in cmdline and "[local]" not in cmdline:  # not a client's backend
            background.append(int(pid))
    return ours, background


def _server_pids(gunicorn: int, redis: int) -> dict[str, list[int]]:
    ours, background = _postgres_pids()
    return {
        "gunicorn": _descendants(gunicorn),
        "PostgreSQL (bench database)": ours,
        "Redis": [redis],
        "PostgreSQL background (shared)": background,
    }


class CpuSampler(threading.Thread):
    """CPU seconds of each server part over a run, process by process.

    Django closes a database connection after CONN_MAX_AGE (60 s), so backends
    end and start during a run: reading the live processes at the start and
    the end would lose what the ended ones spent. Each process's CPU is read
    every SAMPLE_SECONDS and its last reading kept; a process started during
    the run counts from zero (its start is part of the cost), one that ended
    loses at most its last interval.
    """

    SAMPLE_SECONDS = 0.5

    def __init__(self, gunicorn: int, redis: int) -> None:
        super().__init__(daemon=True)
        self.pids = (gunicorn, redis)
        self.start_cpu = self._read()
        self.last: dict[tuple[str, int], float] = dict(self.start_cpu)
        self.done = threading.Event()

    def _read(self) -> dict[tuple[str, int], float]:
        return {
            (group, pid): _cpu_seconds(pid)
            for group, pids in _server_pids(*self.pids).items()
            for pid in pids
        }

    def run(self) -> None:
        while not self.done.wait(self.SAMPLE_SECONDS):
            self.last.update({k: v for k, v in self._read().items() if v})

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        self.last.update({k: v for k, v in self._read().items() if v})
        spent: dict[str, float] = {}
        for (group, pid), seconds in self.last.items():
            spent[group] = spent.get(group, 0.0) + seconds - self.start_cpu.get((group, pid), 0.0)
        return spent


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the bench ---------------------------------------------------------------------


def stored_counts(conn: psycopg.Connection[Any], tag: str) -> tuple[int, int, int, int]:
    """(events, distinct ids, deliveries counted on them, trigger rows) of this run."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT e.stripe_id), coalesce(sum(e.deliveries), 0), "
        "count(t.id) FROM subscriptions_stripeevent e "
        "LEFT JOIN djstripe_webhookeventtrigger t ON t.id = e.trigger_id "
        "WHERE e.stripe_id LIKE %s",
        (f"{EVENT_PREFIX}{tag}%",),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def start_gunicorn(
    services: Services, env: dict[str, str], port: int, config: Config
) -> subprocess.Popen[bytes]:
    proc = services.start(
        "gunicorn",
        [
            sys.executable, "-m", "gunicorn", "saas.wsgi:application",
            "--pythonpath", str(ROOT), "--chdir", str(ROOT),
            "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
            "--workers", str(config.workers), "--threads", str(config.threads),
            "--keep-alive", "5", "--log-level", "warning", "--timeout", "60",
        ],
        env,
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=60, what="gunicorn")
    if proc.poll() is not None:
        raise RuntimeError(services.log("gunicorn"))
    return proc


def start_py_spy(
    services: Services, gunicorn: int, args: argparse.Namespace
) -> subprocess.Popen[bytes] | None:
    """With --py-spy FILE: sample the first worker during the run (collapsed stacks).

    py-spy is not a project dependency: `uv pip install py-spy` to profile.
    """
    if not args.py_spy:
        return None
    worker = _descendants(gunicorn)[1]
    return services.start(
        "py-spy",
        [
            "py-spy", "record", "--pid", str(worker), "--format", "raw", "--rate", "1000",
            "--duration", str(int(args.seconds)), "--output", args.py_spy, "--nonblocking",
        ],
        dict(os.environ),
    )  # fmt: skip


def redis_pid(services: Services) -> int:
    return next(proc.pid for name, proc in services.procs if name == "redis")


def setup(env: dict[str, str], port: int, customers: int) -> dict[str, Any]:
    manage = [sys.executable, "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], env, timeout=900)
    site = f"http://127.0.0.1:{port}"
    run([*manage, "billing_bootstrap", "--site-url", site], env, timeout=300)
    setup_cmd = [sys.executable, "-m", "bench.webhook_setup", f"{site}/stripe-stock/", "1"]
    fixture: dict[str, Any] = json.loads(run([*setup_cmd, str(customers)], env, timeout=600))
    return fixture


def open_loop(
    port: int, requests: list[bytes], rate: float, timeout: float = 10.0
) -> tuple[OpenLoop, float]:
    loader = OpenLoop(port, requests, rate, timeout)
    gc.collect()
    gc.freeze()  # the generator's own pauses would count against the server
    seconds = asyncio.run(loader.run())
    gc.unfreeze()
    return loader, seconds


@dataclass(frozen=True)
class Config:
    """A gunicorn setup: gthread workers (processes) x threads each."""

    workers: int
    threads: int

    @classmethod
    def parse(cls, text: str) -> Config:
        workers, _, threads = text.partition("x")
        return cls(int(workers), int(threads))

    def __str__(self) -> str:
        return f"{self.workers}x{self.threads}"


@dataclass
class Run:
    config: Config
    loader: OpenLoop
    seconds: float
    cpu: dict[str, float]
    generator_cpu: float
    sent: int
    stored: tuple[int, int, int, int]
    expected_events: int
    load: tuple[float, float]


@dataclass(frozen=True)
class Target:
    port: int
    path: str
    secret: str
    sources: list[dict[str, Any]]

    def deliveries(self, n: int, rate: int, tag: str) -> list[Delivery]:
        return deliveries(
            self.sources, n, rate=rate, host=f"127.0.0.1:{self.port}", path=self.path,
            secret=self.secret, tag=tag,
        )  # fmt: skip


def warm_up(target: Target, tag: str) -> None:
    """Every worker and thread imports the view and opens its connections.

    The workers may still be booting (minutes on 2 busy cores): a few
    deliveries that may wait long first, then a burst at 200/s.
    """
    warm = target.deliveries(608, 10**9, tag)
    for batch, rate, timeout in ((warm[:8], 2, 300.0), (warm[8:], 200, 10.0)):
        loader, _ = open_loop(target.port, [d.request for d in batch], rate, timeout)
        if loader.statuses.get(200) != len(batch):
            raise RuntimeError(f"warm-up: {loader.statuses} {loader.errors}")


def run_config(
    services: Services, env: dict[str, str], target: Target, config: Config, index: int,
    args: argparse.Namespace,
) -> Run:  # fmt: skip
    """One gunicorn setup, started fresh, warmed up, then the open loop at args.rate."""
    gunicorn = start_gunicorn(services, env, target.port, config)
    warm_up(target, f"w{index}")
    tag = f"{TAG}{index}"
    n = int(args.rate * args.seconds)
    batch = target.deliveries(n, int(args.rate), tag)
    redis = redis_pid(services)
    load_before = os.getloadavg()[0]
    sampler, gen_before = CpuSampler(gunicorn.pid, redis), own_cpu()
    sampler.start()
    profiler = start_py_spy(services, gunicorn.pid, args)
    loader, seconds = open_loop(target.port, [d.request for d in batch], args.rate)
    cpu = sampler.stop()
    gen_cpu = own_cpu() - gen_before
    if profiler is not None:
        profiler.wait(timeout=60)
    services.stop(gunicorn)
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        stored = stored_counts(conn, tag)
    return Run(
        config, loader, seconds, cpu, gen_cpu, n, stored, len({d.event_id for d in batch}),
        (load_before, os.getloadavg()[0]),
    )  # fmt: skip


def measure(
    env: dict[str, str], services: Services, port: int, args: argparse.Namespace
) -> tuple[list[Run], dict[str, Any]]:
    fixture = setup(env, port, args.customers)
    target = Target(
        port, f"/stripe/webhook/{fixture['ours']['uuid']}/", fixture["ours"]["secret"],
        fixture["events"],
    )  # fmt: skip
    runs = []
    for index, config in enumerate(args.configs):
        print(f"gunicorn gthread {config}: {args.rate:.0f}/s for {args.seconds:.0f} s...",
              flush=True)  # fmt: skip
        runs.append(run_config(services, env, target, config, index, args))
    return runs, fixture


def _column(run: Run) -> list[str]:
    """The values of one run, in the order of ROWS."""
    loader, lat = run.loader, run.loader.latencies_ms
    answered = sum(loader.statuses.values())
    errors = sum(loader.errors.values()) + answered - loader.statuses.get(200, 0)
    events, distinct, counted, triggers = run.stored
    server = sum(v for k, v in run.cpu.items() if "shared" not in k)
    lag = loader.send_lag_ms
    return [
        f"{run.sent} in {run.seconds:.1f} s",
        " / ".join(f"{percentile(lat, q):.1f}" for q in (0.5, 0.9, 0.99)),
        f"{max(lat, default=0):.1f}",
        f"{errors} {dict(loader.errors) or ''}".strip(),
        f"{events} / {distinct} / {run.expected_events}",
        f"{counted} / {triggers}",
        f"{1000 * server / run.sent:.2f}",
        *[f"{1000 * v / run.sent:.3f}" for v in run.cpu.values()],
        f"{1000 * run.generator_cpu / run.sent:.3f}",
        f"{percentile(lag, 0.99):.1f} / {max(lag, default=0):.1f}",
        f"{loader.opened} / {loader.peak_connections} / {loader.reconnects}",
        f"{run.load[0]:.1f} / {run.load[1]:.1f}",
    ]


def report(runs: list[Run], fixture: dict[str, Any], args: argparse.Namespace) -> None:
    sent = runs[0].sent
    rows = [
        (f"deliveries sent at {args.rate:.0f}/s for {args.seconds:.0f} s", ""),
        ("latency from the scheduled send p50 / p90 / p99 (ms)", f"p99 < {TARGET_P99_MS:.0f}"),
        ("latency max (ms)", ""),
        ("errors (anything but a 200 answer)", "0"),
        ("events stored / distinct ids / expected", "all equal"),
        ("deliveries counted on them / trigger rows",
         f"{sent} / {runs[0].expected_events}"),
        ("server CPU per delivery (ms): gunicorn + its PostgreSQL backends + Redis",
         f"< {TARGET_CPU_MS}"),
        *[(f"  {name} (ms)", "") for name in runs[0].cpu],
        ("  load generator, this process (ms)", ""),
        ("generator lateness p99 / max (ms; part of the latencies)", ""),
        ("connections opened / peak open / reopened after an idle close", ""),
        (f"load average (1 min) at the start / end, {os.cpu_count()} cores", ""),
    ]  # fmt: skip
    columns = [_column(run) for run in runs]
    width = max(len(name) for name, _ in rows)
    widths = [
        max(len(str(r.config)) + 8, *(len(v) for v in col))
        for r, col in zip(runs, columns, strict=True)
    ]
    header = "".join(
        f"  {'gthread ' + str(r.config):<{w}}" for r, w in zip(runs, widths, strict=True)
    )
    print(f"\n{'measure':<{width}}{header}  target")
    for i, (name, target) in enumerate(rows):
        cells = "".join(f"  {col[i]:<{w}}" for col, w in zip(columns, widths, strict=True))
        print(f"{name:<{width}}{cells}  {target}")
    print()
    sizes = sorted(len(json.dumps(e, separators=(",", ":"))) for e in fixture["events"])
    types = Counter(e["type"] for e in fixture["events"])
    print("note: gthread WxT = W worker processes x T threads, each started fresh and warmed up")
    print(f"note: {len(fixture['events'])} source events, body bytes p50 "
          f"{sizes[len(sizes) // 2]} max {sizes[-1]}; "
          + ", ".join(f"{t} {c}" for t, c in types.most_common()))  # fmt: skip
    print(f"note: every {REDELIVERY_EVERY}th delivery is a redelivery of the event sent "
          "one second before")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--configs", type=lambda v: [Config.parse(c) for c in v.split(",")],
        default=[Config(2, 4)], help="gunicorn gthread setups, workers x threads: 2x4,2x2",
    )  # fmt: skip
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--py-spy", help="write the first worker's sampled stacks here")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="intake_open_loop_"))
    try:
        with bench_environment(logs, DB_NAME) as (services, env, port):
            print("setting up...", flush=True)
            runs, fixture = measure(env, services, port, args)
    except BaseException:
        print(f"bench failed; process logs kept in {logs}", file=sys.stderr)
        raise
    shutil.rmtree(logs, ignore_errors=True)
    report(runs, fixture, args)


if __name__ == "__main__":
    main()
