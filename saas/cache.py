"""A Redis cache that is never a single point of failure for pages.

``ResilientRedisCache`` is Django's ``RedisCache`` with one change: when Redis
refuses connections or does not answer within the socket timeout, the call is
served by a per-process ``LocMemCache`` instead of raising. A short circuit
breaker then skips Redis for ``RETRY_SECONDS``, so a frozen Redis costs one
socket timeout per process every few seconds instead of one per cache call.

Why a local fallback and not "ignore errors and return None" (django-redis's
``IGNORE_EXCEPTIONS``): allauth's rate limiter keeps its counters and locks in
this cache. With misses and failed writes every login attempt would look like
the first (no limit at all), or, since its lock is a ``cache.add``, every
attempt would be refused. With the fallback the limits hold per process: an
attacker gets at most (number of processes) x the configured rate while Redis
is down. Everything else in the cache is rebuilt on a miss (the access cache
reads the local mirror; its keys carry the team's ``billing_version``, so an
entry written to memory during an outage can never be read as current later).

What is written to memory during an outage stays in memory: it is not copied
to Redis when Redis comes back, and a delete that went to memory does not
reach Redis. Entries in Redis from before the outage are read again afterwards.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

# After a failure, calls go to memory for this long before one call tries Redis again.
RETRY_SECONDS = 5.0
# While Redis stays down, one warning per this many seconds (not one per request).
WARN_EVERY_SECONDS = 60.0
# Entries the per-process fallback keeps (rate limit histories and access answers are small).
FALLBACK_MAX_ENTRIES = 10_000
# Connection and timeout errors mean "Redis is not there"; any other RedisError is
# a bug in the call (e.g. INCR of a pickled value) and is raised as usual.
REDIS_DOWN_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)

P = ParamSpec("P")
R = TypeVar("R")


def _redact(location: str) -> str:
    """``host:port/db`` of the (first) Redis URL, for logs: never the password in it."""
    parts = urlsplit(re.split("[;,]", location)[0])
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname}:{port}{parts.path}" if parts.hostname else "redis"


class RedisCircuit:
    """Per process and Redis location: is Redis skipped now, and when did we last warn.

    Shared by the threads of a process (Django builds one cache backend per
    thread). When ``RETRY_SECONDS`` have passed, the first caller probes Redis
    and the others keep using memory until that probe has answered.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._retry_at = 0.0  # time.monotonic() of the next probe; 0.0 while Redis works
        self._down_since = 0.0
        self._warned_at = float("-inf")
        self._served_locally = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while calls are served from memory."""
        return self._retry_at != 0.0

    def allow(self) -> bool:
        """May this call go to Redis?"""
        if self._retry_at == 0.0:  # the common case: no lock taken
            return True
        with self._lock:
            now = time.monotonic()
            if self._retry_at == 0.0:
                return True
            if now < self._retry_at:
                self._served_locally += 1
                return False
            self._retry_at = now + RETRY_SECONDS  # this call probes; the others wait for it
            return True

    def failed(self, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            first = self._retry_at == 0.0
            if first:
                self._down_since = now
            self._retry_at = now + RETRY_SECONDS
            self._served_locally += 1
            if now - self._warned_at < WARN_EVERY_SECONDS:
                return
            self._warned_at = now
            served, self._served_locally = self._served_locally, 0
            down_for = now - self._down_since
        if first:
            logger.warning(
                "Redis cache %s unavailable (%s: %s); this process serves the cache from "
                "its memory and retries Redis every %.0fs",
                self.label,
                exc.__class__.__name__,
                exc,
                RETRY_SECONDS,
            )
        else:
            logger.warning(
                "Redis cache %s still unavailable after %.0fs (%s); %d cache calls served "
                "from this process's memory since the last warning",
                self.label,
                down_for,
                exc.__class__.__name__,
                served,
            )

    def succeeded(self) -> None:
        if self._retry_at == 0.0:
            return
        with self._lock:
            if self._retry_at == 0.0:
                return
            self._retry_at = 0.0
            down_for = time.monotonic() - self._down_since
        logger.info("Redis cache %s answers again after %.0fs", self.label, down_for)


_circuits: dict[str, RedisCircuit] = {}
_circuits_lock = threading.Lock()


def circuit_for(location: str) -> RedisCircuit:
    """The process-wide circuit of one Redis location."""
    with _circuits_lock:
        circuit = _circuits.get(location)
        if circuit is None:
            circuit = _circuits[location] = RedisCircuit(_redact(location))
        return circuit


class ResilientRedisCache(RedisCache):
    """Django's RedisCache, falling back to this process's memory while Redis is down."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        location = server if isinstance(server, str) else ",".join(server)
        self._circuit = circuit_for(location)
        # Same key prefix, version and default timeout, so both stores read the same keys;
        # LocMemCache instances with one name share their storage across threads.
        fallback_params: dict[str, Any] = {
            key: params[key]
            for key in ("TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION")
            if key in params
        }
        fallback_params["OPTIONS"] = {"MAX_ENTRIES": FALLBACK_MAX_ENTRIES}
        self._fallback = LocMemCache(f"redis-fallback:{location}", fallback_params)

    def _guard(
        self, in_redis: Callable[P, R], in_memory: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        if not self._circuit.allow():
            return in_memory(*args, **kwargs)
        try:
            result = in_redis(*args, **kwargs)
        except REDIS_DOWN_ERRORS as exc:
            self._circuit.failed(exc)
            return in_memory(*args, **kwargs)
        self._circuit.succeeded()
        return result

    def redis_probe(self) -> None:
        """Write and read a key in Redis itself, raising when it fails (readiness probes)."""
        key = "readyz:probe"
        super().set(key, "1", timeout=10)
        if super().get(key) != "1":
            raise RuntimeError("cache did not return the value just written")

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        return self._guard(super().add, self._fallback.add, key, value, timeout, version)

    def get(self, key: Any, default: Any | None = None, version: int | None = None) -> Any:
        return self._guard(super().get, self._fallback.get, key, default, version)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        self._guard(super().set, self._fallback.set, key, value, timeout, version)

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._guard(super().touch, self._fallback.touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guard(super().delete, self._fallback.delete, key, version)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)  # read twice when Redis fails mid-call
        return self._guard(super().get_many, self._fallback.get_many, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._guard(super().has_key, self._fallback.has_key, key, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._guard(super().incr, self._fallback.incr, key, delta, version)

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        return self._guard(super().set_many, self._fallback.set_many, data, timeout, version)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        keys = list(keys)
        self._guard(super().delete_many, self._fallback.delete_many, keys, version)

    def clear(self) -> None:
        self._fallback.clear()  # stale outage entries must not outlive a clear
        self._guard(super().clear, lambda: None)
