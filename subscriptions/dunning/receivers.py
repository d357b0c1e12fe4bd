"""The billing domain's own reaction to processed events: recovered revenue."""

from __future__ import annotations

from typing import Any

from . import services


def on_billing_event_processed(
    sender: Any, *, event_type: str, obj: dict[str, Any], **kwargs: Any
) -> None:
    if event_type == "invoice.paid":
        services.recovery_record_from_paid_event(invoice=obj)
