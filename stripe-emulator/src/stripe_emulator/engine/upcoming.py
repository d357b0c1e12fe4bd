"""`invoice.upcoming`: the next renewal invoice, announced days before it is made.

Stripe sends it "X number of days before a subscription is scheduled to
create an invoice that is automatically charged", X being the Dashboard's
"Upcoming renewal events" setting, with the invoice as it would be (no `id`)
in `data.object` (API reference, event types). Not sent for
`collection_method=send_invoice`. The emulator's X is the billing setting
`upcoming_renewal_days` (`/_emulator/billing/config`, default 3; 0 turns the
event off). Sent once per renewal (or trial end), on test-clock advances and
by the real-clock pass, when the subscription is not set to end first; a
renewal closer than X days to the start of its period gets none.
"""

from __future__ import annotations

from ..context import Ctx
from .clocks import SubscriptionTimer, register_subscription_timer
from .common import DAY, DEFAULT_UPCOMING_DAYS, UPCOMING_DAYS_KEY, Env, JSONDict, emit_event
from .preview import invoice_preview
from .subscription_state import period_of

_SENT = "_upcoming_sent_for"  # the invoice moment the event was sent for


def next_invoice_at(sub: JSONDict) -> int | None:
    """When the subscription next makes an automatically charged invoice, if it will."""
    if sub["collection_method"] != "charge_automatically" or sub.get("pause_collection"):
        return None
    if sub["status"] == "trialing" and sub.get("trial_end"):
        at = int(sub["trial_end"])
    elif sub["status"] in ("active", "past_due"):
        at = period_of(sub)[1]
    else:
        return None
    if sub.get("cancel_at") and int(sub["cancel_at"]) <= at:
        return None
    return at


def _due(ctx: Ctx, sub: JSONDict) -> int | None:
    days = int(ctx.store.kv_get(UPCOMING_DAYS_KEY, DEFAULT_UPCOMING_DAYS))
    at = next_invoice_at(sub)
    if not days or at is None or sub.get(_SENT) == at:
        return None
    moment = at - days * DAY
    start = int(sub["trial_start"]) if sub["status"] == "trialing" else period_of(sub)[0]
    return moment if moment >= start else None


def upcoming_invoice(ctx: Ctx, sub_id: str, at: int) -> JSONDict:
    """The subscription's next invoice as `invoice.upcoming` shows it (no id), dated `at`."""
    inv = invoice_preview(ctx, {"subscription": sub_id})
    inv.pop("id", None)
    inv["created"] = at
    # The SDK's `billing_reason` enum has `upcoming` for this preview.
    inv["billing_reason"] = "upcoming"
    for line in inv["lines"]["data"]:
        line["invoice"] = None
    inv["lines"]["url"] = "/v1/invoices/upcoming/lines"
    return inv


def _send(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    sub[_SENT] = next_invoice_at(sub)
    ctx.save(sub)
    emit_event(ctx, env, "invoice.upcoming", upcoming_invoice(ctx, sub["id"], env.now))


register_subscription_timer(SubscriptionTimer(_due, _send))
