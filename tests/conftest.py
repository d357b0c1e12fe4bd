"""Fixtures that start real parts: Redis servers and Celery worker processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from stripe_emulator import EmulatorConfig, EmulatorServer

from saas.devtools.redis_server import free_port, spawn_redis, wait_for_redis

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Database rows roll back between tests but caches do not: start each test clean."""
    from django.core.cache import cache

    from subscriptions.access.access import access_local_clear
    from subscriptions.webhooks.intake import endpoint_cache_clear
    from usage.selectors import local_cache as usage_local_cache

    cache.clear()
    access_local_clear()
    endpoint_cache_clear()
    usage_local_cache.clear()


@dataclass
class RedisServer:
    """A private redis-server that a test may stop and start again on the same port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = spawn_redis(port=self.port, data_dir=self.data_dir, persist=False)
        wait_for_redis(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.thaw()  # a stopped process would keep the SIGTERM pending
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing answers (a hung Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _database_url_for_subprocess() -> str:
    """DATABASE_URL of the test database, for processes that pytest did not configure."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings['NAME']}"


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# Fast retries and a short claim timeout so failure paths finish within a test.
WORKER_ENV = {
    "BILLING_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
    "BILLING_WEBHOOK_RETRY_MAX_SECONDS": "2",
    "BILLING_WEBHOOK_MAX_ATTEMPTS": "4",
    "BILLING_WEBHOOK_PROCESSING_TIMEOUT": "10",
    # Tests that are not about the Stripe budget should not wait for it
    # (tests/subscriptions/test_stripe_budget.py sets its own).
    "STRIPE_BACKGROUND_REQUESTS_PER_SECOND": "200",
    # Usage buckets are reported at once rather than a minute after they close.
    "USAGE_REPORT_SETTLE_SECONDS": "0",
}


@pytest.fixture(scope="session")
def stripe_emulator() -> Iterator[EmulatorServer]:
    """One in-process Stripe emulator for the session (tests reset it).

    Its hosted pages name the business ``SITE_NAME``, as ``make run``'s emulator does.
    """
    from django.conf import settings

    config = EmulatorConfig(
        webhook_retry_schedule=(0.2, 0.5), webhook_timeout=5, business_name=settings.SITE_NAME
    )
    server = EmulatorServer(port=0, data=":memory:", config=config).start()
    yield server
    server.stop()


def start_worker(
    log_path: Path, *extra_args: str, env: dict[str, str] | None = None
) -> WorkerProcess:
    """A real `celery worker` process on the test database and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "saas.settings.test",
        "DATABASE_URL": _database_url_for_subprocess(),
        **WORKER_ENV,
        **(env or {}),
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "saas", "worker",
            "--loglevel=INFO", "--concurrency=1", "--pool=prefork",
            "--without-gossip", "--without-mingle", *extra_args,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return WorkerProcess(proc=proc, log_path=log_path)


def stop_worker(worker: WorkerProcess) -> None:
    worker.proc.terminate()
    try:
        worker.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    django_db_blocker: object,
    tmp_path_factory: pytest.TempPathFactory,
    stripe_emulator: EmulatorServer,
) -> Iterator[WorkerProcess]:
    """One worker process for the whole session, ready when it answers a ping task.

    It talks to the session's emulator, so tests that process webhooks can use it.
    """
    from saas.tasks import ping

    worker = start_worker(
        tmp_path_factory.mktemp("celery") / "worker.log",
        env={"STRIPE_API_BASE": stripe_emulator.url},
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            if worker.proc.poll() is not None:
                pytest.fail(f"celery worker exited early:\n{worker.log()}")
            try:
                if ping.apply_async().get(timeout=5) == "pong":
                    break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"celery worker did not answer within 60s:\n{worker.log()}")
        yield worker
    finally:
        stop_worker(worker)


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery producer at another broker for a while."""
    from saas.celery import app

    conf: Any = app.conf
    celery_app: Any = app  # private attributes below are not in the type stubs
    saved = conf.broker_url

    def _switch(to: str) -> None:
        from kombu import pools

        conf.broker_url = to
        # Close and forget every pooled connection so the next publish dials ``to``.
        pools.reset()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    _switch(url)
    try:
        yield
    finally:
        _switch(saved)
