"""Accounts v2 (`/v2/core/accounts`): the list and retrieve calls dj-stripe makes.

Accounts v2 are created through the v2 API (connected accounts, or customers
represented as accounts). The emulator creates none, so the list is always
empty and every id is unknown; the emulator's own account is a v1 account
(`GET /v1/account`).
"""

from __future__ import annotations

from typing import Any, TypedDict

from ..context import Ctx
from ..errors import resource_missing
from ..routing import route

JSONDict = dict[str, Any]


# `stripe.params.v2.core.AccountListParams` plus `include`: dj-stripe's
# `AccountV2.api_list` sends the retrieve call's `include[]` to the list
# endpoint too, which the SDK's list params do not declare. It is accepted
# and has no effect on an empty list. (`total=False` rather than
# `NotRequired`, which postponed annotations would hide from TypedDict.)
class AccountListParams(TypedDict, total=False):
    applied_configurations: list[str]
    closed: bool
    limit: int
    include: list[str]


@route("GET", "/v2/core/accounts", params=f"{__name__}:AccountListParams")
def list_accounts_v2(ctx: Ctx, params: JSONDict) -> JSONDict:
    # v2 lists carry no `object`/`has_more`: a page is `data` plus page URLs.
    return {"data": [], "next_page_url": None, "previous_page_url": None}


@route("GET", "/v2/core/accounts/{id}", params="v2.core.AccountRetrieveParams")
def retrieve_account_v2(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    raise resource_missing("account", id)
