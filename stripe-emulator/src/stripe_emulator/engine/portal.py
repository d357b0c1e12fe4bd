"""Customer portal: configurations, sessions and what the portal pages do.

A portal session's `url` is `{public_url}/portal/{secret}`. Stripe expires an
unused URL after about five minutes; the emulator keeps it usable until
`PORTAL_IDLE_SECONDS` (one hour, real time) pass without a page view, so that
slow e2e runs and manual testing do not trip over it. After that the page
answers 404 "This portal session has expired".
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from ..context import Ctx
from ..errors import StripeAPIError, invalid_request, resource_missing
from ..ids import new_id, random_token
from ..params import UNSET
from ..updates import apply_metadata
from .cancellation import subscription_cancel
from .common import Env
from .confirmation import confirm_setup_intent
from .customers import customer_update
from .invoicing import invoice_pay
from .payments import new_setup_intent
from .preview import invoice_preview
from .subscriptions import subscription_update

JSONDict = dict[str, Any]

PORTAL_IDLE_SECONDS = 3600
CANCEL_REASONS = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
REASON_LABELS = {
    "too_expensive": "It's too expensive",
    "missing_features": "Some features are missing",
    "switched_service": "I'm switching to a different service",
    "unused": "I don't use the service enough",
    "customer_service": "Customer service was less than expected",
    "too_complex": "Ease of use was less than expected",
    "low_quality": "Quality was less than expected",
    "other": "Other reason",
}


def portal_url(ctx: Ctx, secret: str) -> str:
    base = (ctx.app.config.public_url or "http://127.0.0.1:12111").rstrip("/")
    return f"{base}/portal/{secret}"


# --------------------------------------------------------------------------
# configurations


def _blank_features() -> JSONDict:
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "options": [], "feedback_options": None},
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "products": None,
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }


def apply_features(ctx: Ctx, features: JSONDict, update: JSONDict) -> JSONDict:
    """`features` with the `features[...]` parameters of a create or update applied."""
    out = copy.deepcopy(features)
    cu = update.get("customer_update")
    if cu is not None:
        _apply_customer_update_feature(out, cu)
    ih = update.get("invoice_history")
    if ih is not None and "enabled" in ih:
        out["invoice_history"]["enabled"] = bool(ih["enabled"])
    pmu = update.get("payment_method_update")
    if pmu is not None:
        _apply_payment_method_update_feature(out, pmu)
    sc = update.get("subscription_cancel")
    if sc is not None:
        _apply_subscription_cancel_feature(out, sc)
    su = update.get("subscription_update")
    if su is not None:
        _apply_subscription_update_feature(ctx, out, su)
    return out


def _apply_customer_update_feature(out: JSONDict, cu: JSONDict) -> None:
    if "enabled" in cu:
        out["customer_update"]["enabled"] = bool(cu["enabled"])
    if "allowed_updates" in cu:
        allowed = cu["allowed_updates"]
        out["customer_update"]["allowed_updates"] = [] if allowed == UNSET else list(allowed)


def _apply_payment_method_update_feature(out: JSONDict, pmu: JSONDict) -> None:
    if "enabled" in pmu:
        out["payment_method_update"]["enabled"] = bool(pmu["enabled"])
    if "payment_method_configuration" in pmu:
        value = pmu["payment_method_configuration"]
        out["payment_method_update"]["payment_method_configuration"] = value or None


def _apply_subscription_cancel_feature(out: JSONDict, sc: JSONDict) -> None:
    target = out["subscription_cancel"]
    for key in ("enabled", "mode", "proration_behavior"):
        if key in sc:
            target[key] = sc[key]
    reason = sc.get("cancellation_reason")
    if reason is not None:
        if "enabled" in reason:
            target["cancellation_reason"]["enabled"] = bool(reason["enabled"])
        if "options" in reason:
            opts = reason["options"]
            target["cancellation_reason"]["options"] = [] if opts == UNSET else list(opts)
    if target["proration_behavior"] != "none" and target["mode"] != "immediately":
        raise invalid_request(
            "`proration_behavior` can only be set when `mode` is `immediately`.",
            param="features[subscription_cancel][proration_behavior]",
        )
    if target["proration_behavior"] == "always_invoice":
        raise invalid_request(
            "Invalid proration_behavior for subscription_cancel: must be one of none, "
            "create_prorations.",
            param="features[subscription_cancel][proration_behavior]",
        )


def _apply_subscription_update_feature(ctx: Ctx, out: JSONDict, su: JSONDict) -> None:
    target = out["subscription_update"]
    for key in ("enabled", "proration_behavior", "billing_cycle_anchor"):
        if key in su:
            target[key] = su[key]
    if "trial_update_behavior" in su:
        target["trial_update_behavior"] = su["trial_update_behavior"]
    if "default_allowed_updates" in su:
        allowed = su["default_allowed_updates"]
        target["default_allowed_updates"] = [] if allowed == UNSET else list(allowed)
    if "products" in su:
        raw = su["products"]
        target["products"] = None if raw == UNSET else _products(ctx, raw)
    if "schedule_at_period_end" in su:
        conditions = (su["schedule_at_period_end"] or {}).get("conditions") or []
        target["schedule_at_period_end"] = {"conditions": [{"type": c["type"]} for c in conditions]}
    if target["enabled"] and not target["products"]:
        raise invalid_request(
            "You must specify at least one product with prices when subscription updates "
            "are enabled.",
            param="features[subscription_update][products]",
        )


def _products(ctx: Ctx, raw: list[JSONDict]) -> list[JSONDict]:
    if len(raw) > 10:
        raise invalid_request(
            "You can specify at most 10 products.", param="features[subscription_update][products]"
        )
    out = []
    for i, entry in enumerate(raw):
        param = f"features[subscription_update][products][{i}]"
        product = ctx.find("product", entry["product"])
        if product is None:
            raise resource_missing("product", entry["product"], param=f"{param}[product]")
        for price_id in entry.get("prices") or []:
            price = ctx.find("price", price_id)
            if price is None:
                raise resource_missing("price", price_id, param=f"{param}[prices]")
            if price.get("product") != entry["product"]:
                raise invalid_request(
                    f"The price {price_id} does not belong to product {entry['product']}.",
                    param=f"{param}[prices]",
                )
            if not price.get("recurring"):
                raise invalid_request(
                    f"The price {price_id} is not a recurring price.", param=f"{param}[prices]"
                )
        adjustable = entry.get("adjustable_quantity") or {}
        out.append(
            {
                "adjustable_quantity": {
                    "enabled": bool(adjustable.get("enabled", False)),
                    "maximum": adjustable.get("maximum"),
                    "minimum": int(adjustable.get("minimum", 1)),
                },
                "prices": list(entry.get("prices") or []),
                "product": entry["product"],
            }
        )
    return out


def business_profile(current: JSONDict | None, update: Any) -> JSONDict:
    out = dict(
        current or {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None}
    )
    for key in ("headline", "privacy_policy_url", "terms_of_service_url"):
        if isinstance(update, dict) and key in update:
            out[key] = update[key] or None
    return out


def default_configuration(ctx: Ctx) -> JSONDict | None:
    found = ctx.store.all(
        "billing_portal.configuration", lambda c: bool(c.get("is_default")) and bool(c["active"])
    )
    return found[0] if found else None


def portal_configuration_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    now = ctx.now()
    has_default = default_configuration(ctx) is not None
    config: JSONDict = {
        "id": new_id("billing_portal.configuration"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": business_profile(None, params.get("business_profile")),
        "created": now,
        "default_return_url": params.get("default_return_url") or None,
        "features": apply_features(ctx, _blank_features(), params["features"]),
        "is_default": not has_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": params.get("name") or None,
        "updated": now,
    }
    if (params.get("login_page") or {}).get("enabled"):
        config["login_page"] = {
            "enabled": True,
            "url": portal_url(ctx, "login_" + random_token(20)),
        }
    ctx.save(config)
    ctx.emit("billing_portal.configuration.created", config)
    return config


# --------------------------------------------------------------------------
# sessions


def _owned_subscription(ctx: Ctx, sub_id: str, customer_id: str, param: str) -> JSONDict:
    sub = ctx.find("subscription", sub_id)
    if sub is None:
        raise resource_missing("subscription", sub_id, param=param)
    if sub.get("customer") != customer_id:
        raise invalid_request(
            f"The subscription {sub_id} does not belong to customer {customer_id}.", param=param
        )
    if sub.get("status") in ("canceled", "incomplete_expired"):
        raise invalid_request(
            f"The subscription {sub_id} has been canceled and can't be managed in the portal.",
            param=param,
        )
    return sub


def _flow(ctx: Ctx, raw: JSONDict, customer_id: str, config: JSONDict) -> JSONDict:
    ftype = raw["type"]
    if ftype == "customer_update":
        raise invalid_request(
            "flow_data[type]=customer_update requires API version 2026-08-26.dahlia or later.",
            param="flow_data[type]",
        )
    features = config["features"]
    after = raw.get("after_completion") or {"type": "portal_homepage"}
    after_type = after.get("type", "portal_homepage")
    if after_type == "redirect" and not (after.get("redirect") or {}).get("return_url"):
        raise invalid_request(
            "Missing required param: flow_data[after_completion][redirect][return_url].",
            param="flow_data[after_completion][redirect][return_url]",
            code="parameter_missing",
        )
    flow: JSONDict = {
        "after_completion": {
            "hosted_confirmation": (
                {"custom_message": (after.get("hosted_confirmation") or {}).get("custom_message")}
                if after_type == "hosted_confirmation"
                else None
            ),
            "redirect": (
                {"return_url": after["redirect"]["return_url"]}
                if after_type == "redirect"
                else None
            ),
            "type": after_type,
        },
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": ftype,
    }
    if ftype == "payment_method_update":
        if not features["payment_method_update"]["enabled"]:
            raise invalid_request(
                "The payment_method_update flow requires the payment method update feature to "
                "be enabled in the portal configuration.",
                param="flow_data[type]",
            )
        return flow
    spec = raw.get(ftype)
    if not isinstance(spec, dict) or not spec.get("subscription"):
        raise invalid_request(
            f"Missing required param: flow_data[{ftype}][subscription].",
            param=f"flow_data[{ftype}][subscription]",
            code="parameter_missing",
        )
    sub = _owned_subscription(
        ctx, spec["subscription"], customer_id, f"flow_data[{ftype}][subscription]"
    )
    if ftype == "subscription_cancel":
        if not features["subscription_cancel"]["enabled"]:
            raise invalid_request(
                "The subscription_cancel flow requires the subscription cancel feature to be "
                "enabled in the portal configuration.",
                param="flow_data[type]",
            )
        retention = spec.get("retention")
        if retention:
            coupon = retention["coupon_offer"]["coupon"]
            ctx.get("coupon", coupon, param="flow_data[subscription_cancel][retention]")
            retention = {"coupon_offer": {"coupon": coupon}, "type": "coupon_offer"}
        flow["subscription_cancel"] = {"retention": retention or None, "subscription": sub["id"]}
        return flow
    if not features["subscription_update"]["enabled"]:
        raise invalid_request(
            f"The {ftype} flow requires the subscription update feature to be enabled in the "
            "portal configuration.",
            param="flow_data[type]",
        )
    if ftype == "subscription_update":
        flow["subscription_update"] = {"subscription": sub["id"]}
        return flow
    items = spec.get("items") or []
    if len(items) != 1:
        raise invalid_request(
            "flow_data[subscription_update_confirm][items] must contain exactly one item.",
            param="flow_data[subscription_update_confirm][items]",
        )
    item_ids = [i["id"] for i in (sub.get("items") or {}).get("data", [])]
    item = items[0]
    if item["id"] not in item_ids:
        raise invalid_request(
            f"The subscription item {item['id']} does not belong to {sub['id']}.",
            param="flow_data[subscription_update_confirm][items][0][id]",
        )
    if item.get("price"):
        param = "flow_data[subscription_update_confirm][items][0][price]"
        ctx.get("price", item["price"], param=param)
        offered = {
            price_id
            for entry in features["subscription_update"].get("products") or []
            for price_id in entry.get("prices") or []
        }
        if item["price"] not in offered:
            raise invalid_request(
                f"The price {item['price']} is not one of the prices the portal configuration "
                "offers in features[subscription_update][products].",
                param=param,
            )

    flow["subscription_update_confirm"] = {
        "discounts": [
            {"coupon": d.get("coupon"), "promotion_code": d.get("promotion_code")}
            for d in spec.get("discounts") or []
        ]
        or None,
        "items": [{"id": item["id"], "price": item.get("price"), "quantity": item.get("quantity")}],
        "subscription": sub["id"],
    }
    return flow


def portal_session_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    if params.get("customer_account") and not params.get("customer"):
        raise invalid_request(
            "The emulator supports portal sessions for `customer` only.", param="customer_account"
        )
    if not params.get("customer"):
        raise invalid_request(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    customer = ctx.get("customer", params["customer"], param="customer")
    if customer.get("deleted"):
        raise resource_missing("customer", params["customer"], param="customer")
    if params.get("configuration"):
        config = ctx.get(
            "billing_portal.configuration", params["configuration"], param="configuration"
        )
        if not config["active"]:
            raise invalid_request(
                f"The configuration {config['id']} is not active.", param="configuration"
            )
    else:
        found = default_configuration(ctx)
        if found is None:
            raise invalid_request(
                "No configuration provided and your test mode default configuration has not "
                "been created. Provide a configuration or create your default by saving your "
                "customer portal settings in test mode (emulator: POST "
                "/v1/billing_portal/configurations, or POST "
                "/_emulator/billing_portal/default_configuration)."
            )
        config = found
    return_url = params.get("return_url") or config.get("default_return_url")
    flow = (
        _flow(ctx, params["flow_data"], customer["id"], config) if params.get("flow_data") else None
    )
    secret = random_token(32)
    session: JSONDict = {
        "id": new_id("billing_portal.session"),
        "object": "billing_portal.session",
        "configuration": config["id"],
        "created": ctx.now_for_customer(customer),
        "customer": customer["id"],
        "customer_account": None,
        "flow": flow,
        "livemode": False,
        "locale": params.get("locale"),
        "on_behalf_of": params.get("on_behalf_of"),
        "return_url": return_url,
        "url": portal_url(ctx, secret),
        "_secret": secret,
        "_last_seen": time.time(),
    }
    ctx.save(session)
    ctx.store.kv_set(f"portal:{secret}", session["id"])
    ctx.emit("billing_portal.session.created", session)
    return session


def session_for_secret(ctx: Ctx, secret: str) -> JSONDict | None:
    """The live portal session behind a URL secret (None if unknown or expired)."""
    session_id = ctx.store.kv_get(f"portal:{secret}")
    if not session_id:
        return None
    session = ctx.find("billing_portal.session", str(session_id))
    if session is None:
        return None
    if time.time() - float(session.get("_last_seen") or 0) > PORTAL_IDLE_SECONDS:
        return None
    session["_last_seen"] = time.time()
    ctx.save(session)
    return session


def ensure_default_configuration(ctx: Ctx, body: JSONDict | None = None) -> JSONDict:
    """The default configuration, created with every feature on if there is none.

    Plan switching offers every active recurring price, grouped by product
    (at most 10 products). `body`: optional `default_return_url`,
    `cancel_mode` ("at_period_end" | "immediately"), `proration_behavior`.
    """
    body = body or {}
    existing = default_configuration(ctx)
    if existing is not None:
        return existing
    products: dict[str, list[str]] = {}
    for price in reversed(ctx.store.all("price")):
        if price.get("active") and price.get("recurring"):
            products.setdefault(str(price["product"]), []).append(price["id"])
    features: JSONDict = {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "name", "address"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": body.get("cancel_mode", "at_period_end"),
            "cancellation_reason": {"enabled": True, "options": CANCEL_REASONS},
        },
        "subscription_update": {
            "enabled": bool(products),
            "default_allowed_updates": ["price"] if products else [],
            "proration_behavior": body.get("proration_behavior", "create_prorations"),
            "products": [
                {"product": p, "prices": prices} for p, prices in list(products.items())[:10]
            ],
        },
    }
    params: JSONDict = {"features": features}
    if body.get("default_return_url"):
        params["default_return_url"] = body["default_return_url"]
    return portal_configuration_create(ctx, params)


# -- what the portal pages do -----------------------------------------------
# The hosted portal pages (pages/portal_page.py) validate the form and render;
# these make the change, through the same engine calls as the API.

# The subscriptions a portal shows and acts on.
LIVE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")


def portal_subscriptions(ctx: Ctx, customer_id: str) -> list[JSONDict]:
    """The customer's live subscriptions, newest first."""
    return ctx.store.all(
        "subscription",
        lambda s: s.get("customer") == customer_id and s.get("status") in LIVE,
    )


def _plan_change(item_id: str, price_id: str, quantity: int | None) -> JSONDict:
    change: JSONDict = {"id": item_id, "price": price_id}
    if quantity is not None:  # 0 seats is a quantity too
        change["quantity"] = quantity
    return change


def portal_plan_preview(
    ctx: Ctx,
    *,
    customer_id: str,
    subscription_id: str,
    item_id: str,
    price_id: str,
    quantity: int | None,
    proration_behavior: str,
    when: int,
) -> JSONDict:
    """The invoice preview of switching the item to `price_id` at `when` (the confirm page)."""
    return invoice_preview(
        ctx,
        {
            "customer": customer_id,
            "subscription": subscription_id,
            "subscription_details": {
                "items": [_plan_change(item_id, price_id, quantity)],
                "proration_behavior": proration_behavior,
                "proration_date": when,
            },
        },
    )


def portal_plan_update(
    ctx: Ctx,
    *,
    subscription: JSONDict,
    item_id: str,
    feature: JSONDict,
    price_id: str,
    quantity: int | None,
    proration_behavior: str,
    proration_date: int | None,
) -> JSONDict:
    """Switch the plan as the configuration's `subscription_update` feature says."""
    params: JSONDict = {
        "items": [_plan_change(item_id, price_id, quantity)],
        "proration_behavior": proration_behavior,
    }
    if proration_date is not None:
        params["proration_date"] = proration_date
    if (
        subscription.get("status") == "trialing"
        and feature.get("trial_update_behavior") == "end_trial"
    ):
        params["trial_end"] = "now"
    if feature.get("billing_cycle_anchor") == "now":
        params["billing_cycle_anchor"] = "now"
    return subscription_update(ctx, subscription["id"], params)


def portal_subscription_cancel(
    ctx: Ctx, *, sub_id: str, feature: JSONDict, reason: str, comment: str
) -> bool:
    """Cancel as the `subscription_cancel` feature says; True when it ended now."""
    allowed = (feature.get("cancellation_reason") or {}).get("options") or []
    details: JSONDict = {}
    if reason and reason in allowed:
        details["feedback"] = reason
    if comment:
        details["comment"] = comment[:500]
    if feature.get("mode") == "immediately":
        subscription_cancel(
            ctx,
            sub_id,
            prorate=feature.get("proration_behavior") == "create_prorations",
            cancellation_details=details or None,
        )
        return True
    params: JSONDict = {"cancel_at_period_end": True}
    if details:
        params["cancellation_details"] = details
    subscription_update(ctx, sub_id, params)
    return False


def portal_retention_accept(ctx: Ctx, *, sub_id: str, coupon: str) -> JSONDict:
    """The cancellation flow's retention offer: the coupon goes on the subscription."""
    return subscription_update(ctx, sub_id, {"discounts": [{"coupon": coupon}]})


def portal_subscription_renew(ctx: Ctx, *, subscription: JSONDict) -> None:
    """Undo a scheduled cancellation (`cancel_at_period_end`, `cancel_at`)."""
    params: JSONDict = {}
    if subscription.get("cancel_at_period_end"):
        params["cancel_at_period_end"] = False
    if subscription.get("cancel_at"):
        params["cancel_at"] = ""
    if params:
        subscription_update(ctx, subscription["id"], params)


def portal_card_setup(ctx: Ctx, *, customer: JSONDict, payment_method_id: str) -> JSONDict:
    """Save a card for off-session use: a confirmed SetupIntent (maybe `requires_action`)."""
    env = Env(ctx.now_for_customer(customer), automatic=True)
    seti = new_setup_intent(
        ctx,
        env,
        {"customer": customer["id"], "payment_method": payment_method_id, "usage": "off_session"},
    )
    return confirm_setup_intent(ctx, seti)


@dataclass(frozen=True)
class OverduePaymentFailure:
    """Paying an overdue invoice with the new card failed (`requires_action_intent`: 3DS)."""

    error: StripeAPIError
    requires_action_intent: str | None


def portal_payment_method_use(
    ctx: Ctx, *, customer_id: str, payment_method_id: str
) -> OverduePaymentFailure | None:
    """Make the card the default everywhere, then pay what is overdue with it."""
    pm_id = payment_method_id
    customer_update(ctx, {"invoice_settings": {"default_payment_method": pm_id}}, customer_id)
    for sub in portal_subscriptions(ctx, customer_id):
        if sub.get("default_payment_method") != pm_id:
            subscription_update(ctx, sub["id"], {"default_payment_method": pm_id})
    # Pay what is overdue with the new card (past_due / unpaid / incomplete).
    for sub in portal_subscriptions(ctx, customer_id):
        if sub.get("status") not in ("past_due", "unpaid", "incomplete"):
            continue
        latest = sub.get("latest_invoice")
        inv_id = latest["id"] if isinstance(latest, dict) else latest
        inv = ctx.find("invoice", str(inv_id)) if inv_id else None
        if not inv or inv.get("status") != "open":
            continue
        try:
            invoice_pay(ctx, inv["id"], payment_method=pm_id)
        except StripeAPIError as exc:
            return OverduePaymentFailure(exc, _requires_action_intent(ctx, inv["id"], exc))
    return None


def _requires_action_intent(ctx: Ctx, invoice_id: str, exc: StripeAPIError) -> str | None:
    if exc.code not in ("invoice_payment_intent_requires_action", "authentication_required"):
        return None
    pi = exc.extra.get("payment_intent") if exc.extra else None
    if isinstance(pi, dict) and pi.get("id"):
        return str(pi["id"])
    for intent in ctx.store.all("payment_intent", lambda i: i.get("status") == "requires_action"):
        if invoice_id in (str(intent.get("_invoice")), str(intent.get("invoice"))):
            return str(intent["id"])
    return None
