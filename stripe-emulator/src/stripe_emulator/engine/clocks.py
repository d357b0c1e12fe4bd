"""Time: what is due when (`_due_at`), `process_due`, advancing test clocks, the real clock."""

from __future__ import annotations

import copy
import heapq
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from ..clock import (
    ADVANCE_HANDLERS,
    ADVANCE_VALIDATORS,
    real_now,
    register_advance_handler,
    register_advance_validator,
)
from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from .cancellation import cancel_now
from .common import (
    TERMINAL,
    TRIAL_WILL_END_BEFORE,
    Env,
    JSONDict,
    add_interval,
    deep_copy,
    emit_event,
    format_date,
    id_of,
    settings,
)
from .dunning import invoice_overdue
from .invoicing import collect_invoice, finalize_and_collect
from .payments import expire_authorization, settle_async_refund
from .schedules import process_schedule, schedule_due_at
from .subscription_state import billing_interval, emit_subscription_updated, period_of
from .subscriptions import expire_incomplete, finish_trial, renew

if TYPE_CHECKING:
    from ..context import EmulatorCore


logger = logging.getLogger(__name__)


class SubscriptionTimer(NamedTuple):
    """A moment a higher engine module schedules on subscriptions (a pending
    update's expiry, `invoice.upcoming`): `due(ctx, sub)` says when (None:
    never), `run(ctx, env, sub)` does it and must move `due` on."""

    due: Callable[[Ctx, JSONDict], int | None]
    run: Callable[[Ctx, Env, JSONDict], None]


SUBSCRIPTION_TIMERS: list[SubscriptionTimer] = []


def register_subscription_timer(timer: SubscriptionTimer) -> SubscriptionTimer:
    if timer not in SUBSCRIPTION_TIMERS:
        SUBSCRIPTION_TIMERS.append(timer)
    return timer


def _invoice_due_at(obj: JSONDict) -> int | None:
    if obj["status"] == "draft" and obj.get("auto_advance"):
        return obj.get("automatically_finalizes_at")
    if obj["status"] == "open" and obj["collection_method"] == "send_invoice":
        # The customer pays by themselves; at the due date it is overdue.
        if obj.get("due_date") and not obj.get("_overdue"):
            return int(obj["due_date"])
        return None
    if obj["status"] == "open" and obj.get("auto_advance"):
        return obj.get("next_payment_attempt")
    return None


def _due_at(ctx: Ctx, obj: JSONDict) -> int | None:
    """The next moment something happens to this subscription, schedule, invoice,
    uncaptured PaymentIntent or asynchronous test refund, if any."""
    if obj["object"] == "subscription_schedule":
        return schedule_due_at(obj)
    if obj["object"] == "payment_intent":
        return obj.get("_capture_before") if obj["status"] == "requires_capture" else None
    if obj["object"] == "refund":
        return obj.get("_settles_at")
    if obj["object"] == "invoice":
        return _invoice_due_at(obj)
    moments = [m for t in SUBSCRIPTION_TIMERS if (m := t.due(ctx, obj)) is not None]
    billing = _subscription_due_at(ctx, obj)
    if billing is not None:
        moments.append(billing)
    return min(moments) if moments else None


def _subscription_due_at(ctx: Ctx, obj: JSONDict) -> int | None:
    """The subscription's own next billing moment (trial, renewal, expiry, ...)."""
    status = obj["status"]
    if status == "trialing" and obj.get("trial_end"):
        trial_end = int(obj["trial_end"])
        if obj.get("cancel_at"):
            trial_end = min(trial_end, int(obj["cancel_at"]))
        if not obj.get("_trial_will_end_sent"):
            return min(trial_end, int(obj["trial_end"]) - TRIAL_WILL_END_BEFORE)
        return trial_end
    if status == "incomplete":
        return int(obj["created"]) + settings(ctx)["incomplete_expiry_seconds"]
    if status in ("active", "past_due", "unpaid"):
        moments = [period_of(obj)[1]]
        if obj.get("cancel_at"):
            moments.append(int(obj["cancel_at"]))
        resumes = (obj.get("pause_collection") or {}).get("resumes_at")
        if resumes:
            moments.append(int(resumes))
        return min(moments)
    return None


def _process(ctx: Ctx, obj: JSONDict, env: Env) -> list[str]:
    """Run what is due for `obj` at env.now; returns ids of objects to re-examine."""
    if obj["object"] == "subscription_schedule":
        return process_schedule(ctx, obj, env)
    if obj["object"] == "payment_intent":
        expire_authorization(ctx, env, obj)
        return [obj["id"]]
    if obj["object"] == "refund":
        settle_async_refund(ctx, env, obj)
        return [obj["id"]]
    if obj["object"] == "invoice":
        return _process_invoice(ctx, obj, env)
    return _process_subscription(ctx, obj, env)


def _process_invoice(ctx: Ctx, obj: JSONDict, env: Env) -> list[str]:
    sub_ref = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    related = [obj["id"]] + ([str(sub_ref)] if sub_ref else [])
    if obj["status"] == "draft":
        finalize_and_collect(ctx, env, obj)
    elif obj["status"] == "open" and obj["collection_method"] == "send_invoice":
        invoice_overdue(ctx, env, obj)
    elif obj["status"] == "open":
        collect_invoice(ctx, env, obj, off_session=True, automatic=True)
    return related


def _process_subscription(ctx: Ctx, sub: JSONDict, env: Env) -> list[str]:
    for timer in SUBSCRIPTION_TIMERS:
        moment = timer.due(ctx, sub)
        if moment is not None and moment <= env.now:
            timer.run(ctx, env, sub)
            sub = ctx.get("subscription", sub["id"])
    billing = _subscription_due_at(ctx, sub)
    if sub["status"] not in TERMINAL and billing is not None and billing <= env.now:
        _subscription_billing_step(ctx, sub, env)
    fresh = ctx.get("subscription", sub["id"])
    related = [sub["id"]]
    if fresh.get("latest_invoice"):
        related.append(str(id_of(fresh["latest_invoice"])))
    return related


def _subscription_billing_step(ctx: Ctx, sub: JSONDict, env: Env) -> None:
    status = sub["status"]
    if status == "trialing":
        trial_end = int(sub["trial_end"])
        if not sub.get("_trial_will_end_sent") and env.now >= trial_end - TRIAL_WILL_END_BEFORE:
            sub["_trial_will_end_sent"] = True
            ctx.save(sub)
            emit_event(ctx, env, "customer.subscription.trial_will_end", sub)
        cancel_at = sub.get("cancel_at")
        if cancel_at and int(cancel_at) <= env.now:
            # Canceled at (or before) the trial's end: it ends, nothing is billed.
            cancel_now(ctx, env, sub, reason=None)
        elif env.now >= trial_end:
            finish_trial(ctx, env, sub, synchronous=False)
    elif status == "incomplete":
        expire_incomplete(ctx, env, sub)
    elif status in ("active", "past_due", "unpaid"):
        resumes = (sub.get("pause_collection") or {}).get("resumes_at")
        if resumes and int(resumes) <= env.now:
            before = deep_copy(sub)
            sub["pause_collection"] = None
            emit_subscription_updated(ctx, env, sub, before)
            sub = ctx.get("subscription", sub["id"])
        cancel_at = sub.get("cancel_at")
        if cancel_at and int(cancel_at) <= env.now:
            cancel_now(ctx, env, sub, reason=None)
        elif period_of(sub)[1] <= env.now:
            renew(ctx, env, sub)


def _scheduled_objects(ctx: Ctx, clock_id: str | None) -> list[JSONDict]:
    """The clock's objects that may have something due: live subscriptions,
    schedules, draft and open invoices, uncaptured PaymentIntents, asynchronous
    test refunds."""
    found = [
        sub
        for sub in ctx.store.all_where("subscription", {"test_clock": clock_id})
        if sub["status"] not in TERMINAL
    ]
    for status in ("not_started", "active"):
        found += ctx.store.all_where(
            "subscription_schedule", {"test_clock": clock_id, "status": status}
        )
    for status in ("draft", "open"):
        found += ctx.store.all_where("invoice", {"test_clock": clock_id, "status": status})
    found += ctx.store.all_where(
        "payment_intent", {"status": "requires_capture", "_test_clock": clock_id}
    )
    for behaviour in ("pending_then_succeed", "succeed_then_fail"):
        found += ctx.store.all_where(
            "refund", {"_test_clock": clock_id, "_async_refund": behaviour}
        )
    return found


def process_due(ctx: Ctx, clock_id: str | None, target: int) -> int:
    """Run everything due up to `target` for objects on `clock_id` (None: real clock).

    Steps run in chronological order across all the clock's subscriptions
    and invoices, each with events dated at its own moment. Returns the
    number of steps run.
    """

    # (due, rank, seq, id): at the same moment a schedule's phase change runs
    # before its subscription's renewal, so the new period bills the new phase.
    heap: list[tuple[int, int, int, str]] = []
    scheduled: dict[str, int] = {}
    seq = 0

    def push(obj: JSONDict | None) -> None:
        nonlocal seq
        if obj is None:
            return
        due = _due_at(ctx, obj)
        if due is None or due > target:
            scheduled.pop(obj["id"], None)
            return
        if scheduled.get(obj["id"]) == due:
            return
        scheduled[obj["id"]] = due
        seq += 1
        rank = 0 if obj["object"] == "subscription_schedule" else 1
        heapq.heappush(heap, (due, rank, seq, obj["id"]))

    for candidate in _scheduled_objects(ctx, clock_id):
        push(candidate)
    steps = 0
    done: set[tuple[str, int]] = set()
    while heap:
        due, _, _, oid = heapq.heappop(heap)
        if scheduled.get(oid) != due:
            continue  # superseded entry
        del scheduled[oid]
        obj = ctx.store.get(oid)
        if obj is None or _due_at(ctx, obj) != due:
            push(obj)
            continue
        if (oid, due) in done:
            raise RuntimeError(f"billing step for {oid} at {due} did not make progress")
        done.add((oid, due))
        steps += 1
        for rid in _process(ctx, obj, Env(due, automatic=True)):
            push(ctx.store.get(rid))
    return steps


def _check_advance_limit(ctx: Ctx, clock: JSONDict, target: int) -> None:
    """Stripe refuses to advance more than two intervals of the clock's shortest
    subscription (two years without subscriptions)."""
    now = int(clock["frozen_time"])
    limit = add_interval(now, "year", 2)
    for sub in ctx.store.all_where("subscription", {"test_clock": clock["id"]}):
        if sub["status"] not in TERMINAL:
            interval, count = billing_interval(sub)
            limit = min(limit, add_interval(now, interval, 2 * count))
    if target > limit:
        raise invalid_request(
            "Cannot advance the test clock more than two billing intervals of its shortest "
            f"subscription at once: advance at most to {limit} ({format_date(limit)}), "
            "then again.",
            param="frozen_time",
        )


@register_advance_validator
def _validate_advance(ctx: Ctx, clock: JSONDict, target: int) -> None:
    if settings(ctx)["enforce_advance_limit"]:
        _check_advance_limit(ctx, clock, target)


@register_advance_handler
def _advance_clock(ctx: Ctx, clock: JSONDict, target: int) -> None:
    process_due(ctx, str(clock["id"]), target)


REAL_CLOCK_INTERVAL = 15.0  # seconds between background passes


_TICKER_ATTR = "_billing_real_clock"


_tickers_lock = threading.Lock()


def tick_real_clock(app: EmulatorCore) -> int:
    """Process everything due by now for subscriptions and invoices without a test clock."""
    ctx = app.context()
    with app.store.atomic():
        steps = process_due(ctx, None, real_now())
    if ctx.emitted:
        app.dispatcher.notify()
    return steps


def start_real_clock(app: EmulatorCore, interval: float = REAL_CLOCK_INTERVAL) -> None:
    """Start (once per emulator) the daemon thread that runs `tick_real_clock`.

    Called when the server starts its background work (and, idempotently,
    by the billing endpoints), so a dev server running `make run` sees
    renewals, retries and the invoice gate in real time. The thread ends
    with the emulator's store.
    """
    with _tickers_lock:
        if getattr(app, _TICKER_ATTR, None) is not None:
            return

        def loop() -> None:
            stop = threading.Event()
            while not stop.wait(interval):
                try:
                    tick_real_clock(app)
                except sqlite3.ProgrammingError:
                    return  # the store was closed: the emulator is gone
                except Exception:  # keep ticking; a broken step is logged, not fatal
                    logger.exception("real-clock billing pass failed")

        thread = threading.Thread(target=loop, name="billing-real-clock", daemon=True)
        setattr(app, _TICKER_ATTR, thread)
        thread.start()


# -- advancing a test clock --------------------------------------------------


def test_clock_advance(ctx: Ctx, id: str, target: int) -> JSONDict:
    """Advance a test clock: validators, `advancing`, every advance handler, `ready`.

    Returns the clock as it was when advancing began (what Stripe answers).
    """
    clock = ctx.get("test_helpers.test_clock", id)
    if clock["status"] != "ready":
        raise invalid_request(
            f"The test clock {id} is not ready (status: {clock['status']}).",
            param="frozen_time",
        )
    if target <= clock["frozen_time"]:
        raise invalid_request(
            "The test clock can only be advanced to a time later than its current frozen_time.",
            param="frozen_time",
        )
    for validate in ADVANCE_VALIDATORS:
        validate(ctx, copy.deepcopy(clock), target)
    before = copy.deepcopy(clock)
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    ctx.save(clock)
    advancing = copy.deepcopy(clock)
    ctx.emit("test_helpers.test_clock.advancing", clock, automatic=False)
    try:
        with ctx.store.atomic():  # a failing handler leaves no half-done billing
            for handler in ADVANCE_HANDLERS:
                handler(ctx, copy.deepcopy(before), target)
    except StripeAPIError:
        raise  # answered as that error; the request's writes roll back
    except Exception:
        logger.exception("advancing test clock %s failed", id)
        clock = ctx.get("test_helpers.test_clock", id)
        clock["status"] = "internal_failure"
        clock["status_details"] = {}
        ctx.save(clock)
        ctx.emit("test_helpers.test_clock.internal_failure", clock, automatic=True)
        return advancing
    clock = ctx.get("test_helpers.test_clock", id)
    clock["frozen_time"] = target
    clock["status"] = "ready"
    clock["status_details"] = {}
    ctx.save(clock)
    ctx.emit("test_helpers.test_clock.ready", clock, automatic=True)
    # Like Stripe, the response shows the clock as it was when advancing began;
    # clients poll until status == "ready" (which here is already true).
    return advancing
