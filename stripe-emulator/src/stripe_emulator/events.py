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
from .versions import apply_changes, render_version

if TYPE_CHECKING:
    from .context import Ctx

JSONDict = dict[str, Any]


# Required fields an event's object lacks, as Stripe sends it (event type ->
# names), for the schema checks: "The received Invoice object will not have
# an invoice ID" (invoice.upcoming, API reference event types).
EVENT_OBJECT_WITHOUT: dict[str, set[str]] = {"invoice.upcoming": {"id"}}


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
    # `obj` has the newest version's shape; each rendering below picks its
    # version's fields. The stored Event is in the account's version; each
    # endpoint receives it in its own `api_version` (or the account's), as
    # Stripe renders an event once per destination version (STRIPE.md §1.1, §4.3).
    snapshot = strip(obj)
    previous_attributes = diff(strip(previous), snapshot) if previous is not None else None
    endpoints = [e for e in ctx.store.all("webhook_endpoint") if endpoint_matches(e, event_type)]
    event: JSONDict = {
        "id": new_id("event"),
        "object": "event",
        "api_version": DEFAULT_API_VERSION,
        "created": created,
        "data": {},
        "livemode": False,
        "pending_webhooks": len(endpoints),
        "request": request or {"id": None, "idempotency_key": None},
        "type": event_type,
        "context": None,
    }
    bodies: dict[str, str] = {}
    for endpoint in endpoints:
        bodies.setdefault(endpoint.get("api_version") or DEFAULT_API_VERSION, "")
    for version in bodies:
        rendered = {**event, "api_version": version}
        rendered["data"] = _data_in(snapshot, previous_attributes, version)
        # Pretty JSON as Stripe sends it; json's indent mode is slow, so only
        # when someone will receive it.
        bodies[version] = json.dumps(rendered, indent=2)
    event["data"] = _data_in(snapshot, previous_attributes, DEFAULT_API_VERSION, copy=False)
    ctx.store.put(event)
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
                bodies[endpoint.get("api_version") or DEFAULT_API_VERSION],
                1 if faults.duplicate else 0,
                now,
            ),
        )
    return event


def _data_in(
    snapshot: JSONDict, previous: JSONDict | None, version: str, *, copy: bool = True
) -> JSONDict:
    """`data` of an event rendered in `version` (on copies unless `copy=False`)."""
    obj = render_version(json.loads(json.dumps(snapshot)) if copy else snapshot, version)
    data: JSONDict = {"object": obj}
    if previous is not None:
        prev = render_version(json.loads(json.dumps(previous)) if copy else previous, version)
        obj_type = snapshot.get("object")
        if isinstance(obj_type, str):
            apply_changes(obj_type, prev, version, fill=False)
        data["previous_attributes"] = prev
    return data


def event_matches_type(event: JSONDict, pattern: str) -> bool:
    """`type` filter of GET /v1/events: exact, or `*` wildcards like `invoice.*`."""
    if "*" not in pattern:
        return bool(event.get("type") == pattern)
    prefix, _, suffix = pattern.partition("*")
    etype = str(event.get("type", ""))
    return etype.startswith(prefix) and etype.endswith(suffix)
