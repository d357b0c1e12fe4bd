"""Benchmark the emulator's billing engine.

    uv run python bench/billing_bench.py [--creates 200] [--subs 100]

Starts `python -m stripe_emulator` in a subprocess pinned to one CPU core
(Linux) and measures over raw keep-alive HTTP (server cost only):
  * subscription create p50/p95 (customer with a 4242 default card, monthly
    price: subscription + invoice + PaymentIntent + charge + 10 events);
  * advancing one test clock by a year with `--subs` monthly subscriptions on
    it, in 12 monthly steps (Stripe allows two intervals per advance) and in
    one request (with the emulator's limit lifted).
Targets (issue #3): subscription create p50 < 20 ms; one year for 100
subscriptions < 10 s.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {
    "Authorization": "Bearer sk_test_bench",
    "Stripe-Version": "2026-05-27.dahlia",
    "Content-Type": "application/x-www-form-urlencoded",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "stripe_emulator", "--port", str(port), "--data", ":memory:"]
    cmd += ["--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # the base URL: the server is listening
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(proc.pid, {0})
    return proc


class Api:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        body = urlencode(params or {})
        self.conn.request(method, path, body=body, headers=HEADERS)
        resp = self.conn.getresponse()
        data = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {data}")
        return data


def customer(api: Api, clock: str | None = None) -> str:
    params = {"payment_method": "pm_card_visa"}
    if clock:
        params["test_clock"] = clock
    cus = api.call("POST", "/v1/customers", params)
    pm = api.call("GET", f"/v1/customers/{cus['id']}/payment_methods")["data"][0]["id"]
    api.call("POST", f"/v1/customers/{cus['id']}", {"invoice_settings[default_payment_method]": pm})
    return str(cus["id"])


def monthly_price(api: Api) -> str:
    product = api.call("POST", "/v1/products", {"name": "Bench"})
    price = api.call(
        "POST",
        "/v1/prices",
        {
            "product": product["id"],
            "unit_amount": 1000,
            "currency": "usd",
            "recurring[interval]": "month",
        },
    )
    return str(price["id"])


def bench_create(api: Api, n: int) -> list[float]:
    price = monthly_price(api)
    customers = [customer(api) for _ in range(n)]
    times = []
    for cus in customers:
        t = time.perf_counter()
        sub = api.call("POST", "/v1/subscriptions", {"customer": cus, "items[0][price]": price})
        times.append((time.perf_counter() - t) * 1000)
        assert sub["status"] == "active", sub["status"]
    return times


def bench_clock(api: Api, subs: int, steps: int) -> float:
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    clock = api.call("POST", "/v1/test_helpers/test_clocks", {"frozen_time": start})["id"]
    price = monthly_price(api)
    for _ in range(subs):
        cus = customer(api, clock)
        api.call("POST", "/v1/subscriptions", {"customer": cus, "items[0][price]": price})
    if steps == 1:
        # Stripe (and the emulator) allow two intervals per advance; lift it.
        api.conn.request(
            "POST",
            "/_emulator/billing/config",
            body=json.dumps({"enforce_advance_limit": False}),
            headers={"Content-Type": "application/json"},
        )
        api.conn.getresponse().read()
    end = int(datetime(2027, 1, 1, 2, tzinfo=UTC).timestamp())
    targets = [start + (end - start) * (i + 1) // steps for i in range(steps)]
    t = time.perf_counter()
    for target in targets:
        api.call("POST", f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": target})
    elapsed = time.perf_counter() - t
    listed = api.call("GET", "/v1/invoices", {"limit": 100, "status": "paid"})
    assert listed["data"], "no invoices"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--subs", type=int, default=100)
    args = parser.parse_args()
    for label, run in (
        ("create", lambda api: bench_create(api, args.creates)),
        ("clock-1-step", lambda api: bench_clock(api, args.subs, 1)),
        ("clock-12-steps", lambda api: bench_clock(api, args.subs, 12)),
    ):
        port = free_port()
        proc = start_server(port)
        try:
            result = run(Api(port))
        finally:
            proc.terminate()
            proc.wait(10)
        if isinstance(result, list):
            qs = statistics.quantiles(result, n=20)
            print(
                f"subscription create: n={len(result)} p50={statistics.median(result):.1f} ms "
                f"p95={qs[18]:.1f} ms (target p50 < 20 ms)"
            )
        else:
            print(
                f"advance one year, {args.subs} monthly subscriptions, {label}: {result:.2f} s "
                "(target < 10 s)"
            )


if __name__ == "__main__":
    main()
