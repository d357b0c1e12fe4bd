"""What every engine step shares: the business moment (`Env`), settings, calendar maths, URLs."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ..context import Ctx
from ..errors import invalid_request, resource_missing

JSONDict = dict[str, Any]


Origin = Literal["api", "checkout", "portal"]


DAY = 86400


TIMES = "\u00d7"  # the multiplication sign of Stripe's "1 x Product" descriptions


HOUR = 3600


# Stripe finalises a subscription's draft invoice about an hour after
# `invoice.created` (once webhook endpoints answered 2xx, at most 72 h).
# The emulator always waits this many seconds of business time, whatever
# the webhook outcome: deterministic for tests, close enough to Stripe.
FINALIZE_DELAY_KEY = "billing.finalize_delay_seconds"


DEFAULT_FINALIZE_DELAY = HOUR


# Days between automatic payment attempts of a failed subscription invoice,
# each counted from the previous attempt (a Smart-Retries-like fixed schedule:
# retries 3, 8 and 15 days after the first failure).
RETRY_SCHEDULE_KEY = "billing.retry_schedule_days"


DEFAULT_RETRY_SCHEDULE = (3, 5, 7)


# What happens when the last retry failed: "cancel" | "unpaid" | "past_due".
FINAL_ACTION_KEY = "billing.final_action"


DEFAULT_FINAL_ACTION = "cancel"


# An `incomplete` subscription whose first invoice is unpaid after this long
# becomes `incomplete_expired` (Stripe: 23 hours).
INCOMPLETE_EXPIRY_KEY = "billing.incomplete_expiry_seconds"


DEFAULT_INCOMPLETE_EXPIRY = 23 * HOUR


TRIAL_WILL_END_BEFORE = 3 * DAY


# Whether past_due subscriptions keep their entitlements (read by
# resources/entitlements.py; default keep).
PAST_DUE_ENTITLED_KEY = "entitlements.past_due"


# Refuse test-clock advances beyond two intervals of the shortest subscription
# (Stripe's rule); off for tooling that jumps far ahead.
ADVANCE_LIMIT_KEY = "billing.enforce_advance_limit"


FINAL_ACTIONS = ("cancel", "unpaid", "past_due")


# Days before a renewal that `invoice.upcoming` is sent (the Dashboard's
# "Upcoming renewal events" setting; engine/upcoming.py). 0 turns it off.
UPCOMING_DAYS_KEY = "billing.upcoming_renewal_days"


DEFAULT_UPCOMING_DAYS = 3


def settings(ctx: Ctx) -> JSONDict:
    """The current billing settings (documented in the README)."""
    return {
        "finalize_delay_seconds": int(ctx.store.kv_get(FINALIZE_DELAY_KEY, DEFAULT_FINALIZE_DELAY)),
        "retry_schedule_days": [
            float(x) for x in ctx.store.kv_get(RETRY_SCHEDULE_KEY, list(DEFAULT_RETRY_SCHEDULE))
        ],
        "final_action": str(ctx.store.kv_get(FINAL_ACTION_KEY, DEFAULT_FINAL_ACTION)),
        "incomplete_expiry_seconds": int(
            ctx.store.kv_get(INCOMPLETE_EXPIRY_KEY, DEFAULT_INCOMPLETE_EXPIRY)
        ),
        "past_due_keeps_entitlements": bool(ctx.store.kv_get(PAST_DUE_ENTITLED_KEY, True)),
        "enforce_advance_limit": bool(ctx.store.kv_get(ADVANCE_LIMIT_KEY, True)),
        "upcoming_renewal_days": int(ctx.store.kv_get(UPCOMING_DAYS_KEY, DEFAULT_UPCOMING_DAYS)),
    }


def update_settings(ctx: Ctx, body: JSONDict) -> JSONDict:
    if "finalize_delay_seconds" in body:
        ctx.store.kv_set(FINALIZE_DELAY_KEY, max(0, int(body["finalize_delay_seconds"])))
    if "retry_schedule_days" in body:
        days = [float(x) for x in body["retry_schedule_days"]]
        if any(d <= 0 for d in days):
            raise invalid_request("retry_schedule_days must be positive numbers of days")
        ctx.store.kv_set(RETRY_SCHEDULE_KEY, days)
    if "final_action" in body:
        if body["final_action"] not in FINAL_ACTIONS:
            raise invalid_request(f"final_action must be one of {', '.join(FINAL_ACTIONS)}")
        ctx.store.kv_set(FINAL_ACTION_KEY, body["final_action"])
    if "incomplete_expiry_seconds" in body:
        ctx.store.kv_set(INCOMPLETE_EXPIRY_KEY, max(1, int(body["incomplete_expiry_seconds"])))
    if "enforce_advance_limit" in body:
        ctx.store.kv_set(ADVANCE_LIMIT_KEY, bool(body["enforce_advance_limit"]))
    if "past_due_keeps_entitlements" in body:
        ctx.store.kv_set(PAST_DUE_ENTITLED_KEY, bool(body["past_due_keeps_entitlements"]))
    if "upcoming_renewal_days" in body:
        upcoming = int(body["upcoming_renewal_days"])
        if not 0 <= upcoming <= 60:
            raise invalid_request("upcoming_renewal_days must be a number of days from 0 to 60")
        ctx.store.kv_set(UPCOMING_DAYS_KEY, upcoming)
    return settings(ctx)


@dataclass(frozen=True)
class Env:
    """Business time of the step being processed and whether a request caused it."""

    now: int
    automatic: bool = False


def emit_event(
    ctx: Ctx, env: Env, event_type: str, obj: JSONDict, previous: JSONDict | None = None
) -> None:
    ctx.emit(event_type, obj, previous=previous, automatic=env.automatic, created=env.now)


def api_env(ctx: Ctx, customer: str | JSONDict | None) -> Env:
    return Env(ctx.now_for_customer(customer))


def deep_copy(obj: Any) -> Any:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    return json.loads(json.dumps(obj))


def id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("id"))
    return value if isinstance(value, str) and value else None


def add_interval(ts: int, interval: str, count: int, anchor_day: int | None = None) -> int:
    """`ts` moved by `count` intervals; months clamp to the anchor's day (Jan 31 -> Feb 28)."""
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(ts, UTC)
    years, month0 = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + years, month0 + 1
    day = min(anchor_day or dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def next_boundary(anchor: int, interval: str, count: int, after: int) -> int:
    """The first billing-cycle boundary (anchor + n intervals, n >= 1) strictly after `after`.

    Boundaries are computed from the anchor each time so that month-end
    clamping never drifts (anchor Jan 31: Feb 28, Mar 31, Apr 30, ...).
    """
    day = datetime.fromtimestamp(anchor, UTC).day
    if interval in ("day", "week"):
        step = count * (DAY if interval == "day" else 7 * DAY)
        n = max(1, (after - anchor) // step + 1)
        return anchor + n * step
    months = count * (12 if interval == "year" else 1)
    # Start from an underestimate (31-day months) so no boundary is skipped.
    n = max(1, (after - anchor) // (31 * DAY * months)) if after > anchor else 1
    while True:
        t = add_interval(anchor, "month", months * n, day)
        if t > after:
            return t
        n += 1


def format_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%-d %b %Y")


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        return 0
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    return sign * (q + (1 if 2 * r >= denominator else 0))


def base_url(ctx: Ctx) -> str:
    return (ctx.app.config.public_url or "http://127.0.0.1:12111").rstrip("/")


def authentication_url(ctx: Ctx, intent_id: str) -> str:
    """The 3-D Secure challenge page for a PaymentIntent or SetupIntent.

    Served by the hosted-pages module at GET /3ds/{intent_id}; its buttons call
    `payment_intent_authenticate` / `setup_intent_authenticate`.
    """
    return f"{base_url(ctx)}/3ds/{intent_id}"


def hosted_invoice_url(ctx: Ctx, invoice: JSONDict) -> str:
    """GET /invoices/{id}: the hosted invoice page (pay with a card when open)."""
    return f"{base_url(ctx)}/invoices/{invoice['id']}"


def invoice_pdf_url(ctx: Ctx, invoice: JSONDict) -> str:
    """GET /invoices/{id}/pdf: the invoice as a PDF."""
    return f"{base_url(ctx)}/invoices/{invoice['id']}/pdf"


def format_money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency.upper()} {abs(amount) / 100:.2f}"


TERMINAL = ("canceled", "incomplete_expired")


SUBSCRIPTION_PATH = "parent.subscription_details.subscription"


def customer_or_404(ctx: Ctx, customer_id: str) -> JSONDict:
    customer = ctx.get("customer", customer_id, param="customer")
    if customer.get("deleted"):
        raise resource_missing("customer", customer_id, param="customer")
    return customer
