"""/healthz and /readyz against real services, including a Redis that goes away."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import Client
from pytest_django.fixtures import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.conftest import RedisServer

pytestmark = pytest.mark.django_db


def _point_at(settings: SettingsWrapper, redis_url: str) -> None:
    # The configured backend: it answers from memory when Redis is down, readyz must not.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_url}}
    settings.CELERY_BROKER_URL = redis_url


def test_healthz_is_ok_without_io(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_all_checks_pass(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_readyz_names_redis_failure_then_recovers(
    client: Client, settings: SettingsWrapper, private_redis: RedisServer
) -> None:
    _point_at(settings, private_redis.url)
    assert client.get("/readyz").status_code == 200

    private_redis.stop()
    caches["default"].close()
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"] == "error"
    assert checks["broker"]["status"] == "error"

    private_redis.start()  # same port
    caches["default"].close()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()


def test_readyz_rejects_post(client: Client) -> None:
    assert client.post("/readyz").status_code == 405


def test_request_id_is_echoed_and_generated(client: Client) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc12345-from-proxy")
    assert response["X-Request-ID"] == "abc12345-from-proxy"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces"
    assert len(generated) == 32
