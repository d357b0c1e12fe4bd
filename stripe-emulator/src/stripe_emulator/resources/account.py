"""GET /v1/account: the single test-mode account the emulator pretends to be.

Also GET /v1/accounts (the connected accounts of a platform: none here), and
the `/_emulator/account` helpers that stand in for the Dashboard's public
details (business name, support and legal links), which the hosted pages show.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine.account import ACCOUNT_ID, account_object, public_details, update_public_details
from ..errors import resource_missing
from ..listing import paginate
from ..routing import helper_route, route

JSONDict = dict[str, Any]


@route("GET", "/v1/account", params="AccountRetrieveCurrentParams")
def retrieve_account(ctx: Ctx, params: JSONDict) -> JSONDict:
    return account_object(ctx)


@route("GET", "/v1/accounts/{id}", params="AccountRetrieveParams")
def retrieve_account_by_id(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    if id != ACCOUNT_ID:
        raise resource_missing("account", id)
    return account_object(ctx)


@route("GET", "/v1/accounts", params="AccountListParams")
def list_accounts(ctx: Ctx, params: JSONDict) -> JSONDict:
    # Stripe lists the accounts connected to a Connect platform, never the
    # caller's own account; the emulator is no platform, so the list is empty.
    return paginate([], params, "/v1/accounts", object_label="account")


@helper_route("GET", "/_emulator/account")
def get_public_details(ctx: Ctx, body: JSONDict) -> JSONDict:
    return dict(public_details(ctx))


@helper_route("POST", "/_emulator/account")
def set_public_details(ctx: Ctx, body: JSONDict) -> JSONDict:
    with ctx.store.atomic():
        return dict(update_public_details(ctx, body))
