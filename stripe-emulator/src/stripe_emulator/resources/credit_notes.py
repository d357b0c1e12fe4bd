"""Credit notes: preview, preview lines, create, retrieve, update, void, list, lines.

The amounts and their effects (refund, customer balance, the invoice's amount
due) are the engine's (`engine/credit_notes.py`).
"""

from __future__ import annotations

from typing import Any

from .. import engine
from ..context import Ctx
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]

_PAGINATION = ("limit", "starting_after", "ending_before")


@route("GET", "/v1/credit_notes/preview", params="CreditNotePreviewParams")
def preview_credit_note(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The credit note these params would create; nothing is stored or refunded."""
    cn = engine.credit_note_build(ctx, params)
    cn.pop("_credit_amount", None)
    return cn


@route("GET", "/v1/credit_notes/preview/lines", params="CreditNotePreviewLinesListParams")
def preview_credit_note_lines(ctx: Ctx, params: JSONDict) -> JSONDict:
    build = {k: v for k, v in params.items() if k not in _PAGINATION}
    lines = engine.credit_note_build(ctx, build)["lines"]["data"]
    return paginate(
        lines, params, "/v1/credit_notes/preview/lines", object_label="credit_note_line_item"
    )


@route("POST", "/v1/credit_notes", params="CreditNoteCreateParams")
def create_credit_note(ctx: Ctx, params: JSONDict) -> JSONDict:
    return engine.credit_note_create(ctx, params)


@route("GET", "/v1/credit_notes/{id}", params="CreditNoteRetrieveParams")
def retrieve_credit_note(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("credit_note", id)


@route("POST", "/v1/credit_notes/{id}", params="CreditNoteUpdateParams")
def update_credit_note(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.credit_note_update(ctx, id, params)


@route("POST", "/v1/credit_notes/{id}/void", params="CreditNoteVoidCreditNoteParams")
def void_credit_note(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.credit_note_void(ctx, id)


@route("GET", "/v1/credit_notes/{id}/lines", params="CreditNoteListLinesParams")
def list_credit_note_lines(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    cn = ctx.get("credit_note", id)
    return paginate(
        list(cn["lines"]["data"]),
        params,
        f"/v1/credit_notes/{id}/lines",
        object_label="credit_note_line_item",
    )


@route("GET", "/v1/credit_notes", params="CreditNoteListParams")
def list_credit_notes(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(cn: JSONDict) -> bool:
        if "customer" in params and cn.get("customer") != params["customer"]:
            return False
        if "invoice" in params and cn.get("invoice") != params["invoice"]:
            return False
        return match_range(cn.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("credit_note", keep), params, "/v1/credit_notes", object_label="credit_note"
    )
