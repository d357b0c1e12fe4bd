"""Time: the real clock, or a test clock's `frozen_time` for objects on one.

Billing code must never call time.time() directly for business time: use
`ctx.now_for_clock(clock_id)` / `ctx.now_for_customer(customer)` so objects
attached to a test clock follow it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Ctx

JSONDict = dict[str, Any]

# Called as fn(ctx, clock, target_time) while a clock advances, in registration
# order, after `test_helpers.test_clock.advancing` and before `ready`. Each
# handler must process everything due in (clock.frozen_time, target_time] in
# chronological order, using ctx.emit(..., automatic=True, created=t).
AdvanceHandler = Callable[["Ctx", JSONDict, int], None]
ADVANCE_HANDLERS: list[AdvanceHandler] = []


def register_advance_handler(fn: AdvanceHandler) -> AdvanceHandler:
    ADVANCE_HANDLERS.append(fn)
    return fn


# Called as fn(ctx, clock, target_time) before anything changes; raising a
# StripeAPIError refuses the advance (e.g. the billing engine's limit of two
# intervals of the clock's shortest subscription).
ADVANCE_VALIDATORS: list[AdvanceHandler] = []


def register_advance_validator(fn: AdvanceHandler) -> AdvanceHandler:
    ADVANCE_VALIDATORS.append(fn)
    return fn


def real_now() -> int:
    return int(time.time())
