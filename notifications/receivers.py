"""Receivers of the billing domain's signals: one line each, calling a service."""

from __future__ import annotations

from typing import Any

from . import services


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


def on_seats_drift_fixed(sender: Any, *, drift: Any, outcome: Any, **kwargs: Any) -> None:
    services.notify_staff_seat_drift(drift=drift, outcome=outcome)
