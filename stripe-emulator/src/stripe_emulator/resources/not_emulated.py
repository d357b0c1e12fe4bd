"""List and retrieve endpoints of Stripe features the emulator does not model.

dj-stripe's `djstripe_sync_models` lists every model it knows. For features
the emulator has no objects of (Connect transfers and fees, payouts, Radar
reviews, Issuing, Identity, files, shipping rates) the list is empty, as it is
on a new Stripe test account that never used them, and any id is unknown
(404). Two lists
differ from Stripe on purpose and are named in README "Known differences":
Stripe's global catalogs of tax codes and country specs, which the emulator
does not carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import Ctx
from ..errors import resource_missing
from ..listing import paginate
from ..routing import route

JSONDict = dict[str, Any]

# (collection path, object name, params prefix under stripe.params)
EMPTY_COLLECTIONS: tuple[tuple[str, str, str], ...] = (
    ("/v1/application_fees", "application_fee", "ApplicationFee"),
    ("/v1/country_specs", "country_spec", "CountrySpec"),
    ("/v1/file_links", "file_link", "FileLink"),
    ("/v1/files", "file", "File"),
    (
        "/v1/identity/verification_reports",
        "identity.verification_report",
        "identity.VerificationReport",
    ),
    (
        "/v1/identity/verification_sessions",
        "identity.verification_session",
        "identity.VerificationSession",
    ),
    ("/v1/issuing/authorizations", "issuing.authorization", "issuing.Authorization"),
    ("/v1/issuing/cardholders", "issuing.cardholder", "issuing.Cardholder"),
    ("/v1/issuing/cards", "issuing.card", "issuing.Card"),
    ("/v1/issuing/disputes", "issuing.dispute", "issuing.Dispute"),
    ("/v1/issuing/transactions", "issuing.transaction", "issuing.Transaction"),
    ("/v1/payouts", "payout", "Payout"),
    ("/v1/reviews", "review", "Review"),
    ("/v1/shipping_rates", "shipping_rate", "ShippingRate"),
    ("/v1/tax_codes", "tax_code", "TaxCode"),
    ("/v1/transfers", "transfer", "Transfer"),
)


def _register(path: str, object_name: str, params_prefix: str) -> None:
    label = object_name.rsplit(".", 1)[-1]

    def list_empty(ctx: Ctx, params: JSONDict) -> JSONDict:
        return paginate([], params, path, object_label=label)

    def retrieve_missing(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
        raise resource_missing(label, id)

    handlers: tuple[tuple[str, str, Callable[..., JSONDict]], ...] = (
        (path, f"{params_prefix}ListParams", list_empty),
        (f"{path}/{{id}}", f"{params_prefix}RetrieveParams", retrieve_missing),
    )
    for pattern, params_name, handler in handlers:
        route("GET", pattern, params=params_name)(handler)


for _path, _object_name, _prefix in EMPTY_COLLECTIONS:
    _register(_path, _object_name, _prefix)


# Sub-collections of parents that never exist here: the parent is unknown.
@route("GET", "/v1/application_fees/{id}/refunds", params="ApplicationFeeRefundListParams")
def list_application_fee_refunds(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    raise resource_missing("application_fee", id)


@route("GET", "/v1/transfers/{id}/reversals", params="TransferReversalListParams")
def list_transfer_reversals(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    raise resource_missing("transfer", id)
