"""Event recording: the single place that creates Event objects.

Handlers call `ctx.emit(...)` (see context.py), which lands here. Recording
an event snapshots the object, stores the Event and queues one webhook
delivery per matching enabled endpoint, all in the caller's transaction.
"""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_API_VERSION
from .ids import new_id, random_token
from .render import diff, strip

if TYPE_CHECKING:
    from .context import Ctx

JSONDict = dict[str, Any]


def endpoint_matches(endpoint: JSONDict, event_type: str) -> bool:
    if endpoint.get("status") != "enabled":
        return False
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event_type in enabled


def record(
    ctx: Ctx,
    event_type: str,
    obj: JSONDict,
    *,
    previous: JSONDict | None,
    request: JSONDict | None,
    created: int,
) -> JSONDict:
    snapshot = strip(obj)
    data: JSONDict = {"object": snapshot}
    if previous is not None:
        data["previous_attributes"] = diff(strip(previous), snapshot)
    endpoints = [e for e in ctx.store.all("webhook_endpoint") if endpoint_matches(e, event_type)]
    event: JSONDict = {
        "id": new_id("event"),
        "object": "event",
        "api_version": DEFAULT_API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": len(endpoints),
        "request": request or {"id": None, "idempotency_key": None},
        "type": event_type,
        "context": None,
    }
    ctx.store.put(event)
    # Pretty JSON as Stripe sends it; json's indent mode is slow, so only
    # when someone will receive it.
    body = json.dumps(event, indent=2) if endpoints else ""
    faults = ctx.app.faults.delivery
    now = time.time()
    for endpoint in endpoints:
        delay = faults.delay_ms / 1000.0
        if faults.shuffle_window_ms:
            delay += random.uniform(0, faults.shuffle_window_ms / 1000.0)
        ctx.store.execute(
            "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, "
            "next_attempt_at, body, extra_copies, created) "
            "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
            (
                "whdel_" + random_token(20),
                event["id"],
                endpoint["id"],
                now + delay,
                body,
                1 if faults.duplicate else 0,
                now,
            ),
        )
    return event


def event_matches_type(event: JSONDict, pattern: str) -> bool:
    """`type` filter of GET /v1/events: exact, or `*` wildcards like `invoice.*`."""
    if "*" not in pattern:
        return bool(event.get("type") == pattern)
    prefix, _, suffix = pattern.partition("*")
    etype = str(event.get("type", ""))
    return etype.startswith(prefix) and etype.endswith(suffix)
