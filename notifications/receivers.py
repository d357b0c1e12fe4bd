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
