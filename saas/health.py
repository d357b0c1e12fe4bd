"""Liveness and readiness probes for load balancers, compose and Kubernetes."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from saas.cache import ResilientRedisCache
from saas.logging import response_logged

logger = logging.getLogger(__name__)


# The whole answer comes within this many seconds even if a dependency hangs
# (load balancers time their probes out after a few seconds).
READYZ_DEADLINE_SECONDS = 2.5


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache(backend: BaseCache) -> None:
    if isinstance(backend, ResilientRedisCache):
        # It answers from memory while Redis is down: ask Redis itself.
        backend.redis_probe()
        return
    key = "readyz:probe"
    backend.set(key, "1", timeout=10)
    if backend.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")


def _check_broker() -> None:
    from kombu import Connection

    # The socket timeouts of the broker transport bound every step; one attempt, no retries.
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=settings.CELERY_REDIS_SOCKET_TIMEOUT,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    ) as conn:
        conn.ensure_connection(max_retries=0)
        # Redis connects lazily: make the transport really talk to the server.
        conn.default_channel.client.ping()  # type: ignore[attr-defined]


def _checks() -> dict[str, Callable[[], None]]:
    # The request thread's cache backend, so its pooled Redis connection is reused.
    return {
        "database": _check_database,
        "cache": functools.partial(_check_cache, caches["default"]),
        "broker": _check_broker,
    }


# Run in the request's thread: its database connection belongs to that thread.
INLINE_CHECKS = frozenset({"database"})


@dataclass
class _Outcome:
    """One check's result; ``error`` stays None until the check has passed."""

    error: Exception | None = field(default_factory=lambda: TimeoutError("no answer in time"))
    ms: float | None = None


def _run(check: Callable[[], None], outcome: _Outcome) -> None:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        outcome.error = exc
    else:
        outcome.error = None
    outcome.ms = round((time.perf_counter() - started) * 1000, 1)


def _run_checks(deadline_seconds: float) -> dict[str, _Outcome]:
    """Every check at once; a check still running at the deadline counts as failed.

    Threads, so a frozen Redis costs its socket timeout once, not once per check;
    daemon threads, so a check that hangs past the deadline never holds the answer
    (or the process's exit) up.
    """
    deadline = time.monotonic() + deadline_seconds
    checks = _checks()
    outcomes = {name: _Outcome() for name in checks}
    threads = [
        threading.Thread(
            target=_run, args=(check, outcomes[name]), name=f"readyz-{name}", daemon=True
        )
        for name, check in checks.items()
        if name not in INLINE_CHECKS
    ]
    for thread in threads:
        thread.start()
    for name in INLINE_CHECKS:
        _run(checks[name], outcomes[name])
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return outcomes


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive. Does no I/O on purpose."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers: 200, else 503 naming the failing checks."""
    results: dict[str, dict[str, object]] = {}
    failures: list[str] = []
    for name, outcome in _run_checks(READYZ_DEADLINE_SECONDS).items():
        entry: dict[str, object]
        if outcome.error is None:
            entry = {"status": "ok"}
        else:
            exc = outcome.error
            failures.append(f"{name}={exc.__class__.__name__}")
            entry = {"status": "error", "error": exc.__class__.__name__}
            if settings.DEBUG:
                entry["detail"] = str(exc)
        entry["ms"] = outcome.ms
        results[name] = entry
    if not failures:
        return JsonResponse({"status": "ok", "checks": results})
    # One WARNING per failed probe (Django's "Service Unavailable" line is
    # skipped): a dependency being down is logged as an error where it fails.
    logger.warning("readiness failed: %s", " ".join(failures))
    return response_logged(JsonResponse({"status": "error", "checks": results}, status=503))
