"""Stripe's latency and rate limits, modelled (limits.py), through the stock SDK over HTTP."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorConfig, EmulatorServer
from stripe_emulator.__main__ import main as cli_main
from stripe_emulator.limits import RateLimiter, latency_sample_ms, lognormal_sigma

API_KEY = "sk_test_limits"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(webhook_retry_schedule=(0.2,), webhook_timeout=5)
    with EmulatorServer(port=0, config=config) as srv:
        yield srv


def _client(server: EmulatorServer, key: str = API_KEY, retries: int = 2) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=retries)


def _helper(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- latency -----------------------------------------------------------------------------


def test_latency_lognormal_has_the_given_percentiles() -> None:
    rng = random.Random(7)
    samples = sorted(latency_sample_ms(120, 600, rng) for _ in range(40_000))
    p50 = samples[len(samples) // 2]
    p99 = samples[int(len(samples) * 0.99)]
    assert 110 < p50 < 130
    assert 540 < p99 < 660
    assert lognormal_sigma(120, 120) == 0
    assert latency_sample_ms(0, 0) == 0


def test_latency_is_added_to_api_requests_without_blocking_others(
    server: EmulatorServer,
) -> None:
    status, config = _helper(
        server, "POST", "/_emulator/config", {"latency_p50_ms": 300, "latency_p99_ms": 300}
    )
    assert status == 200
    assert config["latency_p50_ms"] == 300
    client = _client(server)
    durations: list[float] = []

    def one() -> None:
        started = time.perf_counter()
        client.v1.customers.create(params={"email": "a@example.com"})
        durations.append(time.perf_counter() - started)

    threads = [threading.Thread(target=one) for _ in range(8)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    assert len(durations) == 8
    assert min(durations) >= 0.29  # each waited its 300 ms
    assert wall < 1.5  # ... alongside the others (one after another: 2.4 s)
    # The test helpers are not slowed down.
    started = time.perf_counter()
    assert _helper(server, "GET", "/_emulator/health")[0] == 200
    assert time.perf_counter() - started < 0.2


# -- rate limits -------------------------------------------------------------------------


def test_rate_limit_answers_stripes_429_and_the_sdk_does_not_retry_it(
    server: EmulatorServer,
) -> None:
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 5})
    client = _client(server)
    for _ in range(5):
        client.v1.products.list()
    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.products.list()
    err = caught.value
    assert err.http_status == 429
    body: Any = err.json_body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "rate_limit"
    assert err.headers is not None
    assert err.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert "Retry-After" not in err.headers
    assert "Stripe-Should-Retry" not in err.headers
    stats = _helper(server, "GET", "/_emulator/stats")[1]
    # max_network_retries=2, yet one request: Stripe does not mark rate limits retryable.
    assert stats["requests"] == 6
    assert stats["rate_limited"] == 1
    assert stats["max_accepted_per_second"] <= 5
    time.sleep(1.05)  # a sliding one-second window
    assert client.v1.products.list().data is not None


def test_endpoint_limit_counts_one_route_for_every_id(server: EmulatorServer) -> None:
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 100, "endpoint_rate_limit": 3})
    client = _client(server)
    ids = [client.v1.customers.create().id for _ in range(3)]
    for cid in ids:
        client.v1.customers.retrieve(cid)
    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.customers.retrieve(ids[0])
    assert caught.value.headers is not None
    assert caught.value.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    # Another endpoint, and another key, have their own counts.
    assert client.v1.products.list().data is not None
    assert _client(server, key="sk_test_other").v1.customers.retrieve(ids[1]).id == ids[1]


def test_hosted_pages_and_helpers_are_not_limited(server: EmulatorServer) -> None:
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 1})
    for _ in range(5):
        assert _helper(server, "GET", "/_emulator/health")[0] == 200
        with urllib.request.urlopen(server.url + "/", timeout=10) as resp:
            assert resp.status == 200
    assert _helper(server, "GET", "/_emulator/stats")[1]["requests"] == 0


def test_stats_count_requests_and_429s_per_second_and_reset(server: EmulatorServer) -> None:
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 2})
    client = _client(server)
    outcomes = []
    for _ in range(4):
        try:
            client.v1.products.list()
            outcomes.append("ok")
        except stripe.RateLimitError:
            outcomes.append("429")
    stats = _helper(server, "GET", "/_emulator/stats")[1]
    assert stats["requests"] == 4
    assert stats["rate_limited"] == outcomes.count("429") >= 2
    assert sum(p["requests"] for p in stats["per_second"]) == 4
    assert sum(p["rate_limited"] for p in stats["per_second"]) == stats["rate_limited"]
    status, after = _helper(server, "POST", "/_emulator/stats/reset", {})
    assert status == 200
    assert after["requests"] == 0
    assert after["per_second"] == []


def test_config_helper_validates_and_turns_limits_off(server: EmulatorServer) -> None:
    status, body = _helper(
        server, "POST", "/_emulator/config", {"latency_p50_ms": 200, "latency_p99_ms": 100}
    )
    assert status == 400
    assert "latency" in body["error"]["message"]
    assert _helper(server, "POST", "/_emulator/config", {"rate_limit": -1})[0] == 400
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 1, "latency_p50_ms": 1})
    config = _helper(server, "GET", "/_emulator/config")[1]
    assert config["rate_limit"] == 1
    assert config["latency_p99_ms"] == 1
    _helper(server, "POST", "/_emulator/config", {"rate_limit": 0, "latency_p50_ms": 0})
    client = _client(server)
    for _ in range(5):
        client.v1.products.list()
    assert _helper(server, "GET", "/_emulator/stats")[1]["rate_limited"] == 0


def test_limits_off_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = EmulatorConfig()
    assert default.rate_limit == 0
    assert default.latency_percentiles() == (0.0, 0.0)
    monkeypatch.setenv("STRIPE_EMULATOR_LATENCY_P50_MS", "120")
    monkeypatch.setenv("STRIPE_EMULATOR_LATENCY_P99_MS", "600")
    monkeypatch.setenv("STRIPE_EMULATOR_RATE_LIMIT", "25")
    monkeypatch.setenv("STRIPE_EMULATOR_ENDPOINT_RATE_LIMIT", "10")
    config = EmulatorConfig()
    assert config.latency_percentiles() == (120.0, 600.0)
    assert (config.rate_limit, config.endpoint_rate_limit) == (25, 10)


def test_cli_refuses_a_p99_below_the_p50() -> None:
    with pytest.raises(SystemExit, match="latency-p99"):
        cli_main(["--data", ":memory:", "--latency-p50-ms", "300", "--latency-p99-ms", "100"])


def test_rate_limiter_window_slides_and_refusals_do_not_count() -> None:
    limiter = RateLimiter()
    for i in range(3):
        assert (
            limiter.check("k", "GET /v1/x", global_limit=3, endpoint_limit=0, now=i * 0.1) is None
        )
    refused = limiter.check("k", "GET /v1/x", global_limit=3, endpoint_limit=0, now=0.5)
    assert refused is not None
    assert refused.reason == "global-rate"
    # The first request leaves the window at 1.0 s; refused ones were never in it.
    assert limiter.check("k", "GET /v1/x", global_limit=3, endpoint_limit=0, now=1.01) is None
    assert limiter.check("k", "GET /v1/x", global_limit=3, endpoint_limit=0, now=1.02) is not None
