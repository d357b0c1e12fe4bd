"""Stripe's speed and rate limits, modelled: added latency, 429s, and request counters.

Both are off by default (an emulator that answers in a millisecond and never
limits is what most tests want) and switched on by CLI flags, environment
variables or ``POST /_emulator/config`` (see config.py).

Latency. Each API request waits a time drawn from a log-normal distribution
fitted to two percentiles: the median is ``p50`` and ``p99`` falls at 2.326
standard deviations of the logarithm (the normal quantile of 0.99), so
``sigma = ln(p99 / p50) / 2.326``. A log-normal is the usual model of service
latencies: positive, most answers near the median, a long right tail. The
wait happens outside the store lock, so slow requests overlap as they do on
Stripe; ``p99 == p50`` gives a fixed delay.

Rate limits (https://docs.stripe.com/rate-limits): per secret key, a global
limit of requests per second (Stripe: 100 in live mode, 25 in a sandbox or
test mode) and a per-endpoint limit (Stripe: 25 per second unless noted; an
endpoint is a method and a route, so ``GET /v1/customers/{id}`` is one
endpoint for every id). The Search API has its own 20 reads per second.
Counted over a sliding window of one second; a refused request does not
count. A refusal is Stripe's 429: ``type: invalid_request_error``, ``code:
rate_limit`` and the ``Stripe-Rate-Limited-Reason`` header (``global-rate``
or ``endpoint-rate``). Stripe documents no ``Retry-After`` and sends
``Stripe-Should-Retry: true`` only for lock timeouts, not rate limits, so
the SDKs do not retry a rate-limited request by themselves.

Counters: every API request and every 429, in total and per wall-clock
second, for benchmarks (``GET /_emulator/stats``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

# Normal quantile of 0.99: p99 = exp(mu + Z99 * sigma) for a log-normal.
Z99 = 2.3263478740408408
# Stripe's documented limits (requests per second).
STRIPE_TEST_MODE_RATE_LIMIT = 25
STRIPE_LIVE_MODE_RATE_LIMIT = 100
STRIPE_ENDPOINT_RATE_LIMIT = 25
STRIPE_SEARCH_RATE_LIMIT = 20
RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://docs.stripe.com/rate-limits."
)
# Per-second counters kept for GET /_emulator/stats (ten minutes of history).
STATS_SECONDS_KEPT = 600
WINDOW_SECONDS = 1.0


def lognormal_sigma(p50_ms: float, p99_ms: float) -> float:
    """The log-normal's sigma that puts its 99th percentile at ``p99_ms``."""
    if p50_ms <= 0 or p99_ms < p50_ms:
        raise ValueError("latency needs 0 < p50 <= p99")
    return math.log(p99_ms / p50_ms) / Z99


def latency_sample_ms(p50_ms: float, p99_ms: float, rng: random.Random | None = None) -> float:
    """One latency in milliseconds from the log-normal fitted to p50 and p99 (0 when off)."""
    if p50_ms <= 0:
        return 0.0
    sigma = lognormal_sigma(p50_ms, p99_ms)
    if sigma == 0:
        return p50_ms
    return (rng or random).lognormvariate(math.log(p50_ms), sigma)


def endpoint_of(method: str, route_path: str) -> str:
    """Stripe counts per named operation: the method and the route, not the object id."""
    return f"{method} {route_path}"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the header value and the limit that was hit."""

    reason: str  # "global-rate" or "endpoint-rate"
    limit: int


class RateLimiter:
    """Sliding one-second windows per key and per (key, endpoint); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._global: dict[str, deque[float]] = {}
        self._endpoint: dict[tuple[str, str], deque[float]] = {}

    def check(
        self,
        key: str,
        endpoint: str,
        *,
        global_limit: int,
        endpoint_limit: int,
        now: float | None = None,
    ) -> Refusal | None:
        """Count the request and return None, or refuse it (not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._window(self._global, key, now)
            if global_limit > 0 and len(seen) >= global_limit:
                return Refusal("global-rate", global_limit)
            seen_here = self._window(self._endpoint, (key, endpoint), now)
            if endpoint_limit > 0 and len(seen_here) >= endpoint_limit:
                return Refusal("endpoint-rate", endpoint_limit)
            seen.append(now)
            seen_here.append(now)
        return None

    @staticmethod
    def _window(table: dict[Any, deque[float]], key: Any, now: float) -> deque[float]:
        times = table.setdefault(key, deque())
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        return times

    def clear(self) -> None:
        with self._lock:
            self._global.clear()
            self._endpoint.clear()


class RequestStats:
    """API requests and 429s, in total and per wall-clock second (for benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.rate_limited = 0
        self.since = time.time()
        self._seconds: dict[int, list[int]] = {}

    def record(self, *, rate_limited: bool, now: float | None = None) -> None:
        second = int(time.time() if now is None else now)
        with self._lock:
            self.requests += 1
            bucket = self._seconds.setdefault(second, [0, 0])
            bucket[0] += 1
            if rate_limited:
                self.rate_limited += 1
                bucket[1] += 1
            if len(self._seconds) > STATS_SECONDS_KEPT:
                for old in sorted(self._seconds)[: len(self._seconds) - STATS_SECONDS_KEPT]:
                    del self._seconds[old]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            per_second = [
                {"second": s, "requests": n, "rate_limited": r, "accepted": n - r}
                for s, (n, r) in sorted(self._seconds.items())
            ]
            return {
                "since": int(self.since),
                "requests": self.requests,
                "rate_limited": self.rate_limited,
                "max_accepted_per_second": max((p["accepted"] for p in per_second), default=0),
                "per_second": per_second,
            }

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.rate_limited = 0
            self.since = time.time()
            self._seconds.clear()
