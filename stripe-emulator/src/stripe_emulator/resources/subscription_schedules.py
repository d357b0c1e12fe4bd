"""Subscription schedules (docs.stripe.com/api/subscription_schedules).

Thin endpoints over `engine.schedules`: create (customer + phases, or
from_subscription), retrieve, update, list, release, cancel. Phase
transitions run when the schedule's clock reaches them (engine.clocks).
"""

from __future__ import annotations

from typing import Any

from .. import engine
from ..context import Ctx
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]

_PATH = "/v1/subscription_schedules"


@route("POST", _PATH, params="SubscriptionScheduleCreateParams")
def create_subscription_schedule(ctx: Ctx, params: JSONDict) -> JSONDict:
    engine.start_real_clock(ctx.app)
    return engine.subscription_schedule_create(ctx, params)


@route("GET", _PATH + "/{id}", params="SubscriptionScheduleRetrieveParams")
def retrieve_subscription_schedule(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("subscription_schedule", id)


@route("POST", _PATH + "/{id}", params="SubscriptionScheduleUpdateParams")
def update_subscription_schedule(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.subscription_schedule_update(ctx, id, params)


@route("POST", _PATH + "/{id}/release", params="SubscriptionScheduleReleaseParams")
def release_subscription_schedule(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.subscription_schedule_release(
        ctx, id, preserve_cancel_date=bool(params.get("preserve_cancel_date"))
    )


@route("POST", _PATH + "/{id}/cancel", params="SubscriptionScheduleCancelParams")
def cancel_subscription_schedule(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    # Both default to true (API reference, "Cancel a schedule").
    return engine.subscription_schedule_cancel(
        ctx,
        id,
        invoice_now=bool(params.get("invoice_now", True)),
        prorate=bool(params.get("prorate", True)),
    )


@route("GET", _PATH, params="SubscriptionScheduleListParams")
def list_subscription_schedules(ctx: Ctx, params: JSONDict) -> JSONDict:
    keep = engine.schedule_list_filter(params)
    ranges = ("created", "canceled_at", "completed_at", "released_at")
    items = [
        s
        for s in ctx.store.all("subscription_schedule")
        if keep(s) and all(match_range(s.get(name), params.get(name)) for name in ranges)
    ]
    return paginate(items, params, _PATH, object_label="subscription_schedule")
