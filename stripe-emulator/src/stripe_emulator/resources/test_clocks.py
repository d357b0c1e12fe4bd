"""Test clocks: CRUD plus `advance` (`engine.clocks.test_clock_advance`).

The billing engine fills in what happens while a clock advances by
registering `clock.register_advance_handler(fn)`; `test_clock_advance` moves
the clock, runs the handlers, emits `advancing` / `ready` and keeps the
status right.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ..context import Ctx
from ..engine.clocks import test_clock_advance
from ..errors import invalid_request
from ..ids import new_id
from ..listing import paginate
from ..routing import route

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
DELETES_AFTER_SECONDS = 30 * 86400


@route("POST", "/v1/test_helpers/test_clocks", params="test_helpers.TestClockCreateParams")
def create_clock(ctx: Ctx, params: JSONDict) -> JSONDict:
    now = ctx.now()
    clock: JSONDict = {
        "id": new_id("test_helpers.test_clock"),
        "object": "test_helpers.test_clock",
        "created": now,
        "deletes_after": now + DELETES_AFTER_SECONDS,
        "frozen_time": params["frozen_time"],
        "livemode": False,
        "name": params.get("name"),
        "status": "ready",
        "status_details": {},
    }
    ctx.save(clock)
    if params.get("customer"):
        customer = ctx.get("customer", params["customer"], param="customer")
        if customer.get("test_clock"):
            raise invalid_request(
                "This customer is already attached to a test clock.", param="customer"
            )
        before = copy.deepcopy(customer)
        customer["test_clock"] = clock["id"]
        ctx.save(customer)
        ctx.emit("customer.updated", customer, previous=before)
    ctx.emit("test_helpers.test_clock.created", clock)
    return clock


@route("GET", "/v1/test_helpers/test_clocks/{id}", params="test_helpers.TestClockRetrieveParams")
def retrieve_clock(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("test_helpers.test_clock", id)


@route("GET", "/v1/test_helpers/test_clocks", params="test_helpers.TestClockListParams")
def list_clocks(ctx: Ctx, params: JSONDict) -> JSONDict:
    return paginate(
        ctx.store.all("test_helpers.test_clock"),
        params,
        "/v1/test_helpers/test_clocks",
        object_label="test clock",
    )


@route("DELETE", "/v1/test_helpers/test_clocks/{id}", params="test_helpers.TestClockDeleteParams")
def delete_clock(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    clock = ctx.get("test_helpers.test_clock", id)
    ctx.emit("test_helpers.test_clock.deleted", clock)
    ctx.store.remove(id)
    # Stripe deletes the clock's customers (and their objects) with it.
    for customer in ctx.store.all("customer", lambda c: c.get("test_clock") == id):
        ctx.store.put({"id": customer["id"], "object": "customer", "deleted": True}, deleted=True)
    return {"id": id, "object": "test_helpers.test_clock", "deleted": True}


@route(
    "POST",
    "/v1/test_helpers/test_clocks/{id}/advance",
    params="test_helpers.TestClockAdvanceParams",
)
def advance_clock(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return test_clock_advance(ctx, id, params["frozen_time"])
