"""Benchmark the Stripe emulator: retrieve latency and simple-request throughput.

    uv run python bench/emulator_bench.py [--requests 2000] [--seconds 5]

Starts `python -m stripe_emulator` in a subprocess pinned to one CPU core
(Linux), creates a customer, then measures:
  * retrieve p50/p95 over a keep-alive connection (raw HTTP, server cost only);
  * retrieve p50 through the stripe SDK (what the app sees);
  * customer create p50 (write path: validation, event, idempotency key);
  * throughput of simple GETs with 1 and 4 client connections.
Targets (issue #3): retrieve p50 < 5 ms, >= 300 simple requests/s on one core.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_test_bench"
HEADERS = {
    "Authorization": f"Bearer {KEY}",
    "Stripe-Version": "2026-05-27.dahlia",
    "Content-Type": "application/x-www-form-urlencoded",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "stripe_emulator",
        "--port",
        str(port),
        "--data",
        ":memory:",
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # the base URL: the server is listening
    if hasattr(os, "sched_setaffinity"):
        # The last allowed core: the first one is where most other work lands.
        os.sched_setaffinity(proc.pid, {sorted(os.sched_getaffinity(0))[-1]})
    return proc


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    conn.request(method, path, body=body, headers=headers or HEADERS)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    if resp.status != 200:
        raise RuntimeError(f"{method} {path}: {resp.status} {data}")
    return dict(data)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


def throughput(port: int, path: str, seconds: float, connections: int) -> float:
    count = [0] * connections
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            request(conn, "GET", path)
            count[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    port = free_port()
    proc = start_server(port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        customer = request(
            conn,
            "POST",
            "/v1/customers",
            body=urlencode({"email": "bench@example.com", "metadata[k]": "v"}),
        )
        path = f"/v1/customers/{customer['id']}"
        for _ in range(100):  # warm up
            request(conn, "GET", path)

        raw: list[float] = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            request(conn, "GET", path)
            raw.append((time.perf_counter() - t0) * 1000)

        creates: list[float] = []
        for i in range(min(500, args.requests)):
            hdrs = {**HEADERS, "Idempotency-Key": str(uuid.uuid4())}
            t0 = time.perf_counter()
            request(
                conn,
                "POST",
                "/v1/customers",
                body=urlencode({"email": f"c{i}@example.com"}),
                headers=hdrs,
            )
            creates.append((time.perf_counter() - t0) * 1000)

        import stripe

        stripe.api_key = KEY
        stripe.api_base = f"http://127.0.0.1:{port}"
        stripe.api_version = "2026-05-27.dahlia"
        sdk: list[float] = []
        for _ in range(min(1000, args.requests)):
            t0 = time.perf_counter()
            stripe.Customer.retrieve(str(customer["id"]))
            sdk.append((time.perf_counter() - t0) * 1000)

        rps1 = throughput(port, path, args.seconds, 1)
        rps4 = throughput(port, path, args.seconds, 4)
        results = {
            "retrieve_raw_ms": {
                "p50": round(statistics.median(raw), 3),
                "p95": round(percentile(raw, 0.95), 3),
            },
            "retrieve_sdk_ms": {
                "p50": round(statistics.median(sdk), 3),
                "p95": round(percentile(sdk, 0.95), 3),
            },
            "customer_create_ms": {
                "p50": round(statistics.median(creates), 3),
                "p95": round(percentile(creates, 0.95), 3),
            },
            "simple_get_rps_1_conn": round(rps1),
            "simple_get_rps_4_conn": round(rps4),
            "server_pinned_to_one_core": hasattr(os, "sched_setaffinity"),
        }
        print(json.dumps(results, indent=2))
        ok = results["retrieve_raw_ms"]["p50"] < 5 and rps1 >= 300  # type: ignore[index]
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
