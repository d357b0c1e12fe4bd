"""Test-helper API under /_emulator/ (JSON in and out, no API key needed).

Documented for users in stripe_emulator/README.md.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import EmulatorConfig
from ..context import Ctx
from ..errors import invalid_request
from ..faults import ApiFault, DeliveryFaults
from ..routing import helper_route

JSONDict = dict[str, Any]


@helper_route("GET", "/_emulator/health")
def health(ctx: Ctx, body: JSONDict) -> JSONDict:
    return {"ok": True, "time": int(time.time())}


@helper_route("POST", "/_emulator/reset")
def reset(ctx: Ctx, body: JSONDict) -> JSONDict:
    ctx.app.reset()
    return {"reset": True}


@helper_route("POST", "/_emulator/webhooks/wait")
def wait_for_webhooks(ctx: Ctx, body: JSONDict) -> JSONDict:
    timeout = float(body.get("timeout", 10))
    done = ctx.app.dispatcher.wait_idle(timeout)
    pending = ctx.app.dispatcher.pending_count()
    if not done:
        raise invalid_request(
            f"Timed out after {timeout}s with {pending} webhook deliveries pending.", status=408
        )
    return {"pending": pending, "done": True}


@helper_route("GET", "/_emulator/webhooks/attempts")
def list_attempts(ctx: Ctx, body: JSONDict) -> JSONDict:
    attempts = ctx.app.dispatcher.attempts(body.get("event"))
    return {"object": "list", "data": attempts}


@helper_route("POST", "/_emulator/events/{id}/resend")
def resend_event(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    queued = ctx.app.dispatcher.resend(id, body.get("webhook_endpoint"))
    return {"queued": queued}


@helper_route("GET", "/_emulator/webhook_endpoints/{id}/secret")
def endpoint_secret(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    # For dev tooling that lost the secret shown once at creation.
    ctx.get("webhook_endpoint", id)
    return {"id": id, "secret": ctx.store.kv_get(f"secret:{id}")}


@helper_route("GET", "/_emulator/faults")
def get_faults(ctx: Ctx, body: JSONDict) -> JSONDict:
    faults = ctx.app.faults
    return {"delivery": faults.delivery.as_dict(), "api": [f.as_dict() for f in faults.api]}


@helper_route("POST", "/_emulator/faults/delivery")
def set_delivery_faults(ctx: Ctx, body: JSONDict) -> JSONDict:
    allowed = set(DeliveryFaults().as_dict())
    unknown = set(body) - allowed
    if unknown:
        raise invalid_request(f"Unknown delivery fault option(s): {sorted(unknown)}")
    current = ctx.app.faults.delivery.as_dict()
    current.update(body)
    ctx.app.faults.delivery = DeliveryFaults(
        duplicate=bool(current["duplicate"]),
        shuffle_window_ms=int(current["shuffle_window_ms"]),
        delay_ms=int(current["delay_ms"]),
        fail_first_attempt=bool(current["fail_first_attempt"]),
    )
    return get_faults(ctx, {})


@helper_route("POST", "/_emulator/faults/api")
def add_api_fault(ctx: Ctx, body: JSONDict) -> JSONDict:
    mode = str(body.get("mode", body.get("status", "500")))
    if mode not in ("500", "429", "503", "drop", "drop_after"):
        raise invalid_request("mode must be one of 500, 429, 503, drop, drop_after")
    count = body.get("count")
    rate = body.get("rate")
    if count is None and rate is None:
        count = 1
    fault = ApiFault(
        mode=mode,
        count=None if count is None else int(count),
        rate=None if rate is None else float(rate),
        route=body.get("route"),
        method=body.get("method"),
    )
    with ctx.app.faults._lock:
        ctx.app.faults.api.append(fault)
    return get_faults(ctx, {})


@helper_route("DELETE", "/_emulator/faults")
def clear_faults(ctx: Ctx, body: JSONDict) -> JSONDict:
    ctx.app.faults.clear()
    return get_faults(ctx, {})


def _config_view(ctx: Ctx) -> JSONDict:
    cfg = ctx.app.config
    p50, p99 = cfg.latency_percentiles()
    return {
        "webhook_retry_schedule": list(cfg.webhook_retry_schedule),
        "webhook_timeout": cfg.webhook_timeout,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "rate_limit": cfg.rate_limit,
        "endpoint_rate_limit": cfg.endpoint_rate_limit,
    }


@helper_route("GET", "/_emulator/config")
def get_config(ctx: Ctx, body: JSONDict) -> JSONDict:
    return _config_view(ctx)


@helper_route("POST", "/_emulator/config")
def set_config(ctx: Ctx, body: JSONDict) -> JSONDict:
    cfg = ctx.app.config
    if "webhook_retry_schedule" in body:
        cfg.webhook_retry_schedule = tuple(float(x) for x in body["webhook_retry_schedule"])
    if "webhook_timeout" in body:
        cfg.webhook_timeout = float(body["webhook_timeout"])
    _set_limits(cfg, body)
    return _config_view(ctx)


def _set_limits(cfg: EmulatorConfig, body: JSONDict) -> None:
    """Latency and rate limits from a helper body; a p99 below the p50 is refused."""
    p50 = float(body.get("latency_p50_ms", cfg.latency_p50_ms))
    p99 = float(body.get("latency_p99_ms", cfg.latency_p99_ms))
    if p50 < 0 or ("latency_p99_ms" in body and p99 < p50):
        raise invalid_request("latency needs 0 <= latency_p50_ms <= latency_p99_ms")
    rate = int(body.get("rate_limit", cfg.rate_limit))
    endpoint_rate = int(body.get("endpoint_rate_limit", cfg.endpoint_rate_limit))
    if rate < 0 or endpoint_rate < 0:
        raise invalid_request("rate limits are requests per second, 0 or more")
    cfg.latency_p50_ms, cfg.latency_p99_ms = p50, p99
    cfg.rate_limit, cfg.endpoint_rate_limit = rate, endpoint_rate


@helper_route("GET", "/_emulator/stats")
def get_stats(ctx: Ctx, body: JSONDict) -> JSONDict:
    """API requests and 429s since the last reset, in total and per second."""
    return ctx.app.stats.snapshot()


@helper_route("POST", "/_emulator/stats/reset")
def reset_stats(ctx: Ctx, body: JSONDict) -> JSONDict:
    ctx.app.stats.reset()
    return ctx.app.stats.snapshot()
