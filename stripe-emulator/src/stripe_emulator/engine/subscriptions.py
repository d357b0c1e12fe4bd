"""The subscription lifecycle: create, update, resume, trial end, renewal, incomplete expiry."""

from __future__ import annotations

from dataclasses import dataclass

from ..context import Ctx
from ..errors import StripeAPIError, card_error, invalid_request
from ..ids import new_id
from ..params import UNSET
from ..updates import apply_metadata
from .cancellation import cancel_now
from .common import (
    DAY,
    TERMINAL,
    TRIAL_WILL_END_BEFORE,
    Env,
    JSONDict,
    Origin,
    add_interval,
    api_env,
    customer_or_404,
    deep_copy,
    emit_event,
    format_date,
    id_of,
    next_boundary,
    round_half_up,
)
from .discounts import discounts_from_params
from .entitlements import snapshot_features
from .invoicing import (
    add_invoice_items,
    collect_invoice,
    finalize_invoice,
    open_cycle_invoice,
    refresh_totals,
    void_invoice,
)
from .payments import ChargeOutcome, new_setup_intent
from .pricing import checked_quantity, item_quantity, price_amount, recurring_price
from .proration import apply_item_changes, proration_lines, proration_moment
from .subscription_state import (
    billing_interval,
    check_payment_method,
    cycle_invoice,
    emit_subscription_updated,
    is_metered,
    new_subscription_item,
    period_of,
    refresh_entitlements,
    save_subscription,
    set_period,
    set_status,
    subscription_items,
    subscription_payment_method,
)
from .tax import (
    automatic_tax_enabled,
    check_tax_behavior,
    subscription_automatic_tax,
    tax_rates_from_params,
)


def subscription_create(
    ctx: Ctx,
    params: JSONDict,
    *,
    origin: Origin = "api",
    authenticated: bool = False,
    env: Env | None = None,
    schedule: str | None = None,
) -> JSONDict:
    """Create a subscription as POST /v1/subscriptions does; returns it.

    `params` has the shape of `stripe.params.SubscriptionCreateParams`
    (validated and coerced: `customer`, `items=[{"price", "quantity"}]`,
    `default_payment_method`, `trial_period_days`/`trial_end`/`trial_from_plan`,
    `trial_settings`, `payment_behavior`, `discounts=[{"coupon"|"promotion_code"}]`,
    `collection_method`, `days_until_due`, `billing_cycle_anchor`,
    `cancel_at`, `cancel_at_period_end`, `metadata`, `off_session`, ...).

    Creates the first invoice (billing_reason=subscription_create; 0 during a
    trial) and attempts payment at once (no invoice.created gate). Result:
    `trialing`, `active`, or `incomplete` when the payment declines or needs
    3-D Secure (the invoice's PaymentIntent is then `requires_action` with
    `next_action.redirect_to_url.url` = `authentication_url`).

    origin="checkout"/"portal": the customer is on-session; with
    `authenticated=True` the caller has already shown the 3DS page and the
    customer completed it, so 3DS cards succeed (and are marked set up for
    off-session renewals, as Checkout does). Checkout should pass
    payment_behavior="error_if_incomplete": a decline then raises the 402
    card_error and nothing is created (the handler's transaction rolls back).

    A subscription schedule passes `schedule` (its id, shown in the
    subscription's `schedule` from `customer.subscription.created` on) and,
    when a phase starts during a clock advance, its `env`.
    """
    customer = customer_or_404(ctx, params["customer"])
    env = env or api_env(ctx, customer)
    sub_id = new_id("subscription")
    items = _build_items(ctx, env, sub_id, params.get("items") or [])
    _check_items_agree(items)
    _check_customer_currency(ctx, customer, items[0]["price"]["currency"])
    interval = items[0]["price"]["recurring"]
    pm_id = check_payment_method(
        ctx, params.get("default_payment_method"), customer["id"], "default_payment_method"
    )
    trial_end = _trial_end(params, interval, env.now)
    collection = params.get("collection_method") or "charge_automatically"
    if collection == "send_invoice" and not params.get("days_until_due"):
        raise invalid_request(
            "Missing required param: days_until_due.",
            param="days_until_due",
            code="parameter_missing",
        )
    anchor = _billing_cycle_anchor(params, env.now)
    sub = _new_subscription(
        sub_id,
        params,
        customer,
        items,
        pm_id=pm_id,
        trial_end=trial_end,
        now=env.now,
        origin=origin,
    )
    sub["schedule"] = schedule
    _set_first_period(sub, interval, trial_end=trial_end, anchor=anchor, now=env.now)
    snapshot_features(ctx, sub)
    _schedule_cancellation_at_create(sub, params)
    _apply_tax_settings(ctx, sub, params)
    sub["discounts"] = discounts_from_params(
        ctx,
        env,
        params.get("discounts"),
        customer=customer["id"],
        subscription=sub_id,
        param="discounts",
        order=(
            sum(price_amount(i["price"], item_quantity(i)) for i in items if not is_metered(i)),
            sub["currency"],
        ),
    )
    inv = _open_first_invoice(ctx, env, sub, params, trial_end=trial_end, anchor=anchor)
    inv = _collect_first_invoice(
        ctx,
        env,
        sub_id,
        inv,
        params,
        pm_id=pm_id,
        collection=collection,
        authenticated=authenticated,
    )
    sub = ctx.get("subscription", sub_id)
    if (
        (params.get("payment_behavior") or "allow_incomplete") == "default_incomplete"
        and inv["status"] == "paid"
        and not pm_id
        and collection == "charge_automatically"
    ):
        # Nothing to pay now (a trial): a SetupIntent collects the card for later.
        seti = new_setup_intent(ctx, env, {"customer": customer["id"], "usage": "off_session"})
        sub["pending_setup_intent"] = seti["id"]
        save_subscription(ctx, sub)
    refresh_entitlements(ctx, env, sub["customer"])
    return sub


def _build_items(ctx: Ctx, env: Env, sub_id: str, raw_items: list[JSONDict]) -> list[JSONDict]:
    """The subscription items of `items=[...]` (inline `price_data` makes its price)."""
    if not raw_items:
        raise invalid_request(
            "Missing required param: items.", param="items", code="parameter_missing"
        )
    items: list[JSONDict] = []
    for i, entry in enumerate(raw_items):
        price = recurring_price(ctx, entry, f"items[{i}]")
        qty = checked_quantity(entry.get("quantity", 1), f"items[{i}][quantity]")
        if any(it["price"]["id"] == price["id"] for it in items):
            raise invalid_request(
                "Cannot add multiple subscription items with the same price.",
                param=f"items[{i}][price]",
            )
        item = new_subscription_item(sub_id, price, qty, env, entry.get("metadata"))
        item["tax_rates"] = tax_rates_from_params(
            ctx, entry.get("tax_rates"), f"items[{i}][tax_rates]"
        )
        items.append(item)
    return items


def _check_customer_currency(ctx: Ctx, customer: JSONDict, currency: str) -> None:
    """A customer can't have two live subscriptions in different currencies
    (docs.stripe.com/invoicing/multi-currency-customers: "You can't have two active
    subscriptions with different currencies"). The message is the one Stripe
    answers with, as reported by its users (no error code is documented)."""
    for other in ctx.store.all_where("subscription", {"customer": customer["id"]}):
        if other["status"] not in TERMINAL and other["currency"] != currency:
            raise invalid_request(
                "You cannot combine currencies on a single customer. This customer has an "
                "active subscription, subscription schedule, discount, quote, or invoice item "
                f"with currency {other['currency']}."
            )


def _apply_tax_settings(ctx: Ctx, sub: JSONDict, params: JSONDict) -> None:
    """`default_tax_rates` and `automatic_tax[enabled]` (create and update)."""
    if "default_tax_rates" in params:
        sub["default_tax_rates"] = tax_rates_from_params(
            ctx, params["default_tax_rates"], "default_tax_rates", already=sub["default_tax_rates"]
        )
    if "automatic_tax" in params:
        sub["automatic_tax"] = subscription_automatic_tax(
            automatic_tax_enabled(params["automatic_tax"])
        )
    if automatic_tax_enabled(sub.get("automatic_tax")):
        check_tax_behavior([i["price"] for i in sub["items"]["data"]], "items[{i}][price]")


def _check_items_agree(items: list[JSONDict]) -> None:
    """Every price of a subscription has the first one's currency and interval."""
    currency = items[0]["price"]["currency"]
    interval = items[0]["price"]["recurring"]
    for i, item in enumerate(items):
        rec = item["price"]["recurring"]
        if item["price"]["currency"] != currency:
            raise invalid_request(
                "All prices on a subscription must have the same currency.",
                param=f"items[{i}][price]",
            )
        if (rec["interval"], rec.get("interval_count", 1)) != (
            interval["interval"],
            interval.get("interval_count", 1),
        ):
            raise invalid_request(
                "All prices on a subscription must have the same recurring interval.",
                param=f"items[{i}][price]",
            )


def _trial_end(params: JSONDict, interval: JSONDict, now: int) -> int | None:
    """When the trial ends: `trial_end`, `trial_period_days` or the plan's trial days."""
    trial_end: int | None = None
    raw_trial_end = params.get("trial_end")
    if raw_trial_end not in (None, "now"):
        trial_end = int(raw_trial_end)
        if trial_end <= now:
            raise invalid_request("Invalid timestamp: must be in the future.", param="trial_end")
    elif params.get("trial_period_days"):
        trial_end = now + int(params["trial_period_days"]) * DAY
    elif params.get("trial_from_plan") and interval.get("trial_period_days"):
        trial_end = now + int(interval["trial_period_days"]) * DAY
    if trial_end is not None and trial_end - now > 730 * DAY:
        raise invalid_request("Trial period must be at most 730 days.", param="trial_period_days")
    return trial_end


def _billing_cycle_anchor(params: JSONDict, now: int) -> int | None:
    anchor = int(params["billing_cycle_anchor"]) if params.get("billing_cycle_anchor") else None
    if anchor is not None and anchor <= now:
        raise invalid_request(
            "billing_cycle_anchor cannot be in the past.", param="billing_cycle_anchor"
        )
    return anchor


def _new_subscription(
    sub_id: str,
    params: JSONDict,
    customer: JSONDict,
    items: list[JSONDict],
    *,
    pm_id: str | None,
    trial_end: int | None,
    now: int,
    origin: Origin,
) -> JSONDict:
    """The subscription object as created, before its period is set."""
    currency = items[0]["price"]["currency"]
    collection = params.get("collection_method") or "charge_automatically"
    trial_behavior = ((params.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method"
    ) or "create_invoice"
    sub: JSONDict = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": (params.get("billing_mode") or {}).get("type", "flexible"),
            "updated_at": now,
        },
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection,
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": params.get("days_until_due"),
        "default_payment_method": pm_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        # Declared by every accepted version's SDK (managed payments since
        # 2026-04-22.dahlia); absent, stripe-python raises AttributeError.
        "managed_payments": None,
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": (params.get("payment_settings") or {}).get(
                "save_default_payment_method", "off"
            ),
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "trialing" if trial_end else "incomplete",
        "test_clock": customer.get("test_clock"),
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": trial_behavior}},
        "trial_start": now if trial_end else None,
        "_origin": origin,
    }
    sub["items"].pop("total_count")
    return sub


def _set_first_period(
    sub: JSONDict, interval: JSONDict, *, trial_end: int | None, anchor: int | None, now: int
) -> None:
    """The first period ends at the trial end, the billing cycle anchor or one interval on."""
    rec_interval, rec_count = str(interval["interval"]), int(interval.get("interval_count", 1))
    if trial_end:
        sub["billing_cycle_anchor"] = trial_end
        set_period(sub, now, trial_end)
    elif anchor is not None:
        sub["billing_cycle_anchor"] = anchor
        set_period(sub, now, anchor)
    else:
        set_period(sub, now, add_interval(now, rec_interval, rec_count))


def _schedule_cancellation_at_create(sub: JSONDict, params: JSONDict) -> None:
    if params.get("cancel_at_period_end"):
        sub["cancel_at_period_end"] = True
        sub["cancel_at"] = period_of(sub)[1]
    if params.get("cancel_at"):
        value = params["cancel_at"]
        sub["cancel_at"] = period_of(sub)[1] if isinstance(value, str) else int(value)


def _open_first_invoice(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    params: JSONDict,
    *,
    trial_end: int | None,
    anchor: int | None,
) -> JSONDict:
    """Save the subscription with its first (draft) invoice; `customer.subscription.created`,
    `invoice.created` and, for a short trial, `trial_will_end` at once."""
    now = env.now
    # first invoice (one-off `add_invoice_items` ride along as pending items)
    add_invoice_items(ctx, env, sub, params.get("add_invoice_items"))
    inv = cycle_invoice(ctx, env, sub, "subscription_create", trial=bool(trial_end))
    if anchor is not None and not trial_end:
        _prorate_stub_period(ctx, sub, inv, params, anchor=anchor, now=now)
    sub["latest_invoice"] = inv["id"]
    save_subscription(ctx, sub)
    emit_event(ctx, env, "customer.subscription.created", sub)
    ctx.save(inv)
    emit_event(ctx, env, "invoice.created", inv)
    if trial_end and trial_end - now <= TRIAL_WILL_END_BEFORE:
        sub = ctx.get("subscription", sub["id"])
        sub["_trial_will_end_sent"] = True
        ctx.save(sub)
        emit_event(ctx, env, "customer.subscription.trial_will_end", sub)
    return inv


def _prorate_stub_period(
    ctx: Ctx, sub: JSONDict, inv: JSONDict, params: JSONDict, *, anchor: int, now: int
) -> None:
    """Prorate the stub period up to the anchor against a full cycle ending there."""
    rec_interval, rec_count = billing_interval(sub)
    full = anchor - add_interval(anchor, rec_interval, -rec_count)
    behavior = params.get("proration_behavior", "create_prorations")
    for line in inv["lines"]["data"]:
        if line["parent"]["type"] != "subscription_item_details":
            continue
        amount = 0 if behavior == "none" else round_half_up(line["amount"] * (anchor - now), full)
        line["amount"] = line["subtotal"] = amount
        line["parent"]["subscription_item_details"]["proration"] = behavior != "none"
        line["description"] = f"Remaining time on {line['description']} until {format_date(anchor)}"
    for item in subscription_items(sub):
        item["_billed_amount"] = price_amount(item["price"], item_quantity(item))
    refresh_totals(ctx, inv)


def _collect_first_invoice(
    ctx: Ctx,
    env: Env,
    sub_id: str,
    inv: JSONDict,
    params: JSONDict,
    *,
    pm_id: str | None,
    collection: str,
    authenticated: bool,
) -> JSONDict:
    """Finalize the first invoice and collect it as `payment_behavior` and
    `collection_method` say; returns the invoice."""
    behavior = params.get("payment_behavior") or "allow_incomplete"
    inv = finalize_invoice(ctx, env, inv)
    sub = ctx.get("subscription", sub_id)
    if inv["status"] != "open":
        return inv
    if collection == "send_invoice":
        emit_event(ctx, env, "invoice.sent", inv)
        set_status(ctx, env, sub, "active")
    elif behavior == "default_incomplete":
        pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
        if pi is not None and pm_id:
            pi["payment_method"] = pm_id
            pi["status"] = "requires_confirmation"
            ctx.save(pi)
    else:
        inv, outcome = collect_invoice(
            ctx,
            env,
            inv,
            off_session=bool(params.get("off_session")),
            authenticated=authenticated,
            automatic=True,
        )
        if outcome.result != "succeeded" and behavior == "error_if_incomplete":
            raise _first_payment_error(ctx, inv, outcome)
    return inv


def _first_payment_error(ctx: Ctx, inv: JSONDict, outcome: ChargeOutcome) -> StripeAPIError:
    """The 402 of `payment_behavior=error_if_incomplete` when the first payment fails."""
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if outcome.result == "requires_action":
        return StripeAPIError(
            402,
            "Payment for this subscription requires additional user action before "
            "it can be completed successfully.",
            type="card_error",
            code="subscription_payment_intent_requires_action",
        )
    return card_error(
        outcome.message or "Your card was declined.",
        code=outcome.code or "card_declined",
        decline_code=outcome.decline_code,
        extra={"payment_intent": pi} if pi else None,
    )


def subscription_update(
    ctx: Ctx, sub_id: str, params: JSONDict, *, env: Env | None = None
) -> JSONDict:
    """Update a subscription as POST /v1/subscriptions/{id} does; returns it.

    `params` has the shape of `stripe.params.SubscriptionUpdateParams`:
    `items=[{"id": "si_..", "price": .., "quantity": ..}]` (price/quantity
    change; `{"price"}` without id adds an item, `{"id", "deleted": True}`
    removes one), `proration_behavior` (create_prorations default,
    always_invoice, none), `proration_date`, `cancel_at_period_end`,
    `cancel_at` ("" clears), `cancellation_details`, `pause_collection`
    ("" clears), `default_payment_method`, `trial_end` ("now" ends the trial),
    `payment_behavior`, `discounts`, `billing_cycle_anchor="now"`, `metadata`.
    `env`: a schedule's phase transition passes its business moment.
    """
    sub = ctx.get("subscription", sub_id)
    env = env or api_env(ctx, sub["customer"])
    before = deep_copy(sub)
    _check_updatable(sub, params)
    _apply_plain_fields(ctx, sub, params)
    _apply_cancellation_trial_and_pause_settings(sub, params)
    if "discounts" in params:
        sub["discounts"] = discounts_from_params(
            ctx,
            env,
            params["discounts"],
            customer=sub["customer"],
            subscription=sub_id,
            param="discounts",
        )
    _apply_cancel_at_period_end(env, sub, params)
    _apply_cancel_at(env, sub, params)
    _apply_tax_settings(ctx, sub, params)
    if params.get("add_invoice_items"):
        add_invoice_items(ctx, env, sub, params["add_invoice_items"])
    billing = _prorate_item_changes(ctx, env, sub, params)
    new_features = billing.items_changed or billing.bill_new_period
    if new_features:
        snapshot_features(ctx, sub)
    end_trial = _apply_trial_end(ctx, env, sub, params)

    if sub != before:
        emit_subscription_updated(ctx, env, sub, before)
    else:
        save_subscription(ctx, sub)
    sub = ctx.get("subscription", sub_id)
    if end_trial:
        sub = finish_trial(ctx, env, sub, synchronous=True)
    elif billing.immediate_invoice:
        sub = _invoice_update_now(ctx, env, sub, params, bill_new_period=billing.bill_new_period)
    if new_features or sub.get("status") != before.get("status"):
        refresh_entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub_id)


def _check_updatable(sub: JSONDict, params: JSONDict) -> None:
    """Canceled and incomplete subscriptions accept only a few parameters."""
    if sub["status"] in TERMINAL:
        allowed = {"metadata", "cancellation_details", "expand"}
        if set(params) - allowed:
            raise invalid_request(
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
    if sub["status"] == "incomplete":
        allowed = {"metadata", "default_payment_method", "default_source", "expand", "description"}
        if set(params) - allowed:
            raise invalid_request(
                "An incomplete subscription can only update its metadata, description and "
                "default payment method until its first invoice is paid.",
            )


def _apply_plain_fields(ctx: Ctx, sub: JSONDict, params: JSONDict) -> None:
    if "metadata" in params:
        sub["metadata"] = apply_metadata(sub.get("metadata"), params["metadata"])
    if "description" in params:
        sub["description"] = params["description"] or None
    if "default_payment_method" in params:
        sub["default_payment_method"] = check_payment_method(
            ctx, params["default_payment_method"], sub["customer"], "default_payment_method"
        )
    if "collection_method" in params:
        sub["collection_method"] = params["collection_method"]
    if "days_until_due" in params:
        sub["days_until_due"] = params["days_until_due"] or None


def _apply_cancellation_trial_and_pause_settings(sub: JSONDict, params: JSONDict) -> None:
    if "cancellation_details" in params:
        details = params["cancellation_details"] or {}
        current = sub.get("cancellation_details") or {}
        sub["cancellation_details"] = {
            "comment": details.get("comment", current.get("comment")) or None,
            "feedback": details.get("feedback", current.get("feedback")) or None,
            "reason": current.get("reason"),
        }
    if "trial_settings" in params:
        behavior = ((params["trial_settings"] or {}).get("end_behavior") or {}).get(
            "missing_payment_method", "create_invoice"
        )
        sub["trial_settings"] = {"end_behavior": {"missing_payment_method": behavior}}
    if "pause_collection" in params:
        pause = params["pause_collection"]
        sub["pause_collection"] = (
            None
            if not pause or pause == UNSET
            else {"behavior": pause["behavior"], "resumes_at": pause.get("resumes_at")}
        )


def _clear_scheduled_cancellation(sub: JSONDict) -> None:
    sub["cancel_at_period_end"] = False
    sub["cancel_at"] = None
    sub["canceled_at"] = None
    sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}


def _apply_cancel_at_period_end(env: Env, sub: JSONDict, params: JSONDict) -> None:
    if "cancel_at_period_end" not in params:
        return
    if params["cancel_at_period_end"]:
        sub["cancel_at_period_end"] = True
        sub["cancel_at"] = period_of(sub)[1]
        sub["canceled_at"] = env.now
        sub["cancellation_details"]["reason"] = "cancellation_requested"
    else:
        _clear_scheduled_cancellation(sub)


def _apply_cancel_at(env: Env, sub: JSONDict, params: JSONDict) -> None:
    if "cancel_at" not in params:
        return
    value = params["cancel_at"]
    if value == UNSET or value is None:
        _clear_scheduled_cancellation(sub)
        return
    at = period_of(sub)[1] if isinstance(value, str) else int(value)
    if at <= env.now:
        raise invalid_request("cancel_at must be in the future.", param="cancel_at")
    sub["cancel_at"] = at
    sub["cancel_at_period_end"] = at == period_of(sub)[1]
    sub["canceled_at"] = env.now
    sub["cancellation_details"]["reason"] = "cancellation_requested"


@dataclass
class _UpdateBilling:
    """What an update's item changes bill right away."""

    immediate_invoice: bool = False
    bill_new_period: bool = False  # the invoice also charges a freshly started period
    items_changed: bool = False


def _prorate_item_changes(ctx: Ctx, env: Env, sub: JSONDict, params: JSONDict) -> _UpdateBilling:
    """Apply `items` and `billing_cycle_anchor=now`, with their proration lines."""
    behavior = params.get("proration_behavior") or "create_prorations"
    at = proration_moment(sub, params.get("proration_date"), env.now, "proration_date")
    billing = _UpdateBilling()
    new_invoice_items: list[JSONDict] = []
    # A new interval or billing_cycle_anchor=now restarts the cycle now: the
    # unused time of the old items is credited and the new period billed in
    # full, on an invoice right away.
    reset_now = params.get("billing_cycle_anchor") == "now" and sub["status"] != "trialing"
    if params.get("items"):
        old_items = deep_copy(subscription_items(sub))
        new_items, changed_interval = apply_item_changes(ctx, env, sub, params["items"])
        billing.items_changed = True
        reset_now = reset_now or (changed_interval and sub["status"] != "trialing")
        if reset_now:
            if behavior != "none":
                new_invoice_items = proration_lines(ctx, env, sub, old_items, [], at)
        else:
            if behavior != "none":
                new_invoice_items = proration_lines(ctx, env, sub, old_items, new_items, at)
            _record_billed_amounts(old_items, new_items)
            if behavior == "always_invoice" and new_invoice_items:
                billing.immediate_invoice = True
        sub["items"]["data"] = new_items
    elif reset_now and behavior != "none":
        new_invoice_items = proration_lines(ctx, env, sub, subscription_items(sub), [], at)
    if reset_now:
        rec_interval, rec_count = billing_interval(sub)
        sub["billing_cycle_anchor"] = env.now
        set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
        billing.immediate_invoice = billing.bill_new_period = True
    return billing


def _record_billed_amounts(old_items: list[JSONDict], new_items: list[JSONDict]) -> None:
    """A changed item's next renewal bills its new price (the proration covered the rest)."""
    for item in new_items:
        old = next((o for o in old_items if o["id"] == item["id"]), None)
        if (
            old is None
            or old["price"]["id"] != item["price"]["id"]
            or old.get("quantity") != item.get("quantity")
        ):
            item["_billed_amount"] = price_amount(item["price"], item_quantity(item))


def _apply_trial_end(ctx: Ctx, env: Env, sub: JSONDict, params: JSONDict) -> bool:
    """Move a trial's end; True when `trial_end="now"` ends it (done after saving)."""
    if "trial_end" not in params or sub["status"] != "trialing":
        return False
    value = params["trial_end"]
    if value == "now":
        return True
    if int(value) <= env.now:
        raise invalid_request("Invalid timestamp: must be in the future.", param="trial_end")
    sub["trial_end"] = int(value)
    sub["billing_cycle_anchor"] = int(value)
    for item in subscription_items(sub):
        item["current_period_end"] = int(value)
    sub.pop("_trial_will_end_sent", None)
    if int(value) - env.now <= TRIAL_WILL_END_BEFORE:
        sub["_trial_will_end_sent"] = True
        emit_event(ctx, env, "customer.subscription.trial_will_end", sub)
    return False


def _invoice_update_now(
    ctx: Ctx, env: Env, sub: JSONDict, params: JSONDict, *, bill_new_period: bool
) -> JSONDict:
    """Invoice the update's prorations (and a new period) at once and collect it."""
    inv = cycle_invoice(ctx, env, sub, "subscription_update", include_items=bill_new_period)
    sub["latest_invoice"] = inv["id"]
    save_subscription(ctx, sub)
    ctx.save(inv)
    emit_event(ctx, env, "invoice.created", inv)
    inv = finalize_invoice(ctx, env, inv)
    if inv["status"] != "open" or sub["collection_method"] != "charge_automatically":
        return sub
    payment_behavior = params.get("payment_behavior") or "allow_incomplete"
    if payment_behavior == "default_incomplete":
        return _await_confirmation(ctx, env, sub, inv)
    inv, outcome = collect_invoice(
        ctx, env, inv, off_session=bool(params.get("off_session", True)), automatic=True
    )
    if outcome.result != "succeeded" and payment_behavior in (
        "error_if_incomplete",
        "pending_if_incomplete",
    ):
        raise card_error(
            outcome.message or "Your card was declined.",
            code=outcome.code or "card_declined",
            decline_code=outcome.decline_code,
        )
    if outcome.result != "succeeded":
        sub = ctx.get("subscription", sub["id"])
        if sub["status"] == "active":
            set_status(ctx, env, sub, "past_due")
    return sub


def _await_confirmation(ctx: Ctx, env: Env, sub: JSONDict, inv: JSONDict) -> JSONDict:
    """`payment_behavior=default_incomplete` on an update that bills now: no
    payment attempt; the subscription turns `past_due` and the invoice's
    PaymentIntent waits for an explicit confirmation (SubscriptionUpdateParams'
    `payment_behavior` in the API reference)."""
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    pm_id = subscription_payment_method(ctx, sub)
    if pi is not None and pm_id:
        pi["payment_method"] = pm_id
        pi["status"] = "requires_confirmation"
        ctx.save(pi)
    sub = ctx.get("subscription", sub["id"])
    if sub["status"] == "active":
        set_status(ctx, env, sub, "past_due")
    return sub


def subscription_resume(
    ctx: Ctx,
    sub_id: str,
    *,
    billing_cycle_anchor: str = "now",
    proration_behavior: str = "create_prorations",
) -> JSONDict:
    """Resume a `paused` subscription (POST /v1/subscriptions/{id}/resume).

    A new billing cycle starts now (or keeps the old anchor with
    "unchanged"), is invoiced and charged at once.
    """
    sub = ctx.get("subscription", sub_id)
    if sub["status"] != "paused":
        raise invalid_request(
            "Only a subscription with status `paused` can be resumed.",
        )
    env = api_env(ctx, sub["customer"])
    before = deep_copy(sub)
    rec_interval, rec_count = billing_interval(sub)
    if billing_cycle_anchor == "now":
        sub["billing_cycle_anchor"] = env.now
        set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
    else:
        end = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, env.now)
        set_period(sub, env.now, end)
    sub["status"] = "active"
    snapshot_features(ctx, sub)
    sub["status_details"] = None
    inv = cycle_invoice(ctx, env, sub, "subscription_update")
    sub["latest_invoice"] = inv["id"]
    emit_subscription_updated(ctx, env, sub, before)
    emit_event(ctx, env, "customer.subscription.resumed", sub)
    ctx.save(inv)
    emit_event(ctx, env, "invoice.created", inv)
    inv = finalize_invoice(ctx, env, inv)
    if inv["status"] == "open" and sub["collection_method"] == "charge_automatically":
        collect_invoice(ctx, env, inv, automatic=True)
    refresh_entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub_id)


def paused_details(kind: str, now: int) -> JSONDict:
    """`status_details` of a paused subscription (2026-09-30.endive on)."""
    paused = {"subscription": {"type": kind}, "transitioned_at": now, "type": "subscription"}
    return {"paused": paused}


def subscription_pause(
    ctx: Ctx,
    sub_id: str,
    *,
    invoicing_behavior: str = "pending_invoice_item",
    unused_time_from: str = "now",
) -> JSONDict:
    """Pause an active subscription (POST /v1/subscriptions/{id}/pause, 2026-09-30.endive).

    docs.stripe.com/api/subscriptions/pause: a paused subscription "does not
    generate invoices and will not advance to new billing periods"; it needs
    flexible billing mode and no attached schedule. Unused time of licensed
    items is credited from `now` (or the item's period start, or not at all)
    as pending invoice items, or on an invoice at once (`invoicing_behavior`).
    """
    sub = ctx.get("subscription", sub_id)
    _check_pausable(sub)
    env = api_env(ctx, sub["customer"])
    before = deep_copy(sub)
    if unused_time_from != "none":
        at = period_of(sub)[0] if unused_time_from == "item_current_period_start" else env.now
        proration_lines(ctx, env, sub, subscription_items(sub), [], at)
    sub["status"] = "paused"
    sub["status_details"] = paused_details("pause_requested", env.now)
    if invoicing_behavior == "invoice":
        _invoice_update_now(ctx, env, sub, {}, bill_new_period=False)
        sub = ctx.get("subscription", sub_id)
        sub["status"] = "paused"
    emit_subscription_updated(ctx, env, sub, before)
    emit_event(ctx, env, "customer.subscription.paused", sub)
    refresh_entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub_id)


def _check_pausable(sub: JSONDict) -> None:
    if sub["status"] != "active":
        raise invalid_request(
            f"Only an active subscription can be paused; this one is `{sub['status']}`."
        )
    if (sub.get("billing_mode") or {}).get("type") != "flexible":
        raise invalid_request(
            "Pausing a subscription requires flexible billing mode "
            "(docs.stripe.com/billing/subscriptions/billing-mode)."
        )
    if sub.get("schedule"):
        raise invalid_request(
            f"Cannot pause a subscription with an attached schedule ({sub['schedule']})."
        )


def finish_trial(ctx: Ctx, env: Env, sub: JSONDict, *, synchronous: bool) -> JSONDict:
    """Trial over at env.now: pause/cancel without a payment method, else bill period 1."""
    before = deep_copy(sub)
    if not sub.get("_trial_will_end_sent"):
        sub["_trial_will_end_sent"] = True
        ctx.save(sub)
        emit_event(ctx, env, "customer.subscription.trial_will_end", sub)
    behavior = ((sub.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method", "create_invoice"
    )
    has_pm = (
        bool(subscription_payment_method(ctx, sub)) or sub["collection_method"] == "send_invoice"
    )
    if not has_pm and behavior == "cancel":
        return cancel_now(ctx, env, sub, reason=None)
    sub["trial_end"] = env.now
    if not has_pm and behavior == "pause":
        sub["status"] = "paused"
        sub["status_details"] = paused_details("trial_end_without_payment_method", env.now)
        emit_subscription_updated(ctx, env, sub, before)
        emit_event(ctx, env, "customer.subscription.paused", sub)
        refresh_entitlements(ctx, env, sub["customer"])
        return sub
    rec_interval, rec_count = billing_interval(sub)
    sub["status"] = "active"
    sub["billing_cycle_anchor"] = env.now
    set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
    snapshot_features(ctx, sub)
    inv = cycle_invoice(ctx, env, sub, "subscription_cycle")
    sub["latest_invoice"] = inv["id"]
    emit_subscription_updated(ctx, env, sub, before)
    open_cycle_invoice(ctx, env, sub, inv, synchronous=synchronous)
    refresh_entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub["id"])


def renew(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    """Period end at env.now: roll the items' periods and invoice the new period."""
    before = deep_copy(sub)
    rec_interval, rec_count = billing_interval(sub)
    previous = period_of(sub)
    start = previous[1]
    end = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, start)
    set_period(sub, start, end)
    # A new billing period: product feature changes since the last one apply now.
    snapshot_features(ctx, sub)
    inv = cycle_invoice(ctx, env, sub, "subscription_cycle", usage_period=previous)
    sub["latest_invoice"] = inv["id"]
    emit_subscription_updated(ctx, env, sub, before)
    open_cycle_invoice(ctx, env, sub, inv, synchronous=False)
    refresh_entitlements(ctx, env, sub["customer"])


def expire_incomplete(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    before = deep_copy(sub)
    inv = ctx.find("invoice", id_of(sub.get("latest_invoice")) or "")
    if inv is not None and inv["status"] == "open":
        void_invoice(ctx, env, inv)
    sub["status"] = "incomplete_expired"
    sub["ended_at"] = env.now
    sub["canceled_at"] = env.now
    emit_subscription_updated(ctx, env, sub, before)
