"""Redis is a cache and a broker, never a single point of failure for pages.

A real, private Redis that each test stops (connections refused), freezes with
SIGSTOP (connections accepted, nothing answers) and brings back. The system
Redis and the session's Redis are never touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper

from saas import cache as saas_cache
from subscriptions.access.access import access_local_clear
from subscriptions.models import StripeEvent
from subscriptions.webhooks import intake as webhooks
from tests.billing_helpers import give_plan, tpath
from tests.conftest import RedisServer
from tests.factories import make_user
from tests.webhook_helpers import product_event, signature, webhook_endpoint, webhook_path

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory
PAGES = ("/", "/app/", "/billing/", "/pricing/")
# What a page may cost on top of its time with Redis up.
ADDED_LATENCY_SECONDS = 1.0


@pytest.fixture
def outage_redis(settings: SettingsWrapper, private_redis: RedisServer) -> Iterator[RedisServer]:
    """The configured cache backend and the broker, on a Redis this test may stop or freeze."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    settings.CELERY_BROKER_URL = private_redis.url
    webhooks._flag_redis.cache_clear()  # built from CACHES once per process
    webhooks._flag_key.cache_clear()
    yield private_redis
    private_redis.thaw()
    webhooks._flag_redis.cache_clear()
    webhooks._flag_key.cache_clear()


def _cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "saas.cache" and r.levelno == logging.WARNING
    ]


def _timed_get(client: Client, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.get(path, follow=True)  # team pages via the team-less URLs
    return response.status_code, time.perf_counter() - started


def test_pages_answer_with_redis_stopped_and_warn_once(
    client: Client,
    outage_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = make_user()
    give_plan(user)
    client.force_login(user)
    outage_redis.stop()
    # Every cache call tries Redis again, as many requests over a long outage would.
    monkeypatch.setattr(saas_cache, "RETRY_SECONDS", 0.0)

    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            for path in PAGES:
                access_local_clear()  # as in a fresh process: the access check asks the cache
                response = client.get(path, follow=True)  # team pages via the team-less URLs
                assert response.status_code == 200, path
        billing = client.get(tpath(client, "/billing/")).content.decode()

    assert "Pro" in billing  # access comes from the local mirror
    warnings = _cache_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "unavailable" in warnings[0]


def test_pages_answer_within_a_second_with_redis_frozen(
    client: Client, outage_redis: RedisServer
) -> None:
    user = make_user()
    give_plan(user)
    client.force_login(user)
    for path in PAGES:
        client.get(path, follow=True)  # warm templates, catalog and connections
    baseline = {}
    for path in PAGES:
        access_local_clear()
        status, baseline[path] = _timed_get(client, path)
        assert status == 200

    outage_redis.freeze()
    access_local_clear()
    for path in PAGES:
        status, elapsed = _timed_get(client, path)
        assert status == 200, path
        assert elapsed < baseline[path] + ADDED_LATENCY_SECONDS, (path, elapsed, baseline[path])


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_login_works_with_redis_down(
    client: Client, outage_redis: RedisServer, outage: str
) -> None:
    before, user = make_user(), make_user()
    started = time.perf_counter()
    response = Client().post(
        reverse("account_login"), {"login": before.email, "password": PASSWORD}
    )
    baseline = time.perf_counter() - started
    assert response.status_code == 302

    outage_redis.stop() if outage == "stopped" else outage_redis.freeze()
    started = time.perf_counter()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    elapsed = time.perf_counter() - started

    assert response.status_code == 302
    assert response["Location"] == reverse("app_home")  # on to the personal team from there
    assert client.get(tpath(client, "/app/")).status_code == 200
    assert elapsed < baseline + ADDED_LATENCY_SECONDS, (elapsed, baseline)


def test_login_rate_limit_still_holds_with_redis_down(
    client: Client, outage_redis: RedisServer
) -> None:
    victim, other = make_user(), make_user()
    outage_redis.stop()
    for _ in range(5):  # allauth's default: 5 failed logins per account per 5 minutes
        response = client.post(reverse("account_login"), {"login": victim.email, "password": "x"})
        assert response.status_code == 200  # the form again, with an error

    response = client.post(reverse("account_login"), {"login": victim.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.post(reverse("account_login"), {"login": other.email, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.timeout(30)
def test_readyz_names_frozen_redis_within_three_seconds(
    client: Client, outage_redis: RedisServer
) -> None:
    assert client.get("/readyz").status_code == 200

    outage_redis.freeze()
    started = time.perf_counter()
    response = client.get("/readyz")
    elapsed = time.perf_counter() - started

    assert response.status_code == 503
    assert elapsed < 3.0
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"] == "error"
    assert checks["broker"]["status"] == "error"

    outage_redis.thaw()
    assert client.get("/readyz").status_code == 200


def test_cache_uses_redis_again_after_a_restart(
    client: Client,
    outage_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saas_cache, "RETRY_SECONDS", 0.2)
    user = make_user()
    client.force_login(user)
    outage_redis.stop()
    assert client.get(tpath(client, "/app/")).status_code == 200

    outage_redis.start()  # same port, empty
    time.sleep(0.3)
    with caplog.at_level(logging.INFO, logger="saas.cache"):
        access_local_clear()
        assert client.get(tpath(client, "/app/")).status_code == 200

    raw = redis.Redis.from_url(outage_redis.url)
    assert raw.keys("*access:*"), "the access answer was not written to Redis"
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_cache_calls_on_frozen_redis_cost_one_timeout(outage_redis: RedisServer) -> None:
    cache.set("warm", 1)
    outage_redis.freeze()
    started = time.perf_counter()
    for n in range(50):
        cache.set(f"k{n}", n)
        assert cache.get(f"k{n}") == n  # served from this process's memory
    assert time.perf_counter() - started < ADDED_LATENCY_SECONDS


def test_webhook_intake_answers_with_redis_frozen(
    client: Client,
    outage_redis: RedisServer,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    secret = "whsec_outage"
    endpoint = webhook_endpoint(stripe_id="we_outage", secret=secret)
    outage_redis.freeze()

    body = product_event("evt_redis_frozen")
    started = time.perf_counter()
    with django_capture_on_commit_callbacks(execute=True):  # the dispatch request after commit
        response = client.post(
            webhook_path(endpoint),
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature(body, secret),
        )
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert StripeEvent.objects.filter(stripe_id="evt_redis_frozen").exists()
    assert elapsed < ADDED_LATENCY_SECONDS
