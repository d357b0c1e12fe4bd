"""Customer tax IDs (`/v1/customers/{id}/tax_ids`) and the read side of `/v1/tax_ids`.

`type` is checked against the SDK's closed list by the params layer; the
value's format is checked by `engine.tax.tax_id_country` for the common types (`eu_vat` per member
state, `gb_vat`, `us_ein`, `au_abn`, `ch_vat`), following the examples in
Stripe's "Customer tax IDs" guide; other types accept any non-empty value. A
bad format is a 400 with Stripe's `tax_id_invalid` code.

Stripe verifies EU, UK and Australian numbers with the government registers
in the background (`verification.status` starts `pending`, then
`customer.tax_id.updated`). The emulator has no register to ask, so their
verification stays `pending`; other types have no verification (null).
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine import tax
from ..errors import invalid_request, resource_missing
from ..listing import paginate
from ..routing import route
from .customer_sources import live_customer

JSONDict = dict[str, Any]

customer_tax_ids = tax.customer_tax_ids


def tax_ids_list(ctx: Ctx, cus: JSONDict) -> JSONDict:
    """`customer.tax_ids` (includable): the first page of the customer's tax IDs."""
    items = customer_tax_ids(ctx, cus["id"])
    return {
        "object": "list",
        "data": items[:10],
        "has_more": len(items) > 10,
        "url": f"/v1/customers/{cus['id']}/tax_ids",
    }


def _customer_tax_id(ctx: Ctx, customer_id: str, tax_id: str) -> JSONDict:
    obj = ctx.find("tax_id", tax_id)
    if obj is None or obj.get("customer") != customer_id:
        raise resource_missing("tax_id", tax_id)
    return obj


@route("POST", "/v1/customers/{customer}/tax_ids", params="CustomerTaxIdCreateParams")
def create_tax_id(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    return tax.tax_id_create(ctx, cus, params["type"], params["value"])


@route("GET", "/v1/customers/{customer}/tax_ids", params="CustomerTaxIdListParams")
def list_customer_tax_ids(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    live_customer(ctx, customer)
    return paginate(
        customer_tax_ids(ctx, customer),
        params,
        f"/v1/customers/{customer}/tax_ids",
        object_label="tax_id",
    )


@route("GET", "/v1/customers/{customer}/tax_ids/{id}", params="CustomerTaxIdRetrieveParams")
def retrieve_customer_tax_id(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    return _customer_tax_id(ctx, customer, id)


@route("DELETE", "/v1/customers/{customer}/tax_ids/{id}", params="CustomerTaxIdDeleteParams")
def delete_customer_tax_id(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    obj = _customer_tax_id(ctx, customer, id)
    ctx.store.remove(id)
    ctx.emit("customer.tax_id.deleted", obj)
    return {"id": id, "object": "tax_id", "deleted": True}


@route("GET", "/v1/tax_ids", params="TaxIdListParams")
def list_tax_ids(ctx: Ctx, params: JSONDict) -> JSONDict:
    # owner[type] defaults to self: the account's own tax IDs, of which the
    # emulator has none; owner[type]=customer lists that customer's.
    owner = params.get("owner") or {"type": "self"}
    items: list[JSONDict] = []
    if owner.get("type") == "customer":
        customer = owner.get("customer")
        if not customer:
            raise invalid_request(
                "Missing required param: owner[customer].",
                param="owner[customer]",
                code="parameter_missing",
            )
        live_customer(ctx, customer, param="owner[customer]")
        items = customer_tax_ids(ctx, customer)
    return paginate(items, params, "/v1/tax_ids", object_label="tax_id")


@route("GET", "/v1/tax_ids/{id}", params="TaxIdRetrieveParams")
def retrieve_tax_id(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("tax_id", id)
