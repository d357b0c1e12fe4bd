"""Customers: CRUD, list, search, and the deleted-customer tombstone."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine.customers import CUSTOMER_DELETE_HOOKS, customer_create, customer_update
from ..engine.tax import customer_tax_details
from ..errors import resource_missing
from ..listing import match_range, paginate, search
from ..render import register_includable
from ..routing import route

JSONDict = dict[str, Any]


def _sources(ctx: Ctx, cus: JSONDict) -> JSONDict:
    # dj-stripe expands this on every sync; the card sources live in customer_sources.
    from .customer_sources import sources_list

    return sources_list(ctx, cus)


def _subscriptions(ctx: Ctx, cus: JSONDict) -> JSONDict:
    subs = ctx.store.all(
        "subscription",
        lambda s: (
            s.get("customer") == cus["id"]
            and s.get("status") not in ("canceled", "incomplete_expired")
        ),
    )
    return {
        "object": "list",
        "data": subs[:10],
        "has_more": len(subs) > 10,
        "url": f"/v1/customers/{cus['id']}/subscriptions",
    }


def _tax_ids(ctx: Ctx, cus: JSONDict) -> JSONDict:
    from .tax_ids import tax_ids_list

    return tax_ids_list(ctx, cus)


register_includable("customer", "sources", _sources)
register_includable("customer", "subscriptions", _subscriptions)


def _tax(ctx: Ctx, cus: JSONDict) -> JSONDict:
    return customer_tax_details(cus)


register_includable("customer", "tax_ids", _tax_ids)
register_includable("customer", "tax", _tax)


@route("POST", "/v1/customers", params="CustomerCreateParams")
def create_customer(ctx: Ctx, params: JSONDict) -> JSONDict:
    return customer_create(ctx, params)


@route("GET", "/v1/customers/search", params="CustomerSearchParams")
def search_customers(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("customer"),
        params,
        "/v1/customers/search",
        {"email", "name", "phone", "metadata", "created"},
    )


@route("GET", "/v1/customers/{id}", params="CustomerRetrieveParams")
def retrieve_customer(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("customer", id)


@route("POST", "/v1/customers/{id}", params="CustomerUpdateParams")
def update_customer(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return customer_update(ctx, params, id)


@route("DELETE", "/v1/customers/{id}", params="CustomerDeleteParams")
def delete_customer(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    cus = ctx.get("customer", id)
    if cus.get("deleted"):
        raise resource_missing("customer", id)
    ctx.emit("customer.deleted", cus)
    tombstone = {"id": id, "object": "customer", "deleted": True}
    ctx.store.put(tombstone, deleted=True)
    # The billing engine owns subscription and schedule cancellation; these
    # hooks let it react (each does nothing when the customer has none).
    for hook in CUSTOMER_DELETE_HOOKS:
        hook(ctx, cus)
    return {"id": id, "object": "customer", "deleted": True}


@route("GET", "/v1/customers", params="CustomerListParams")
def list_customers(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(c: JSONDict) -> bool:
        if "email" in params and c.get("email") != params["email"]:
            return False
        if "test_clock" in params and c.get("test_clock") != params["test_clock"]:
            return False
        return match_range(c.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("customer", keep), params, "/v1/customers", object_label="customer"
    )
