"""dj-stripe signal receivers: thin, they only call services.

dj-stripe re-reads each object from Stripe when it processes an event and
mirrors it; afterwards the user's cached access is stale, so it is dropped
here. The webhook pipeline (Celery) replaces dj-stripe's synchronous view
later; these receivers stay the same.
"""

from __future__ import annotations

import logging
from typing import Any

from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Customer

from . import services
from .access import access_invalidate

logger = logging.getLogger(__name__)

ACCESS_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "customer.updated",
    "customer.deleted",
]


def _customer_id(event: Any) -> str | None:
    obj = (event.data or {}).get("object") or {}
    if obj.get("object") == "customer":
        return str(obj.get("id"))
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return str(customer) if customer else None


def _invalidate_for(customer_id: str | None) -> None:
    if not customer_id:
        return
    customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
    if customer is not None and customer.subscriber_id:
        access_invalidate(user_id=customer.subscriber_id)


@djstripe_receiver(ACCESS_EVENTS)
def billing_state_changed(sender: Any, event: Any, **kwargs: Any) -> None:
    _invalidate_for(_customer_id(event))


@djstripe_receiver("entitlements.active_entitlement_summary.updated")
def entitlements_changed(sender: Any, event: Any, **kwargs: Any) -> None:
    customer_id = _customer_id(event)
    if customer_id:
        services.entitlements_sync(customer_id=customer_id)
