"""Customers: what happens elsewhere when one is deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import Ctx

JSONDict = dict[str, Any]


# fn(ctx, customer) run when a customer with live subscriptions is deleted
# (Stripe cancels them immediately). Registered by the billing engine.
CUSTOMER_DELETE_HOOKS: list[Callable[[Ctx, JSONDict], None]] = []
