"""Subscription schedules: phases applied to a subscription as time passes.

What Stripe documents (docs.stripe.com/api/subscription_schedules and the
guide docs.stripe.com/billing/subscriptions/subscription-schedules):

* A schedule is created for a `customer` with `phases`, starting `now` or
  at a future `start_date` (`not_started` until then; the subscription is
  created when the first phase starts), or `from_subscription`: one phase
  from the subscription's current period, `end_behavior=release`.
* A phase lasts until its `end_date` or for its `duration` (`iterations` was
  removed in 2025-09-30.clover: changelog/clover/2025-09-30/remove-iterations).
  When a phase starts, Stripe updates the subscription with the phase's
  attributes, prorating per the phase's `proration_behavior`.
* When the last phase ends the schedule completes: with `end_behavior=release`
  the subscription is released from the schedule and keeps running (status
  `released`, `released_subscription`); with `cancel` the subscription is
  canceled (status `completed`, `completed_at`).
* Update: "past phases can be omitted"; the first phase passed must have its
  `start_date`, and for an active schedule the current phase keeps its start.
* Release (`not_started`/`active` only) leaves the subscription in place and
  moves its id to `released_subscription`; cancel ends the subscription now
  (`invoice_now` and `prorate` default to true).
* Events: `subscription_schedule.created`, `.updated`, `.released`,
  `.canceled`, `.completed`, `.expiring` (7 days before the schedule ends),
  `.aborted` (canceled because the subscription was canceled for delinquency).
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..params import UNSET
from ..updates import apply_metadata
from .cancellation import SUBSCRIPTION_CANCELED_HOOKS, cancel_now
from .common import (
    DAY,
    TERMINAL,
    Env,
    JSONDict,
    add_interval,
    api_env,
    customer_or_404,
    deep_copy,
    emit_event,
)
from .customers import CUSTOMER_DELETE_HOOKS
from .pricing import recurring_price
from .subscription_state import (
    emit_subscription_updated,
    period_of,
    subscription_items,
)
from .subscriptions import subscription_create, subscription_update
from .tax import automatic_tax_enabled, subscription_automatic_tax, tax_rates_from_params

EXPIRING_BEFORE = 7 * DAY

# "You can configure up to 10 phases" (billing/subscriptions/subscription-schedules).
MAX_PHASES = 10

LIVE = ("not_started", "active")

# Phase parameters the emulator does not model; it refuses them instead of
# ignoring them (README "Known differences").
_UNMODELLED_PHASE_PARAMS = (
    "add_invoice_items",
    "application_fee_percent",
    "billing_thresholds",
    "discounts",
    "invoice_settings",
    "on_behalf_of",
    "transfer_data",
)


# -- building phases ------------------------------------------------------------


def _phase_items(ctx: Ctx, raw: JSONDict, param: str) -> tuple[list[JSONDict], list[JSONDict]]:
    entries = raw.get("items") or []
    if not entries:
        raise invalid_request(
            "Missing required param: items.", param=f"{param}[items]", code="parameter_missing"
        )
    items: list[JSONDict] = []
    prices: list[JSONDict] = []
    for i, entry in enumerate(entries):
        price = recurring_price(ctx, entry, f"{param}[items][{i}]")
        if any(p["id"] == price["id"] for p in prices):
            raise invalid_request(
                "Cannot add multiple subscription items with the same price.",
                param=f"{param}[items][{i}][price]",
            )
        prices.append(price)
        metered = price["recurring"].get("usage_type") == "metered"
        items.append(
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": apply_metadata({}, entry.get("metadata")),
                "plan": price["id"],
                "price": price["id"],
                # Metered prices take no quantity (usage comes from the meter).
                "quantity": None if metered else int(entry.get("quantity", 1)),
                "tax_rates": tax_rates_from_params(
                    ctx, entry.get("tax_rates"), f"{param}[items][{i}][tax_rates]"
                ),
            }
        )
    return items, prices


def _phase_end(raw: JSONDict, param: str, start: int, price: JSONDict, now: int) -> int:
    """`end_date`, else `duration`, else one billing interval of the phase's price."""
    if raw.get("end_date") is not None and raw.get("duration"):
        raise invalid_request(
            "You may only specify one of these parameters: duration, end_date.",
            param=f"{param}[end_date]",
        )
    if raw.get("end_date") is not None:
        end = now if raw["end_date"] == "now" else int(raw["end_date"])
    elif raw.get("duration"):
        duration = raw["duration"]
        end = add_interval(start, duration["interval"], int(duration.get("interval_count", 1)))
    else:
        rec = price["recurring"]
        end = add_interval(start, rec["interval"], int(rec.get("interval_count", 1)))
    if end <= start:
        raise invalid_request(
            "The phase end_date must be after its start_date.", param=f"{param}[end_date]"
        )
    return end


def _phase_trial_end(raw: JSONDict, param: str, start: int, end: int) -> int | None:
    value = raw.get("trial_end")
    if raw.get("trial"):
        # changelog/dahlia/2026-07-29/subscription-schedule-phases-trial-property:
        # trial=true with trial_end is accepted when trial_end is the phase's end.
        if value is not None and (end if value == "now" else int(value)) != end:
            raise invalid_request(
                "When trial is true, trial_end must match the phase end_date.",
                param=f"{param}[trial_end]",
            )
        return end
    if value is None:
        return None
    trial_end = start if value == "now" else int(value)
    if not start <= trial_end <= end:
        raise invalid_request(
            "The trial_end must be within the phase.", param=f"{param}[trial_end]"
        )
    return trial_end


def _automatic_tax(source: JSONDict) -> JSONDict:
    return subscription_automatic_tax(automatic_tax_enabled(source.get("automatic_tax")))


def _build_phase(ctx: Ctx, raw: JSONDict, param: str, start: int, now: int) -> JSONDict:
    for name in _UNMODELLED_PHASE_PARAMS:
        if raw.get(name):
            raise invalid_request(
                f"The emulator does not model `{name}` on subscription schedule phases.",
                param=f"{param}[{name}]",
            )
    items, prices = _phase_items(ctx, raw, param)
    end = _phase_end(raw, param, start, prices[0], now)
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": _automatic_tax(raw),
        "billing_cycle_anchor": raw.get("billing_cycle_anchor"),
        "billing_thresholds": None,
        "collection_method": raw.get("collection_method"),
        "currency": prices[0]["currency"],
        "default_payment_method": raw.get("default_payment_method") or None,
        "default_tax_rates": tax_rates_from_params(
            ctx, raw.get("default_tax_rates"), f"{param}[default_tax_rates]"
        ),
        "description": raw.get("description") or None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": items,
        "metadata": apply_metadata({}, raw.get("metadata")),
        "on_behalf_of": None,
        "proration_behavior": raw.get("proration_behavior") or "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial": bool(raw.get("trial")),
        "trial_end": _phase_trial_end(raw, param, start, end),
    }


def _build_phases(ctx: Ctx, raw_phases: list[JSONDict], start: int, now: int) -> list[JSONDict]:
    if not raw_phases:
        raise invalid_request(
            "Missing required param: phases.", param="phases", code="parameter_missing"
        )
    if len(raw_phases) > MAX_PHASES:
        raise invalid_request(
            f"A subscription schedule can have at most {MAX_PHASES} phases.", param="phases"
        )
    phases: list[JSONDict] = []
    for i, raw in enumerate(raw_phases):
        given = raw.get("start_date")
        if i > 0 and given is not None and int(given) != start:
            raise invalid_request(
                "The start_date of a phase must equal the end_date of the phase before it.",
                param=f"phases[{i}][start_date]",
            )
        phase = _build_phase(ctx, raw, f"phases[{i}]", start, now)
        phases.append(phase)
        start = phase["end_date"]
    return phases


def _default_settings(params: JSONDict) -> JSONDict:
    raw = params.get("default_settings") or {}
    invoice = raw.get("invoice_settings") or {}
    return {
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": raw.get("billing_cycle_anchor") or "automatic",
        "billing_thresholds": None,
        "collection_method": raw.get("collection_method") or "charge_automatically",
        "default_payment_method": raw.get("default_payment_method") or None,
        "description": raw.get("description") or None,
        "invoice_settings": {
            "account_tax_ids": None,
            "days_until_due": invoice.get("days_until_due"),
            "issuer": {"type": "self"},
        },
        "on_behalf_of": None,
        "transfer_data": None,
    }


def _new_schedule(customer: JSONDict, params: JSONDict, now: int) -> JSONDict:
    return {
        "id": new_id("subscription_schedule"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": now,
        },
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": None,
        "customer": customer["id"],
        "customer_account": None,
        "default_settings": _default_settings(params),
        "end_behavior": params.get("end_behavior") or "release",
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "pause_schedules": [],
        "phases": [],
        "released_at": None,
        "released_subscription": None,
        "status": "not_started",
        "subscription": None,
        "test_clock": customer.get("test_clock"),
    }


def _check_end_behavior(params: JSONDict) -> None:
    # `none` and `renew` are legacy values the API reference no longer offers
    # for new schedules ("Possible values are release or cancel").
    if params.get("end_behavior") not in (None, "release", "cancel"):
        raise invalid_request(
            "Invalid end_behavior: must be one of release or cancel.", param="end_behavior"
        )


# -- create -------------------------------------------------------------------------


def subscription_schedule_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    """POST /v1/subscription_schedules: `customer` + `phases`, or `from_subscription`."""
    _check_end_behavior(params)
    if params.get("from_subscription"):
        return _create_from_subscription(ctx, params)
    if not params.get("customer"):
        raise invalid_request(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    customer = customer_or_404(ctx, params["customer"])
    env = api_env(ctx, customer)
    start_raw = params.get("start_date", "now")
    start = env.now if start_raw == "now" else int(start_raw)
    if start < env.now:
        raise invalid_request(
            "The emulator does not backdate subscription schedules: start_date must be `now` "
            "or in the future.",
            param="start_date",
        )
    sched = _new_schedule(customer, params, env.now)
    sched["phases"] = _build_phases(ctx, params.get("phases") or [], start, env.now)
    ctx.save(sched)
    if start == env.now:
        # Starting now: the subscription exists when the schedule is announced.
        _start(ctx, env, sched["id"], announce=False)
    sched = ctx.get("subscription_schedule", sched["id"])
    emit_event(ctx, env, "subscription_schedule.created", sched)
    return sched


def _create_from_subscription(ctx: Ctx, params: JSONDict) -> JSONDict:
    for name in ("customer", "phases", "start_date", "end_behavior", "default_settings"):
        if name in params:
            raise invalid_request(
                f"You cannot set `{name}` if `from_subscription` is set.", param=name
            )
    sub = ctx.get("subscription", params["from_subscription"], param="from_subscription")
    if sub["status"] in TERMINAL:
        raise invalid_request(
            "You cannot migrate a canceled subscription to a subscription schedule.",
            param="from_subscription",
        )
    if sub.get("schedule"):
        raise invalid_request(
            f"The subscription {sub['id']} is already attached to the subscription schedule "
            f"{sub['schedule']}.",
            param="from_subscription",
        )
    customer = customer_or_404(ctx, sub["customer"])
    env = api_env(ctx, customer)
    sched = _new_schedule(customer, {"metadata": params.get("metadata")}, env.now)
    start, end = period_of(sub)
    sched["default_settings"]["collection_method"] = sub["collection_method"]
    sched["default_settings"]["default_payment_method"] = sub.get("default_payment_method")
    sched["phases"] = [_phase_of_subscription(sub, start, end)]
    sched["status"] = "active"
    sched["subscription"] = sub["id"]
    sched["current_phase"] = {"start_date": start, "end_date": end}
    ctx.save(sched)
    emit_event(ctx, env, "subscription_schedule.created", sched)
    before = deep_copy(sub)
    sub["schedule"] = sched["id"]
    emit_subscription_updated(ctx, env, sub, before)
    return ctx.get("subscription_schedule", sched["id"])


def _phase_of_subscription(sub: JSONDict, start: int, end: int) -> JSONDict:
    items = [
        {
            "billing_thresholds": None,
            "discounts": [],
            "metadata": dict(item.get("metadata") or {}),
            "plan": item["price"]["id"],
            "price": item["price"]["id"],
            "quantity": item.get("quantity"),
            "tax_rates": list(item.get("tax_rates") or []),
        }
        for item in subscription_items(sub)
    ]
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": _automatic_tax(sub),
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": sub["collection_method"],
        "currency": sub["currency"],
        "default_payment_method": sub.get("default_payment_method"),
        "default_tax_rates": list(sub.get("default_tax_rates") or []),
        "description": sub.get("description"),
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": items,
        "metadata": dict(sub.get("metadata") or {}),
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial": False,
        "trial_end": sub.get("trial_end") if sub["status"] == "trialing" else None,
    }


# -- the subscription the phases drive ----------------------------------------------


def _phase_payment_settings(sched: JSONDict, phase: JSONDict) -> JSONDict:
    defaults = sched["default_settings"]
    out: JSONDict = {
        "collection_method": phase.get("collection_method") or defaults["collection_method"],
    }
    pm = phase.get("default_payment_method") or defaults.get("default_payment_method")
    if pm:
        out["default_payment_method"] = pm
    if out["collection_method"] == "send_invoice":
        out["days_until_due"] = defaults["invoice_settings"].get("days_until_due")
    return out


def _phase_tax_params(phase: JSONDict, sub: JSONDict | None) -> JSONDict:
    """The phase's `automatic_tax` and `default_tax_rates` where the subscription differs."""
    out: JSONDict = {}
    enabled = automatic_tax_enabled(phase.get("automatic_tax"))
    if enabled != automatic_tax_enabled((sub or {}).get("automatic_tax")):
        out["automatic_tax"] = {"enabled": enabled}
    rates = _rate_ids(phase.get("default_tax_rates"))
    if rates != _rate_ids((sub or {}).get("default_tax_rates")):
        out["default_tax_rates"] = rates or UNSET
    return out


def _cancel_at_for(sched: JSONDict, index: int) -> int | None:
    """With end_behavior=cancel the subscription shows the schedule's end as cancel_at."""
    if sched["end_behavior"] == "cancel" and index == len(sched["phases"]) - 1:
        return int(sched["phases"][index]["end_date"])
    return None


def _start(ctx: Ctx, env: Env, sched_id: str, *, announce: bool = True) -> None:
    """The first phase starts: the schedule creates its subscription."""
    sched = ctx.get("subscription_schedule", sched_id)
    before = deep_copy(sched)
    phase = sched["phases"][0]
    params: JSONDict = {
        "customer": sched["customer"],
        "items": [_item_params(i) for i in phase["items"]],
        "metadata": phase["metadata"],
        **_phase_payment_settings(sched, phase),
    }
    if phase.get("description"):
        params["description"] = phase["description"]
    params.update(_phase_tax_params(phase, None))
    if phase.get("trial_end") and int(phase["trial_end"]) > env.now:
        params["trial_end"] = int(phase["trial_end"])
    cancel_at = _cancel_at_for(sched, 0)
    if cancel_at is not None:
        params["cancel_at"] = cancel_at
    sched["status"] = "active"
    sched["current_phase"] = {"start_date": phase["start_date"], "end_date": phase["end_date"]}
    sched["_phase"] = 0
    ctx.save(sched)
    sub = subscription_create(ctx, params, env=env, schedule=sched_id)
    sched = ctx.get("subscription_schedule", sched_id)
    sched["subscription"] = sub["id"]
    sched["_set_cancel_at"] = cancel_at is not None
    ctx.save(sched)
    if announce:
        emit_event(ctx, env, "subscription_schedule.updated", sched, previous=before)


def _rate_ids(rates: list[JSONDict] | None) -> list[str]:
    return [str(r["id"]) for r in rates or []]


def _item_params(item: JSONDict) -> JSONDict:
    out: JSONDict = {"price": item["price"]}
    if item.get("quantity") is not None:
        out["quantity"] = item["quantity"]
    if item.get("tax_rates"):
        out["tax_rates"] = _rate_ids(item["tax_rates"])
    return out


def _item_changes(sub: JSONDict, phase: JSONDict) -> list[JSONDict]:
    """`items` for subscription_update: keep a price's item, drop the rest, add new prices."""
    wanted = {i["price"]: i for i in phase["items"]}
    changes: list[JSONDict] = []
    for item in subscription_items(sub):
        target = wanted.pop(item["price"]["id"], None)
        if target is None:
            changes.append({"id": item["id"], "deleted": True})
            continue
        change: JSONDict = {}
        if target["quantity"] != item.get("quantity"):
            change["quantity"] = target["quantity"]
        if _rate_ids(target["tax_rates"]) != _rate_ids(item.get("tax_rates")):
            change["tax_rates"] = _rate_ids(target["tax_rates"]) or UNSET
        if change:
            changes.append({"id": item["id"], **change})
    changes.extend(_item_params(i) for i in wanted.values())
    return changes


def _apply_phase(ctx: Ctx, env: Env, sched: JSONDict, index: int, proration_behavior: str) -> None:
    """Update the schedule's subscription to phase `index` (items, settings, metadata)."""
    sub = ctx.get("subscription", str(sched["subscription"]))
    phase = sched["phases"][index]
    params: JSONDict = {"proration_behavior": proration_behavior}
    changes = _item_changes(sub, phase)
    if changes:
        params["items"] = changes
    if phase["metadata"]:
        params["metadata"] = phase["metadata"]
    settings = _phase_payment_settings(sched, phase)
    if settings.get("collection_method") != sub["collection_method"]:
        params.update(settings)
    elif settings.get("default_payment_method") not in (None, sub.get("default_payment_method")):
        params["default_payment_method"] = settings["default_payment_method"]
    params.update(_phase_tax_params(phase, sub))
    cancel_at = _cancel_at_for(sched, index)
    if cancel_at is not None and cancel_at != sub.get("cancel_at"):
        params["cancel_at"] = cancel_at
    elif cancel_at is None and sub.get("cancel_at") and sched.get("_set_cancel_at"):
        params["cancel_at"] = UNSET
    sched["_set_cancel_at"] = cancel_at is not None
    if set(params) != {"proration_behavior"}:
        subscription_update(ctx, sub["id"], params, env=env)


# -- time ---------------------------------------------------------------------------


def schedule_due_at(sched: JSONDict) -> int | None:
    """The next moment something happens to this schedule, if any."""
    if sched["status"] == "not_started":
        return int(sched["phases"][0]["start_date"])
    if sched["status"] != "active" or sched.get("current_phase") is None:
        return None
    moments = [int(sched["current_phase"]["end_date"])]
    if not sched.get("_expiring_sent"):
        expiring = int(sched["phases"][-1]["end_date"]) - EXPIRING_BEFORE
        moments.append(max(expiring, int(sched["created"])))
    return min(moments)


def process_schedule(ctx: Ctx, sched: JSONDict, env: Env) -> list[str]:
    """Run what is due for the schedule at env.now; returns ids to re-examine."""
    if sched["status"] == "not_started":
        _start(ctx, env, sched["id"])
    else:
        last_end = int(sched["phases"][-1]["end_date"])
        if not sched.get("_expiring_sent") and env.now >= min(
            max(last_end - EXPIRING_BEFORE, int(sched["created"])), last_end
        ):
            sched["_expiring_sent"] = True
            ctx.save(sched)
            emit_event(ctx, env, "subscription_schedule.expiring", sched)
        if env.now >= int(sched["current_phase"]["end_date"]):
            _next_phase(ctx, env, sched["id"])
    fresh = ctx.get("subscription_schedule", sched["id"])
    sub_id = fresh.get("subscription") or fresh.get("released_subscription")
    return [fresh["id"]] + ([str(sub_id)] if sub_id else [])


def run_phases_until(ctx: Ctx, sub: JSONDict, until: int) -> JSONDict:
    """Apply the phase changes of the subscription's schedule due by `until`.

    For `create_preview` (whose writes roll back): the upcoming invoice of a
    schedule-managed subscription shows the phase the renewal will bill.
    """
    sched = ctx.find("subscription_schedule", str(sub.get("schedule") or ""))
    while sched is not None and sched["status"] == "active" and sched.get("current_phase"):
        end = int(sched["current_phase"]["end_date"])
        if end > until:
            break
        _next_phase(ctx, Env(end, automatic=True), sched["id"])
        sched = ctx.get("subscription_schedule", sched["id"])
    return ctx.get("subscription", sub["id"])


def _next_phase(ctx: Ctx, env: Env, sched_id: str) -> None:
    sched = ctx.get("subscription_schedule", sched_id)
    index = _current_index(sched) + 1
    if index >= len(sched["phases"]):
        _finish(ctx, env, sched)
        return
    before = deep_copy(sched)
    phase = sched["phases"][index]
    sub = ctx.find("subscription", str(sched.get("subscription") or ""))
    if sub is None or sub["status"] in TERMINAL:
        # The subscription ended without the schedule hearing of it (an
        # incomplete one expired): nothing is left to schedule.
        _subscription_canceled(ctx, env, sub or {"schedule": sched["id"]})
        return
    if sub["status"] != "incomplete":
        _apply_phase(ctx, env, sched, index, phase["proration_behavior"])
    sched["_phase"] = index
    sched["current_phase"] = {"start_date": phase["start_date"], "end_date": phase["end_date"]}
    ctx.save(sched)
    emit_event(ctx, env, "subscription_schedule.updated", sched, previous=before)


def _current_index(sched: JSONDict) -> int:
    start = int((sched.get("current_phase") or {}).get("start_date") or 0)
    for i, phase in enumerate(sched["phases"]):
        if int(phase["start_date"]) == start:
            return i
    return int(sched.get("_phase") or 0)


def _finish(ctx: Ctx, env: Env, sched: JSONDict) -> None:
    """The last phase ended: release the subscription, or cancel it (end_behavior)."""
    before = deep_copy(sched)
    sched["current_phase"] = None
    if sched["end_behavior"] == "cancel":
        sched["status"] = "completed"
        sched["completed_at"] = env.now
        ctx.save(sched)
        sub = ctx.find("subscription", str(sched.get("subscription") or ""))
        if sub is not None:
            cancel_now(ctx, env, sub, reason=None)
        emit_event(ctx, env, "subscription_schedule.completed", sched, previous=before)
        return
    _release(ctx, env, sched, before, preserve_cancel_date=True)


def _release(
    ctx: Ctx, env: Env, sched: JSONDict, before: JSONDict, *, preserve_cancel_date: bool
) -> None:
    sub_id = sched.get("subscription")
    sched["status"] = "released"
    sched["released_at"] = env.now
    sched["released_subscription"] = sub_id
    sched["subscription"] = None
    sched["current_phase"] = None
    ctx.save(sched)
    sub = ctx.find("subscription", str(sub_id or ""))
    if sub is not None:
        sub_before = deep_copy(sub)
        sub["schedule"] = None
        if not preserve_cancel_date and sched.get("_set_cancel_at"):
            sub["cancel_at"] = None
            sub["cancel_at_period_end"] = False
            sub["canceled_at"] = None
        emit_subscription_updated(ctx, env, sub, sub_before)
    emit_event(ctx, env, "subscription_schedule.released", sched, previous=before)


# -- update, release, cancel ---------------------------------------------------------


def _live(ctx: Ctx, sched_id: str, action: str) -> JSONDict:
    sched = ctx.get("subscription_schedule", sched_id)
    if sched["status"] not in LIVE:
        raise invalid_request(
            f"You cannot {action} a subscription schedule that is currently in the "
            f"`{sched['status']}` status. It must be in one of the following statuses: "
            "`not_started`, `active`."
        )
    return sched


def subscription_schedule_update(ctx: Ctx, sched_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/subscription_schedules/{id}: phases, end_behavior, metadata, default_settings."""
    sched = _live(ctx, sched_id, "update")
    _check_end_behavior(params)
    env = api_env(ctx, sched["customer"])
    before = deep_copy(sched)
    if "metadata" in params:
        sched["metadata"] = apply_metadata(sched.get("metadata"), params["metadata"])
    if params.get("end_behavior"):
        sched["end_behavior"] = params["end_behavior"]
    if params.get("default_settings"):
        sched["default_settings"] = _default_settings(params)
    if params.get("phases"):
        _replace_phases(ctx, env, sched, params["phases"])
    ctx.save(sched)
    if sched["status"] == "active" and (params.get("phases") or params.get("end_behavior")):
        behavior = params.get("proration_behavior") or "create_prorations"
        _apply_phase(ctx, env, sched, _current_index(sched), behavior)
        ctx.save(sched)
    sched = ctx.get("subscription_schedule", sched_id)
    if sched != before:
        emit_event(ctx, env, "subscription_schedule.updated", sched, previous=before)
    return sched


def _replace_phases(ctx: Ctx, env: Env, sched: JSONDict, raw_phases: list[JSONDict]) -> None:
    first = raw_phases[0].get("start_date")
    if first is None:
        raise invalid_request(
            "Missing required param: phases[0][start_date].",
            param="phases[0][start_date]",
            code="parameter_missing",
        )
    start = env.now if first == "now" else int(first)
    phases = _build_phases(ctx, raw_phases, start, env.now)
    if sched["status"] == "not_started":
        if start < env.now:
            raise invalid_request(
                "The emulator does not backdate subscription schedules: the first phase must "
                "start `now` or in the future.",
                param="phases[0][start_date]",
            )
        sched["phases"] = phases
        if start == env.now:
            ctx.save(sched)
            _start(ctx, env, sched["id"], announce=False)
            sched.update(ctx.get("subscription_schedule", sched["id"]))
        return
    current_start = int(sched["current_phase"]["start_date"])
    current = [p for p in phases if p["start_date"] <= env.now < p["end_date"]]
    if not current or current[0]["start_date"] != current_start:
        raise invalid_request(
            "You can not modify the start date of the current phase.",
            param="phases",
        )
    sched["phases"] = phases
    sched["current_phase"] = {
        "start_date": current[0]["start_date"],
        "end_date": current[0]["end_date"],
    }
    sched.pop("_expiring_sent", None)


def subscription_schedule_release(
    ctx: Ctx, sched_id: str, *, preserve_cancel_date: bool = False
) -> JSONDict:
    """POST /v1/subscription_schedules/{id}/release."""
    sched = _live(ctx, sched_id, "release")
    env = api_env(ctx, sched["customer"])
    _release(ctx, env, sched, deep_copy(sched), preserve_cancel_date=preserve_cancel_date)
    return ctx.get("subscription_schedule", sched_id)


def subscription_schedule_cancel(
    ctx: Ctx, sched_id: str, *, invoice_now: bool = True, prorate: bool = True
) -> JSONDict:
    """POST /v1/subscription_schedules/{id}/cancel: the subscription ends now too."""
    sched = _live(ctx, sched_id, "cancel")
    env = api_env(ctx, sched["customer"])
    before = deep_copy(sched)
    sched["status"] = "canceled"
    sched["canceled_at"] = env.now
    sched["current_phase"] = None
    ctx.save(sched)
    sub = ctx.find("subscription", str(sched.get("subscription") or ""))
    if sub is not None:
        cancel_now(ctx, env, sub, prorate=prorate, invoice_now=invoice_now)
    emit_event(ctx, env, "subscription_schedule.canceled", sched, previous=before)
    return ctx.get("subscription_schedule", sched_id)


def _subscription_canceled(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    """The managed subscription ended outside the schedule: the schedule ends with it."""
    sched = ctx.find("subscription_schedule", str(sub.get("schedule") or ""))
    if sched is None or sched["status"] != "active":
        return
    before = deep_copy(sched)
    sched["status"] = "canceled"
    sched["canceled_at"] = env.now
    sched["current_phase"] = None
    ctx.save(sched)
    delinquent = (sub.get("cancellation_details") or {}).get("reason") == "payment_failed"
    event = "subscription_schedule.aborted" if delinquent else "subscription_schedule.canceled"
    emit_event(ctx, env, event, sched, previous=before)


def _customer_deleted(ctx: Ctx, customer: JSONDict) -> None:
    """Schedules that never started die with their customer (active ones end with
    their subscription, which the customer's deletion cancels)."""
    env = api_env(ctx, customer)
    for sched in ctx.store.all_where(
        "subscription_schedule", {"customer": customer["id"], "status": "not_started"}
    ):
        before = deep_copy(sched)
        sched["status"] = "canceled"
        sched["canceled_at"] = env.now
        ctx.save(sched)
        emit_event(ctx, env, "subscription_schedule.canceled", sched, previous=before)


def _register_hooks() -> None:
    if _subscription_canceled not in SUBSCRIPTION_CANCELED_HOOKS:
        SUBSCRIPTION_CANCELED_HOOKS.append(_subscription_canceled)
    if _customer_deleted not in CUSTOMER_DELETE_HOOKS:
        CUSTOMER_DELETE_HOOKS.append(_customer_deleted)


_register_hooks()


def schedule_list_filter(params: JSONDict) -> Any:
    """A predicate for GET /v1/subscription_schedules' `customer`, `scheduled`, ... filters."""
    customer = params.get("customer")
    scheduled = params.get("scheduled")

    def keep(sched: JSONDict) -> bool:
        if customer and sched["customer"] != customer:
            return False
        return scheduled is None or (sched["status"] == "not_started") == bool(scheduled)

    return keep
