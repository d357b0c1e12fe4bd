"""GET /v1/events and /v1/events/{id}."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..events import event_matches_type
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]


@route("GET", "/v1/events/{id}", params="EventRetrieveParams")
def retrieve_event(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("event", id)


@route("GET", "/v1/events", params="EventListParams")
def list_events(ctx: Ctx, params: JSONDict) -> JSONDict:
    types = params.get("types")
    if types is not None and len(types) > 20:
        raise invalid_request("You may pass at most 20 values in types.", param="types")
    success = params.get("delivery_success")
    undelivered: set[str] = set()
    if success is not None:
        # "Not yet delivered to every endpoint": pending, failed or abandoned.
        rows = ctx.store.execute(
            "SELECT DISTINCT event_id FROM deliveries WHERE status != 'succeeded'"
        )
        undelivered = {r["event_id"] for r in rows}

    def keep(evt: JSONDict) -> bool:
        if "type" in params and not event_matches_type(evt, params["type"]):
            return False
        if types is not None and evt.get("type") not in types:
            return False
        if success is not None and (evt["id"] in undelivered) == success:
            return False
        return match_range(evt.get("created"), params.get("created"))

    # Lazily: a page of a long event log reads about `limit` events, not all of them.
    events = (evt for evt in ctx.store.iter_all("event") if keep(evt))
    return paginate(events, params, "/v1/events", object_label="event")
