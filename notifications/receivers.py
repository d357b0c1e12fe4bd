"""Receivers of the billing domain's signals: one line each, calling a service."""

from __future__ import annotations

from typing import Any

from . import services


def on_usage_threshold_reached(sender: Any, **kwargs: Any) -> None:
    services.notify_usage_threshold(**{k: v for k, v in kwargs.items() if k != "signal"})


def on_subscription_duplicates_canceled(
    sender: Any,
    *,
    resolutions: list[Any],
    team_id: int | None,
    stripe_event_id: str,
    livemode: bool,
    **kwargs: Any,
) -> None:
    services.notify_duplicates_canceled(
        resolutions=resolutions, team_id=team_id, stripe_event_id=stripe_event_id, livemode=livemode
    )


def on_billing_event_processed(
    sender: Any,
    *,
    team_id: int,
    stripe_event_id: str,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    livemode: bool,
    **kwargs: Any,
) -> None:
    services.notify_from_stripe_event(
        team_id=team_id,
        event_id=stripe_event_id,
        event_type=event_type,
        obj=obj,
        previous=previous,
        livemode=livemode,
    )


def on_staff_billing_event_processed(
    sender: Any,
    *,
    stripe_event_id: str,
    event_type: str,
    obj: dict[str, Any],
    livemode: bool,
    **kwargs: Any,
) -> None:
    services.notify_staff_from_stripe_event(
        event_id=stripe_event_id, event_type=event_type, obj=obj, livemode=livemode
    )


def on_staff_refund_issued(sender: Any, *, refund: Any, **kwargs: Any) -> None:
    services.notify_refund_issued(refund=refund)
