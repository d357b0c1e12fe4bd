"""Billing meters and meter events (usage-based billing inputs).

`meter_usage(ctx, meter_id, customer_id, start, end)` aggregates reported
usage for the billing engine when it invoices metered prices.
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.metered import check_event_timestamp, duplicate_identifier_error
from ..engine.usage import meter_usage
from ..errors import invalid_request
from ..ids import new_id, random_token
from ..listing import paginate
from ..routing import route

JSONDict = dict[str, Any]


@route("POST", "/v1/billing/meters", params="billing.MeterCreateParams")
def create_meter(ctx: Ctx, params: JSONDict) -> JSONDict:
    name = params["event_name"]
    if ctx.store.all("billing.meter", lambda m: m["event_name"] == name):
        raise invalid_request(
            f"A meter with event_name `{name}` already exists.", param="event_name"
        )
    now = ctx.now()
    mapping = params.get("customer_mapping") or {}
    value_settings = params.get("value_settings") or {}
    meter: JSONDict = {
        "id": new_id("billing.meter"),
        "object": "billing.meter",
        "created": now,
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
            "type": mapping.get("type", "by_id"),
        },
        "default_aggregation": {"formula": params["default_aggregation"]["formula"]},
        "display_name": params["display_name"],
        "event_name": name,
        "event_time_window": params.get("event_time_window"),
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_settings.get("event_payload_key", "value")},
    }
    ctx.save(meter)
    ctx.emit("billing.meter.created", meter)
    return meter


@route("GET", "/v1/billing/meters/{id}", params="billing.MeterRetrieveParams")
def retrieve_meter(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("billing.meter", id)


@route("POST", "/v1/billing/meters/{id}", params="billing.MeterUpdateParams")
def update_meter(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    meter = ctx.get("billing.meter", id)
    before = copy.deepcopy(meter)
    if "display_name" in params:
        meter["display_name"] = params["display_name"]
    if meter != before:
        meter["updated"] = ctx.now()
        ctx.save(meter)
        ctx.emit("billing.meter.updated", meter, previous=before)
    return meter


def _set_status(ctx: Ctx, meter_id: str, active: bool) -> JSONDict:
    meter = ctx.get("billing.meter", meter_id)
    before = copy.deepcopy(meter)
    meter["status"] = "active" if active else "inactive"
    meter["status_transitions"]["deactivated_at"] = None if active else ctx.now()
    meter["updated"] = ctx.now()
    ctx.save(meter)
    ctx.emit(
        "billing.meter.reactivated" if active else "billing.meter.deactivated",
        meter,
        previous=before,
    )
    return meter


@route("POST", "/v1/billing/meters/{id}/deactivate", params="billing.MeterDeactivateParams")
def deactivate_meter(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return _set_status(ctx, id, False)


@route("POST", "/v1/billing/meters/{id}/reactivate", params="billing.MeterReactivateParams")
def reactivate_meter(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return _set_status(ctx, id, True)


@route("GET", "/v1/billing/meters", params="billing.MeterListParams")
def list_meters(ctx: Ctx, params: JSONDict) -> JSONDict:
    items = ctx.store.all(
        "billing.meter", lambda m: "status" not in params or m["status"] == params["status"]
    )
    return paginate(items, params, "/v1/billing/meters", object_label="billing meter")


@route("POST", "/v1/billing/meter_events", params="billing.MeterEventCreateParams")
def create_meter_event(ctx: Ctx, params: JSONDict) -> JSONDict:
    name = params["event_name"]
    meters = ctx.store.all("billing.meter", lambda m: m["event_name"] == name)
    if not meters or meters[0]["status"] != "active":
        raise invalid_request(
            f"No active meter was found for event_name `{name}`.", param="event_name"
        )
    meter = meters[0]
    payload = params["payload"]
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if not customer_id:
        raise invalid_request(
            f"Missing `{customer_key}` in payload.", param=f"payload[{customer_key}]"
        )
    ctx.get("customer", customer_id, param=f"payload[{customer_key}]")
    raw_value = payload.get(value_key, "1")
    try:
        value = float(raw_value)
    except ValueError:
        raise invalid_request(
            f"The value `{raw_value}` is not a number.", param=f"payload[{value_key}]"
        ) from None
    identifier = params.get("identifier") or random_token(20)
    if ctx.store.get("mevt:" + identifier) is not None:
        raise duplicate_identifier_error(identifier)
    timestamp = params.get("timestamp") or ctx.now_for_customer(customer_id)
    check_event_timestamp(ctx, customer_id, timestamp)
    event: JSONDict = {
        "id": "mevt:" + identifier,  # identifier is the natural key; not a public field
        "object": "billing.meter_event",
        "created": ctx.now(),
        "event_name": name,
        "identifier": identifier,
        "livemode": False,
        "payload": {k: str(v) for k, v in payload.items()},
        "timestamp": timestamp,
        "_meter": meter["id"],
        "_customer": customer_id,
        "_value": value,
    }
    ctx.save(event)
    return {k: v for k, v in event.items() if k != "id"}


@route(
    "GET", "/v1/billing/meters/{id}/event_summaries", params="billing.MeterListEventSummariesParams"
)
def list_event_summaries(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    ctx.get("billing.meter", id)
    start, end = params["start_time"], params["end_time"]
    window = params.get("value_grouping_window")
    step = {"hour": 3600, "day": 86400}.get(window or "", end - start) or 1
    summaries = []
    t = start
    while t < end:
        upper = min(t + step, end)
        summaries.append(
            {
                "id": f"mtrusg_{id[-8:]}_{t}",
                "object": "billing.meter_event_summary",
                "aggregated_value": meter_usage(ctx, id, params["customer"], t, upper),
                "end_time": upper,
                "livemode": False,
                "meter": id,
                "start_time": t,
            }
        )
        t = upper
    summaries.reverse()
    return paginate(
        summaries,
        params,
        f"/v1/billing/meters/{id}/event_summaries",
        object_label="meter event summary",
    )
