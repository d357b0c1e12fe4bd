"""One event, one read of its customer's row.

While dj-stripe mirrors an event's objects it looks the customer up again for
each of them: ``Event.customer``, then the ``customer`` foreign key of the
object and of every object nested in it (an invoice's, a charge's payment
intent's). The pipeline then needs the customer's team. That was three or four
identical ``SELECT``s per event, about a sixth of a renewal event's queries.

Within ``customer_lookups_shared`` (one event's transaction) a customer row
found or created once is handed out again. dj-stripe uses what these lookups
return as a foreign key target; a sync of the customer itself
(``customer.updated``) still reads and writes its row, and the saved row
replaces the shared one (``customer_saved``), so no stale copy is handed out
after it. Not longer than the transaction, for the reason given in
``stripe_account.account_lookups_shared``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from djstripe.models import Customer
from djstripe.models.base import StripeModel
from djstripe.utils import get_id_from_stripe_data

_shared: ContextVar[dict[str, Customer] | None] = ContextVar("event_customers", default=None)

_stock_get_or_retrieve = Customer._get_or_retrieve.__func__
_stock_get_or_create = StripeModel._get_or_create_from_stripe_object.__func__


@contextmanager
def customer_lookups_shared() -> Iterator[None]:
    """Within this block a customer row is read at most once (unless it is written)."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def customer_shared(customer_id: str) -> Customer | None:
    """The customer row this block already read, if it did."""
    shared = _shared.get()
    return shared.get(customer_id) if shared is not None else None


def _remember(instance: Any) -> None:
    shared = _shared.get()
    if shared is not None and isinstance(instance, Customer) and instance.id:
        shared[instance.id] = instance


def _forget(instance: Customer) -> None:
    shared = _shared.get()
    if shared is not None:
        shared.pop(instance.id, None)


def _get_or_retrieve(
    cls: type[Customer], id: str, stripe_account: Any = None, **kwargs: Any
) -> Any:
    if cls is Customer and (found := customer_shared(id)) is not None:
        return found
    instance = _stock_get_or_retrieve(cls, id, stripe_account=stripe_account, **kwargs)
    _remember(instance)
    return instance


def _get_or_create_from_stripe_object(
    cls: type[Customer], data: Any, field_name: str = "id", *args: Any, **kwargs: Any
) -> tuple[Any, bool]:
    # dj-stripe returns an existing row as it is, whatever data it was given, so
    # the row this block read is the same answer.
    customer_id = get_id_from_stripe_data(data.get(field_name)) if data else None
    if cls is Customer and customer_id and (found := customer_shared(customer_id)) is not None:
        return found, False
    instance, created = _stock_get_or_create(cls, data, field_name, *args, **kwargs)
    _remember(instance)
    return instance, created


def customer_saved(sender: Any, instance: Customer, created: bool, **kwargs: Any) -> None:
    """post_save of Customer: the saved row is the one to hand out from now on.

    A new row is not shared from here: the savepoint dj-stripe creates it in may
    still roll back (a race with another worker); the lookup that created it
    shares it once that savepoint is released.
    """
    if created:
        _forget(instance)
    else:
        _remember(instance)


def customer_deleted(sender: Any, instance: Customer, **kwargs: Any) -> None:
    """post_delete of Customer: a deleted row is not handed out."""
    _forget(instance)


def customer_lookups_install() -> None:
    """Route dj-stripe's customer lookups through the shared rows (AppConfig.ready)."""
    from django.db.models.signals import post_delete, post_save

    Customer._get_or_retrieve = classmethod(_get_or_retrieve)
    Customer._get_or_create_from_stripe_object = classmethod(_get_or_create_from_stripe_object)
    post_save.connect(customer_saved, sender=Customer, dispatch_uid="event_customer_saved")
    post_delete.connect(customer_deleted, sender=Customer, dispatch_uid="event_customer_deleted")
