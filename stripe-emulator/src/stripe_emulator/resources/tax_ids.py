"""Customer tax IDs (`/v1/customers/{id}/tax_ids`) and the read side of `/v1/tax_ids`.

`type` is checked against the SDK's closed list by the params layer; the
value's format is checked here for the common types (`eu_vat` per member
state, `gb_vat`, `us_ein`, `au_abn`, `ch_vat`), following the examples in
Stripe's "Customer tax IDs" guide; other types accept any non-empty value. A
bad format is a 400 with Stripe's `tax_id_invalid` code.

Stripe verifies EU, UK and Australian numbers with the government registers
in the background (`verification.status` starts `pending`, then
`customer.tax_id.updated`). The emulator has no register to ask, so their
verification stays `pending`; other types have no verification (null).
"""

from __future__ import annotations

import re
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..listing import paginate
from ..routing import route
from .customer_sources import live_customer

JSONDict = dict[str, Any]

# Member-state prefix -> national part of an EU VAT number (EL is Greece, XI
# Northern Ireland). Examples from Stripe's guide: ATU12345678, BE0123456789,
# DE123456789, FRAB123456789, NL123456789B12, ESA1234567Z, IE1234567AB.
_EU_VAT = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}(\d{3})?",
    "IE": r"\d{7}[A-Z]{1,2}|\d[A-Z+*]\d{5}[A-Z]",
    "IT": r"\d{11}",
    "LT": r"\d{9}(\d{3})?",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}(\d{3})?|(GD|HA)\d{3}",
}
_COUNTRY_OF_PREFIX = {"EL": "GR", "XI": "GB"}
_FORMATS = {
    "gb_vat": r"GB\d{9}(\d{3})?",
    "us_ein": r"\d{2}-?\d{7}",
    "au_abn": r"\d{11}",
    "ch_vat": r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)",
}
# Types Stripe checks against a government register.
_VERIFIED_TYPES = frozenset({"eu_vat", "gb_vat", "au_abn"})


def _invalid(tax_type: str) -> Exception:
    return invalid_request(f"Invalid value for {tax_type}.", param="value", code="tax_id_invalid")


def _country(tax_type: str, value: str) -> str | None:
    """The tax ID's country, or raise tax_id_invalid when the format is wrong."""
    compact = re.sub(r"[\s.]", "", value).upper()
    if not compact:
        raise _invalid(tax_type)
    if tax_type == "eu_vat":
        prefix, national = compact[:2], compact[2:]
        pattern = _EU_VAT.get(prefix)
        if pattern is None or not re.fullmatch(pattern, national):
            raise _invalid(tax_type)
        return _COUNTRY_OF_PREFIX.get(prefix, prefix)
    pattern = _FORMATS.get(tax_type)
    if pattern is not None and not re.fullmatch(pattern, value.strip().upper()):
        raise _invalid(tax_type)
    prefix = tax_type.split("_", 1)[0].upper()
    return None if prefix == "EU" else prefix


def customer_tax_ids(ctx: Ctx, customer_id: str) -> list[JSONDict]:
    return ctx.store.all_where("tax_id", {"customer": customer_id})


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
    tax_type, value = params["type"], params["value"]
    country = _country(tax_type, value)
    verification = (
        {"status": "pending", "verified_address": None, "verified_name": None}
        if tax_type in _VERIFIED_TYPES
        else None
    )
    obj: JSONDict = {
        "id": new_id("txi"),
        "object": "tax_id",
        "country": country,
        "created": ctx.now_for_customer(cus),
        "customer": customer,
        "customer_account": None,
        "livemode": False,
        "owner": {
            "account": None,
            "application": None,
            "customer": customer,
            "customer_account": None,
            "type": "customer",
        },
        "type": tax_type,
        "value": value,
        "verification": verification,
    }
    ctx.save(obj)
    ctx.emit("customer.tax_id.created", obj)
    return obj


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
