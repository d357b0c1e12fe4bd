"""Background work's share of Stripe's rate limit, and patience when Stripe says 429.

Stripe limits requests per second per account (https://docs.stripe.com/rate-limits:
25 in test mode, 100 in live mode), and the limit is shared by everything
the account does: a customer opening Checkout or the portal competes with
the workers mirroring a renewal storm. Stripe's advice is to keep background
jobs to a subset of the limit so that time-sensitive requests still get
through. So in worker processes every Stripe request first takes a slot from
a budget of ``STRIPE_BACKGROUND_REQUESTS_PER_SECOND`` that all workers share,
and a 429 is waited out with backoff and jitter instead of failing the task.

The hook is the SDK's HTTP client (``BudgetedHTTPClient``), installed by the
Celery worker signals in ``saas/celery.py`` and nowhere else: every request
dj-stripe or our services make from a worker goes through it (including the
SDK's own retries of 5xx and dropped connections), and nothing on the web
request path does.

The budget is a GCRA (generic cell rate algorithm) in Redis: one key holds the
theoretical arrival time of the next request; each caller reserves the next
slot in one script call and sleeps until it. Slots are 1/rate apart with no
burst, so no second sees more than rate + 1 background requests, however
many workers there are. Redis's clock is used, so workers on several hosts
agree. When Redis is unreachable each process falls back to a bucket of its
own at ``STRIPE_BACKGROUND_FALLBACK_REQUESTS_PER_SECOND`` (a quarter of the
budget by default): slower, never unlimited.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

BUDGET_KEY = "saas:stripe-budget:background"
# Reserve the next slot; returns the microseconds to wait for it. TIME is Redis's
# clock, shared by every host. Timestamps in microseconds fit a Lua double.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], string.format('%d', tat + interval),
           'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return tat - now
"""
# After Redis failed, the local bucket is used for this long before Redis is tried again.
REDIS_RETRY_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0


class LocalBudget:
    """The same slots, kept in this process (the fallback while Redis is down)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Seconds to wait for the next slot."""
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
            return slot - now


class StripeBudget:
    """Requests per second for background work, shared through Redis by every worker."""

    def __init__(
        self, *, rate: float, fallback_rate: float, redis_url: str, timeout: float
    ) -> None:
        if rate <= 0 or fallback_rate <= 0:
            raise ValueError("a Stripe budget needs a positive rate")
        self.interval_us = round(1_000_000 / rate)
        self.local = LocalBudget(fallback_rate)
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._redis.register_script(_GCRA_SCRIPT)
        self._redis_retry_at = 0.0
        self._warned_at = float("-inf")

    def reserve(self) -> float:
        """Seconds to wait before the next request may go to Stripe."""
        if time.monotonic() >= self._redis_retry_at:
            try:
                wait_us = self._script(keys=[BUDGET_KEY], args=[self.interval_us])
                self._redis_retry_at = 0.0
                return max(0.0, int(wait_us) / 1_000_000)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_down(exc)
        return self.local.reserve()

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        return wait

    def _redis_down(self, exc: Exception) -> None:
        now = time.monotonic()
        self._redis_retry_at = now + REDIS_RETRY_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "stripe budget: Redis unreachable (%s); this process keeps to %.1f requests/s",
                exc.__class__.__name__,
                1 / self.local.interval,
            )


def rate_limit_backoff(attempt: int) -> float:
    """Backoff after the n-th 429 in a row: doubling from 0.5 s to 8 s, jittered to 50-100 %."""
    ceiling = min(8.0, 0.5 * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _rate_limited(response: tuple[Any, int, Mapping[str, str]]) -> bool:
    """A 429 the SDK would not retry itself (lock timeouts say Stripe-Should-Retry: true)."""
    _, status, headers = response
    return status == 429 and str(headers.get("stripe-should-retry", "")).lower() != "true"


class BudgetedHTTPClient(stripe.HTTPClient):
    """The SDK's HTTP client, paced by a ``StripeBudget`` and patient with 429s.

    ``request`` is called once per attempt by the SDK's retry loop, so 5xx
    retries take slots too. A 429 is sent again (same headers, so the same
    idempotency key: Stripe refuses a rate-limited request before running it)
    after a jittered backoff, for up to ``patience`` seconds; then the 429 goes
    back to the SDK, which raises ``stripe.RateLimitError`` for the pipeline to
    reschedule the event without counting it as a failed attempt.
    """

    name = "budgeted"

    def __init__(self, inner: stripe.HTTPClient, budget: StripeBudget, *, patience: float) -> None:
        super().__init__()
        self.inner = inner
        self.budget = budget
        self.patience = patience

    def request(  # type: ignore[override]  # the SDK's subclasses drop `_usage` too
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        give_up_at = time.monotonic() + self.patience
        attempt = 0
        while True:
            self.budget.acquire()
            response = self.inner.request(method, url, headers, post_data)
            if not _rate_limited(response):
                return response
            attempt += 1
            delay = rate_limit_backoff(attempt)
            if time.monotonic() + delay > give_up_at:
                logger.warning("stripe 429 on %s %s, %s times: giving up", method, url, attempt)
                return response
            logger.info("stripe 429 on %s %s: retrying in %.2f s", method, url, delay)
            time.sleep(delay)

    def request_stream(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        self.budget.acquire()
        return self.inner.request_stream(method, url, headers, post_data)

    def close(self) -> None:
        self.inner.close()


_installed: BudgetedHTTPClient | None = None


def background_budget() -> StripeBudget:
    rate = float(settings.STRIPE_BACKGROUND_REQUESTS_PER_SECOND)
    return StripeBudget(
        rate=rate,
        fallback_rate=float(settings.STRIPE_BACKGROUND_FALLBACK_REQUESTS_PER_SECOND or rate / 4),
        redis_url=settings.REDIS_URL,
        timeout=float(settings.REDIS_SOCKET_TIMEOUT),
    )


def background_http_client_install() -> BudgetedHTTPClient:
    """Make this process's Stripe calls background calls (Celery worker signals only).

    Sets ``stripe.default_http_client`` (dj-stripe's calls) and the client that
    ``services.stripe_client()`` passes to its ``StripeClient``. Called again in
    a forked pool process, it builds a fresh client (connections do not survive
    a fork).
    """
    global _installed
    _installed = BudgetedHTTPClient(
        stripe.new_default_http_client(),
        background_budget(),
        patience=float(settings.STRIPE_BACKGROUND_RATE_LIMIT_PATIENCE_SECONDS),
    )
    stripe.default_http_client = _installed
    logger.info(
        "stripe: background budget of %s requests/s for this worker process",
        settings.STRIPE_BACKGROUND_REQUESTS_PER_SECOND,
    )
    return _installed


def background_http_client() -> BudgetedHTTPClient | None:
    """The budgeted client in a worker process, None elsewhere (web: the SDK's own)."""
    return _installed


def background_http_client_uninstall() -> None:
    """Back to the SDK's default client (tests)."""
    global _installed
    _installed = None
    stripe.default_http_client = None
