"""The legacy Plans API as a view of recurring prices (list and retrieve).

Stripe's API reference: the Prices API "replaces the Plans API and is
backwards compatible" (docs.stripe.com/api/plans): a recurring price is
readable as a plan with the same id, which is what dj-stripe's `Plan` sync
(`djstripe_sync_models`) lists. Creating, updating and deleting plans is not
emulated (README "Known differences"): create prices instead.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine.pricing import plan_of
from ..errors import resource_missing
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]


@route("GET", "/v1/plans/{id}", params="PlanRetrieveParams")
def retrieve_plan(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    price = ctx.find("price", id)
    if price is None or not price.get("recurring"):
        raise resource_missing("plan", id)
    return plan_of(price)


@route("GET", "/v1/plans", params="PlanListParams")
def list_plans(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(price: JSONDict) -> bool:
        if not price.get("recurring"):
            return False
        if "active" in params and bool(price.get("active", True)) != params["active"]:
            return False
        if params.get("product") and price.get("product") != params["product"]:
            return False
        return match_range(price.get("created"), params.get("created"))

    plans = [plan_of(p) for p in ctx.store.all("price") if keep(p)]
    return paginate(plans, params, "/v1/plans", object_label="plan")
