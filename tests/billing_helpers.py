"""Put teams on plans in the local mirror, without Stripe.

A ``User`` given where a team is expected stands for the user's personal team
(the team every user gets at signup), so single-user tests read as before.

For tests of gating and pages: rows look like what dj-stripe stores after a
sync at API version 2026-05-27.dahlia (periods on the items, status in JSON).
Flows that involve Stripe itself use the emulator instead.
"""

from __future__ import annotations

import itertools
import time

from django.test import Client
from djstripe.models import Customer, Subscription

from accounts.models import User
from subscriptions.access.access import Access, access_for, access_invalidate
from teams.models import Team
from teams.services import team_personal_ensure

_ids = itertools.count(1)
DAY = 86400


def personal_team(user: User) -> Team:
    """The user's personal team, loaded now (with its current billing version)."""
    team = team_personal_ensure(user=user)
    return Team.objects.get(pk=team.pk)


def team_of(owner: User | Team) -> Team:
    return owner if isinstance(owner, Team) else personal_team(owner)


def mirror_customer(owner: User | Team) -> Customer:
    team = team_of(owner)
    existing = Customer.objects.filter(subscriber=team).first()
    if existing:
        return existing
    cus_id = f"cus_test{next(_ids):06d}"
    return Customer.objects.create(
        id=cus_id,
        subscriber=team,
        livemode=False,
        email=team.email,
        stripe_data={"id": cus_id, "object": "customer", "email": team.email, "livemode": False},
    )


def give_plan(
    owner: User | Team,
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
    """A mirrored subscription for ``owner`` (a team, or a user's personal team) on the
    price ``lookup_key``.

    With ``unit_amount`` the price also carries ``unit_amount``, ``currency``
    and ``recurring`` (as Stripe sends them); ``created`` defaults to the
    period start; ``canceled_at`` and ``ended_at`` are written only when given.
    """
    team = team_of(owner)
    customer = mirror_customer(team)
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
    access_invalidate(team=team)
    return subscription


def access_now(owner: User | Team) -> Access:
    """The team's access as a new request would see it: the team row loaded afresh.

    ``access_for`` answers as of the ``billing_version`` on the instance it gets, and
    a test's team was loaded before the webhooks or syncs it is checking.
    """
    team = team_of(owner)
    return access_for(Team.objects.get(pk=team.pk))


def turl(owner: User | Team | Client, name: str, **kwargs: object) -> str:
    """The URL of a team page: a user (or a client logged in as one) stands for their
    personal team."""
    from django.urls import reverse

    if isinstance(owner, Client):
        owner = User.objects.get(pk=owner.session["_auth_user_id"])
    return reverse(name, kwargs={"team_slug": team_of(owner).slug, **kwargs})


def tpath(client: Client, path: str) -> str:
    """``path`` (a page from before teams, e.g. "/billing/") in the personal team of the
    user ``client`` is logged in as."""
    user = User.objects.get(pk=client.session["_auth_user_id"])
    return f"/t/{personal_team(user).slug}{path}"
