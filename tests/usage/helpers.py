"""Helpers for the usage tests: teams on plans with their metered items, as Stripe mirrors them."""

from __future__ import annotations

import itertools
import time
from typing import Any

from djstripe.models import Subscription

from subscriptions.access.access import access_invalidate
from subscriptions.catalog import get_catalog
from teams.models import Team
from tests.billing_helpers import DAY, give_plan, team_of

_ids = itertools.count(1)


def give_metered_plan(owner: Any, lookup_key: str = "pro_monthly", **kwargs: Any) -> Subscription:
    """``give_plan`` plus the metered items Checkout adds beside the plan price."""
    now = int(time.time())
    kwargs.setdefault("period_start", now - DAY)
    subscription = give_plan(owner, lookup_key=lookup_key, **kwargs)
    data = subscription.stripe_data
    first = data["items"]["data"][0]
    spec = get_catalog().price(lookup_key)
    for metered_key in spec.metered if spec else ():
        metered = get_catalog().metered_prices[metered_key]
        data["items"]["data"].append(
            {
                "id": f"si_metered{next(_ids):06d}",
                "object": "subscription_item",
                "current_period_start": first["current_period_start"],
                "current_period_end": first["current_period_end"],
                "price": {
                    "id": f"price_{metered_key}",
                    "object": "price",
                    "lookup_key": metered_key,
                    "recurring": {"interval": metered.interval, "usage_type": "metered"},
                },
            }
        )
    subscription.stripe_data = data
    subscription.save(update_fields=["stripe_data"])
    team = team_of(owner)
    Team.objects.filter(pk=team.pk).update(billing_version=team.billing_version + 1)
    access_invalidate(team=team)
    return subscription
