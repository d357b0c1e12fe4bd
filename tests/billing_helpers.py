"""Put users on plans in the local mirror, without Stripe.

For tests of gating and pages: rows look like what dj-stripe stores after a
sync at API version 2026-05-27.dahlia (periods on the items, status in JSON).
Flows that involve Stripe itself use the emulator instead.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from djstripe.models import Customer, Subscription

from subscriptions.access import Access, access_for, access_invalidate

_ids = itertools.count(1)
DAY = 86400


def mirror_customer(user: Any) -> Customer:
    existing = Customer.objects.filter(subscriber=user).first()
    if existing:
        return existing
    cus_id = f"cus_test{next(_ids):06d}"
    return Customer.objects.create(
        id=cus_id,
        subscriber=user,
        livemode=False,
        email=user.email,
        stripe_data={"id": cus_id, "object": "customer", "email": user.email, "livemode": False},
    )


def give_plan(
    user: Any,
    *,
    lookup_key: str = "pro_monthly",
    status: str = "active",
    cancel_at_period_end: bool = False,
    period_start: int | None = None,
    period_end: int | None = None,
    trial_end: int | None = None,
    unit_amount: int | None = None,
    currency: str = "usd",
    interval: str = "month",
    interval_count: int = 1,
    quantity: int = 1,
    created: int | None = None,
    canceled_at: int | None = None,
    ended_at: int | None = None,
) -> Subscription:
    """A mirrored subscription for ``user`` on the price ``lookup_key``.

    With ``unit_amount`` the price also carries ``unit_amount``, ``currency``
    and ``recurring`` (as Stripe sends them); ``created`` defaults to the
    period start; ``canceled_at`` and ``ended_at`` are written only when given.
    """
    customer = mirror_customer(user)
    now = int(time.time())
    start = period_start if period_start is not None else now - DAY
    end = period_end if period_end is not None else start + 30 * DAY
    sub_id = f"sub_test{next(_ids):06d}"
    data = {
        "id": sub_id,
        "object": "subscription",
        "customer": customer.id,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": end if cancel_at_period_end else None,
        "trial_end": trial_end,
        "latest_invoice": None,
        "livemode": False,
        "created": created if created is not None else start,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_test{next(_ids):06d}",
                    "object": "subscription_item",
                    "current_period_start": start,
                    "current_period_end": end,
                    "quantity": quantity,
                    "price": {
                        "id": f"price_{lookup_key}",
                        "object": "price",
                        "lookup_key": lookup_key,
                        "product": f"prod_{lookup_key.split('_')[0]}",
                    },
                }
            ],
        },
    }
    if unit_amount is not None:
        data["items"]["data"][0]["price"].update(
            {
                "unit_amount": unit_amount,
                "currency": currency,
                "recurring": {"interval": interval, "interval_count": interval_count},
            }
        )
    if canceled_at is not None:
        data["canceled_at"] = canceled_at
    if ended_at is not None:
        data["ended_at"] = ended_at
    subscription = Subscription.objects.create(
        id=sub_id, customer=customer, livemode=False, stripe_data=data
    )
    access_invalidate(user=user)
    return subscription


def access_now(user: Any) -> Access:
    """The user's access as a new request would see it: the user row loaded afresh.

    ``access_for`` answers as of the ``billing_version`` on the instance it gets, and
    a test's ``user`` was loaded before the webhooks or syncs it is checking.
    """
    return access_for(type(user).objects.get(pk=user.pk))
