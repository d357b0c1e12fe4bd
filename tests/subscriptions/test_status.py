"""Stripe's subscription statuses are one enum, the one the stripe SDK declares."""

from __future__ import annotations

import typing

import stripe

from subscriptions import status
from subscriptions.status import SubscriptionStatus


def _sdk_statuses() -> set[str]:
    # The SDK's annotation of Subscription.status: Union[Literal[...the statuses...], str].
    annotation = stripe.Subscription.__annotations__["status"]
    if isinstance(annotation, str):
        annotation = eval(annotation, {"Union": typing.Union, "Literal": typing.Literal})  # noqa: S307
    [literal] = [arg for arg in typing.get_args(annotation) if typing.get_origin(arg)]
    return set(typing.get_args(literal))


def test_the_enum_is_the_sdks_list_of_subscription_statuses() -> None:
    assert {s.value for s in SubscriptionStatus} == _sdk_statuses()
    assert len(_sdk_statuses()) == 8


def test_every_named_set_is_made_of_statuses_and_ranks_them_all() -> None:
    for subset in (status.ACCESS, status.LIVE, status.ENDED, status.DUPLICATE_CANDIDATES):
        assert subset <= set(status.ALL)
    assert status.ACCESS < status.LIVE  # access implies a live subscription
    assert not status.LIVE & status.ENDED
    assert sorted(status.CURRENT_RANK, key=status.CURRENT_RANK.__getitem__)[:2] == [
        "active",
        "trialing",
    ]
    assert set(status.CURRENT_RANK) == set(status.ALL)


def test_a_member_stands_for_the_string_stripe_sends() -> None:
    # Statuses come from Stripe's JSON as plain strings; sets and dicts must find them.
    assert "past_due" in status.MRR
    assert status.CURRENT_RANK["incomplete_expired"] == len(status.ALL) - 1
    assert SubscriptionStatus("trialing") is SubscriptionStatus.TRIALING
