"""The team's tax IDs: listed from the mirror, added and removed on Stripe (see tax.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import stripe
from djstripe.models import TaxId

from .. import selectors
from ..services import BillingError, NoCustomer, _key, _translate, stripe_client
from .tax import TAX_ID_TYPE_LABELS

if TYPE_CHECKING:
    from teams.models import Team

logger = logging.getLogger(__name__)


class InvalidTaxId(BillingError):
    user_message = "That tax ID is not valid for its type. Check the number and try again."


def tax_ids_for_team(*, team: Team) -> list[TaxId]:
    """The team's tax IDs from the mirror (kept by the customer.tax_id.* webhooks)."""
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        return []
    return list(TaxId.objects.filter(customer=customer).order_by("created", "id"))


def tax_id_add(*, team: Team, tax_type: str, value: str) -> TaxId:
    """Add a tax ID to the team's customer on Stripe and mirror it at once."""
    if tax_type not in TAX_ID_TYPE_LABELS:
        raise InvalidTaxId(f"unsupported tax ID type {tax_type!r}")
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        raise NoCustomer(f"team {team.pk} has no customer")
    value = value.strip()
    try:
        created = stripe_client().v1.customers.tax_ids.create(
            customer.id,
            {"type": tax_type, "value": value},
            {"idempotency_key": _key("tax_id", customer.id, tax_type, value)},
        )
    except stripe.InvalidRequestError as exc:
        if exc.code == "tax_id_invalid" or exc.param == "value":
            raise InvalidTaxId(str(exc.user_message or exc)) from exc
        raise _translate(exc) from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    tax_id = TaxId.sync_from_stripe_data(created)
    logger.info(
        "tax id %s (%s) added: team=%s customer=%s", tax_id.id, tax_type, team.pk, customer.id
    )
    return tax_id


def tax_id_remove(*, team: Team, tax_id: str) -> None:
    """Remove one of the team's tax IDs (another customer's id is not found: 404 upstream)."""
    customer = selectors.customer_for_team(team=team)
    row = TaxId.objects.filter(id=tax_id, customer=customer).first() if customer else None
    if row is None or customer is None:
        raise TaxId.DoesNotExist(tax_id)
    try:
        stripe_client().v1.customers.tax_ids.delete(customer.id, tax_id)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":  # already gone on Stripe: drop the mirror row
            raise _translate(exc) from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    row.delete()
    logger.info("tax id %s removed: team=%s customer=%s", tax_id, team.pk, customer.id)
