"""Tax Rates (`/v1/tax_rates`): create, retrieve, update, list.

The tax maths and the automatic-tax table are in `engine/tax.py`. Tax Rates
that automatic tax made are inactive and, as on Stripe, retrievable by id but
not listed (stripe/stripe-python#1363).
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine.tax import tax_rate_create, tax_rate_update
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]


@route("POST", "/v1/tax_rates", params="TaxRateCreateParams")
def create_tax_rate(ctx: Ctx, params: JSONDict) -> JSONDict:
    return tax_rate_create(ctx, params)


@route("GET", "/v1/tax_rates/{id}", params="TaxRateRetrieveParams")
def retrieve_tax_rate(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("tax_rate", id)


@route("POST", "/v1/tax_rates/{id}", params="TaxRateUpdateParams")
def update_tax_rate(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return tax_rate_update(ctx, id, params)


@route("GET", "/v1/tax_rates", params="TaxRateListParams")
def list_tax_rates(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(rate: JSONDict) -> bool:
        if rate.get("_automatic"):
            return False
        if "active" in params and bool(rate["active"]) != bool(params["active"]):
            return False
        if "inclusive" in params and bool(rate["inclusive"]) != bool(params["inclusive"]):
            return False
        return match_range(rate.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("tax_rate", keep), params, "/v1/tax_rates", object_label="tax_rate"
    )
