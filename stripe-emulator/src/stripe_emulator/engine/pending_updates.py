"""Pending updates: `payment_behavior=pending_if_incomplete` on subscription updates.

As Stripe documents them (docs.stripe.com/billing/subscriptions/pending-updates
and .../pending-updates-reference):

* Only some parameters may go with `pending_if_incomplete` (`SUBSCRIPTION_PARAMS`,
  and `price`/`quantity` per item); anything else is a 400.
* An update that makes no invoice (e.g. `create_prorations`) is applied at
  once. One that makes an invoice (`always_invoice`, a new billing period,
  the end of a trial) is applied only if that invoice is paid: if the payment
  fails or needs 3-D Secure, the subscription keeps its items, the invoice
  stays `open` as `latest_invoice`, and the changes wait in `pending_update`
  (`billing_cycle_anchor`, `expires_at`, `subscription_items`, `trial_end`,
  `trial_from_plan`).
* Paying that invoice later (API `pay`, the hosted invoice page, completing
  3-D Secure) applies them: `customer.subscription.updated` and
  `customer.subscription.pending_update_applied`. Another failure changes
  nothing.
* `expires_at` is the trial end or the current period end, whichever comes
  first, and at most 23 hours after the update. Then the invoice is voided
  and the update discarded: `customer.subscription.pending_update_expired`.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..updates import apply_metadata
from . import subscriptions
from .clocks import SubscriptionTimer, register_subscription_timer
from .common import HOUR, TERMINAL, Env, JSONDict, api_env, deep_copy, emit_event, id_of
from .invoicing import invoice_subscription, on_invoice_paid, void_invoice
from .subscription_state import (
    period_of,
    refresh_entitlements,
    save_subscription,
    subscription_items,
)

PENDING_IF_INCOMPLETE = "pending_if_incomplete"
# "If these times are greater than 23 hours from the time the update is made,
# the expired_at time is calculated to 23 hours after the update call was made."
PENDING_UPDATE_LIFETIME = 23 * HOUR

# docs.stripe.com/billing/subscriptions/pending-updates-reference, "Supported attributes",
# plus `metadata` and `discounts` (changelog dahlia/2026-05-27:
# pending-subscription-update-metadata, pending-subscription-updates-discount-
# and-discounts-properties), both in the emulator's oldest version.
SUBSCRIPTION_PARAMS = (
    "expand",
    "payment_behavior",
    "proration_behavior",
    "proration_date",
    "billing_cycle_anchor",
    "items",
    "trial_end",
    "trial_from_plan",
    "add_invoice_items",
    "metadata",
    "discounts",
)
# `items[]` entries: price and quantity (by id); the item endpoints' `metadata`
# rides along with the held item.
ITEM_PARAMS = ("id", "price", "quantity", "metadata")

# What a held update changes when it is applied.
_APPLIED_FIELDS = ("items", "billing_cycle_anchor", "trial_start", "trial_end")


def unsupported_param_error(param: str) -> Exception:
    return invalid_request(
        f"You cannot pass `{param}` with `payment_behavior=pending_if_incomplete`: "
        "pending updates support only "
        + ", ".join(f"`{p}`" for p in SUBSCRIPTION_PARAMS)
        + " (and `price`, `quantity`, `metadata` for items).",
        param=param,
    )


def check_pending_params(sub: JSONDict, params: JSONDict) -> None:
    """The 400s of an update with `pending_if_incomplete` (before anything changes)."""
    for key in params:
        if key not in SUBSCRIPTION_PARAMS:
            raise unsupported_param_error(key)
    for i, entry in enumerate(params.get("items") or []):
        for key in entry:
            if key not in ITEM_PARAMS:
                raise unsupported_param_error(f"items[{i}][{key}]")
    if sub["collection_method"] == "send_invoice":
        # "Pending updates aren't supported when the subscription's
        # collection_method is send_invoice."
        raise invalid_request(
            "Pending updates are not supported for subscriptions with "
            "`collection_method=send_invoice`.",
            param="payment_behavior",
        )


def subscription_update(
    ctx: Ctx, sub_id: str, params: JSONDict, *, env: Env | None = None
) -> JSONDict:
    """POST /v1/subscriptions/{id}: `subscriptions.subscription_update`, with
    `payment_behavior=pending_if_incomplete` holding a change whose invoice is
    not paid in `pending_update`. `env` (schedule-driven changes) goes through."""
    if params.get("payment_behavior") != PENDING_IF_INCOMPLETE or env is not None:
        return subscriptions.subscription_update(ctx, sub_id, params, env=env)
    sub = ctx.get("subscription", sub_id)
    check_pending_params(sub, params)
    before = deep_copy(sub)
    run = {**params, "payment_behavior": "allow_incomplete"}
    # First as a plain update: kept when no invoice is made or it is paid.
    try:
        with ctx.store.atomic():
            result = subscriptions.subscription_update(ctx, sub_id, run)
            if not _update_invoice_unpaid(ctx, before, result):
                return result
            raise _Unpaid()
    except _Unpaid:
        ctx.emitted[:] = [e for e in ctx.emitted if ctx.store.get(e["id"]) is not None]
    # The payment failed (or needs authentication): again, this time keeping
    # the invoice and its payment attempt but not the subscription's changes.
    return _hold_update(ctx, before, run)


class _Unpaid(Exception):
    pass


def _update_invoice_unpaid(ctx: Ctx, before: JSONDict, after: JSONDict) -> bool:
    inv_id = id_of(after.get("latest_invoice"))
    if not inv_id or inv_id == id_of(before.get("latest_invoice")):
        return False
    inv = ctx.get("invoice", inv_id)
    return bool(inv["status"] == "open" and inv["amount_remaining"] > 0)


def _hold_update(ctx: Ctx, before: JSONDict, run: JSONDict) -> JSONDict:
    sub_id, customer_id = str(before["id"]), str(before["customer"])
    entitlements = ctx.store.all_where(
        "entitlements.active_entitlement", {"_customer": customer_id}
    )

    def keep(event_type: str, obj: JSONDict) -> bool:
        if event_type.startswith("customer.subscription.") and obj.get("id") == sub_id:
            return False
        return not event_type.startswith("entitlements.")

    ctx.event_filter = keep
    try:
        changed = subscriptions.subscription_update(ctx, sub_id, run)
    finally:
        ctx.event_filter = None
    env = api_env(ctx, customer_id)
    held = deep_copy(before)
    held["latest_invoice"] = changed["latest_invoice"]
    held["pending_update"] = _pending_update(env, before, changed, run)
    state: dict[str, Any] = {k: changed.get(k) for k in _APPLIED_FIELDS}
    if "discounts" in run:
        state["discounts"] = changed.get("discounts")
    if before["status"] == "trialing" and changed.get("trial_end") != before.get("trial_end"):
        state["status"] = "active" if changed["trial_end"] <= env.now else "trialing"
    held["_pending"] = {"invoice": id_of(changed["latest_invoice"]), "state": state}
    kept = {i["id"] for i in subscription_items(before)}
    held["_removed_items"] = [i["id"] for i in subscription_items(changed) if i["id"] not in kept]
    save_subscription(ctx, held)
    _restore_entitlements(ctx, customer_id, entitlements)
    emit_event(ctx, env, "customer.subscription.updated", held, previous=before)
    return ctx.get("subscription", sub_id)


def _pending_update(env: Env, before: JSONDict, changed: JSONDict, run: JSONDict) -> JSONDict:
    expires = env.now + PENDING_UPDATE_LIFETIME
    expires = min(expires, period_of(before)[1])
    if before["status"] == "trialing" and before.get("trial_end"):
        expires = min(expires, int(before["trial_end"]))
    return {
        "billing_cycle_anchor": (
            changed["billing_cycle_anchor"] if "billing_cycle_anchor" in run else None
        ),
        "expires_at": expires,
        "subscription_items": subscription_items(changed) if "items" in run else None,
        "trial_end": changed.get("trial_end") if "trial_end" in run else None,
        "trial_from_plan": bool(run["trial_from_plan"]) if "trial_from_plan" in run else None,
        # "The metadata is stored in pending_update.metadata and applied to the
        # subscription when the pending update is resolved" (merged).
        "metadata": dict(run["metadata"]) if run.get("metadata") else None,
        "discount": None,
        "discounts": changed.get("discounts") if "discounts" in run else None,
    }


def _restore_entitlements(ctx: Ctx, customer_id: str, saved: list[JSONDict]) -> None:
    for ent in ctx.store.all_where("entitlements.active_entitlement", {"_customer": customer_id}):
        ctx.store.remove(ent["id"])
    for ent in saved:
        ctx.save(ent)


def held_invoice(sub: JSONDict) -> str | None:
    """The invoice whose payment a pending update waits for."""
    return (sub.get("_pending") or {}).get("invoice")


@on_invoice_paid
def _apply_when_paid(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    sub = invoice_subscription(ctx, inv)
    if sub is None or held_invoice(sub) != inv["id"] or sub["status"] in TERMINAL:
        return
    before = deep_copy(sub)
    state = sub.pop("_pending")["state"]
    kept = {i["id"] for i in subscription_items(state)}
    sub["_removed_items"] = [i["id"] for i in subscription_items(sub) if i["id"] not in kept]
    for key in _APPLIED_FIELDS:
        sub[key] = state[key]
    if "discounts" in state:
        sub["discounts"] = state["discounts"]
    held_metadata = (sub.get("pending_update") or {}).get("metadata")
    if held_metadata:
        sub["metadata"] = apply_metadata(sub.get("metadata"), held_metadata)
    if state.get("status") and sub["status"] == "trialing":
        sub["status"] = state["status"]
    sub["pending_update"] = None
    save_subscription(ctx, sub)
    emit_event(ctx, env, "customer.subscription.updated", sub, previous=before)
    emit_event(ctx, env, "customer.subscription.pending_update_applied", sub, previous=before)
    refresh_entitlements(ctx, env, sub["customer"])


def _expiry_due(ctx: Ctx, sub: JSONDict) -> int | None:
    if not held_invoice(sub) or not sub.get("pending_update"):
        return None
    return int(sub["pending_update"]["expires_at"])


def _expire(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    """Not paid in time: the invoice is voided and the update discarded."""
    inv = ctx.find("invoice", held_invoice(sub) or "")
    if inv is not None and inv["status"] in ("open", "uncollectible"):
        void_invoice(ctx, env, inv)
        sub = ctx.get("subscription", sub["id"])
    before = deep_copy(sub)
    sub.pop("_pending", None)
    sub["pending_update"] = None
    save_subscription(ctx, sub)
    emit_event(ctx, env, "customer.subscription.updated", sub, previous=before)
    emit_event(ctx, env, "customer.subscription.pending_update_expired", sub, previous=before)


register_subscription_timer(SubscriptionTimer(_expiry_due, _expire))
