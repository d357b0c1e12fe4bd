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

from subscriptions.access import access_invalidate

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
) -> Subscription:
    """A mirrored subscription for ``user`` on the price ``lookup_key``."""
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
        "created": start,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_test{next(_ids):06d}",
                    "object": "subscription_item",
                    "current_period_start": start,
                    "current_period_end": end,
                    "quantity": 1,
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
    subscription = Subscription.objects.create(
        id=sub_id, customer=customer, livemode=False, stripe_data=data
    )
    access_invalidate(user_id=user.pk)
    return subscription
