"""Webhook endpoints: CRUD. The signing secret is returned on create only."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id, new_webhook_secret
from ..listing import paginate
from ..params import Scalar, schema_for
from ..routing import route
from ..updates import apply_metadata
from ..versions import check_version

JSONDict = dict[str, Any]

# The installed SDK's enum for `api_version` ends at its own pin; the emulator
# takes every version it renders, so the value is checked by check_version()
# in the handler instead (Stripe's message for others).
schema_for("WebhookEndpointCreateParams").fields()["api_version"] = Scalar("str")


def _check_events(events: list[str]) -> None:
    if not events:
        raise invalid_request(
            "enabled_events must contain at least one event type.", param="enabled_events"
        )


@route("POST", "/v1/webhook_endpoints", params="WebhookEndpointCreateParams")
def create_endpoint(ctx: Ctx, params: JSONDict) -> JSONDict:
    _check_events(params["enabled_events"])
    version = params.get("api_version")
    if version is not None:
        check_version(version, param="api_version")
    endpoint: JSONDict = {
        "id": new_id("webhook_endpoint"),
        "object": "webhook_endpoint",
        "api_version": version,
        "application": None,
        "created": ctx.now(),
        "description": params.get("description"),
        "enabled_events": params["enabled_events"],
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "status": "enabled",
        "url": params["url"],
    }
    ctx.save(endpoint)
    secret = new_webhook_secret()
    ctx.store.kv_set(f"secret:{endpoint['id']}", secret)
    return {**endpoint, "secret": secret}


@route("GET", "/v1/webhook_endpoints/{id}", params="WebhookEndpointRetrieveParams")
def retrieve_endpoint(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("webhook_endpoint", id)


@route("POST", "/v1/webhook_endpoints/{id}", params="WebhookEndpointUpdateParams")
def update_endpoint(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    endpoint = ctx.get("webhook_endpoint", id)
    before = copy.deepcopy(endpoint)
    if "enabled_events" in params:
        _check_events(params["enabled_events"])
        endpoint["enabled_events"] = params["enabled_events"]
    for key in ("url", "description"):
        if key in params:
            endpoint[key] = params[key] or None
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    if "metadata" in params:
        endpoint["metadata"] = apply_metadata(endpoint.get("metadata"), params["metadata"])
    if endpoint != before:
        ctx.save(endpoint)
    return endpoint


@route("DELETE", "/v1/webhook_endpoints/{id}", params="WebhookEndpointDeleteParams")
def delete_endpoint(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    ctx.get("webhook_endpoint", id)
    ctx.store.remove(id)
    return {"id": id, "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/webhook_endpoints", params="WebhookEndpointListParams")
def list_endpoints(ctx: Ctx, params: JSONDict) -> JSONDict:
    return paginate(
        ctx.store.all("webhook_endpoint"),
        params,
        "/v1/webhook_endpoints",
        object_label="webhook endpoint",
    )
