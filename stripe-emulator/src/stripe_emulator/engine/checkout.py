"""Checkout Sessions: completion (shared by the hosted page and the test
helpers), promotion codes, amounts and expiry.

Completion leaves billing to the other engine modules: a subscription-mode
session calls `subscription_create(..., origin="checkout",
payment_behavior="error_if_incomplete")` (one-time prices as
`add_invoice_items` on the first invoice), payment mode confirms a PaymentIntent
and setup mode a SetupIntent. It runs in a savepoint, so a decline leaves
nothing behind; a 3-D Secure card is challenged first (the session waits in
`_pending`) and then completed with `authenticated=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..clock import register_advance_handler
from ..context import Ctx
from ..errors import StripeAPIError
from . import checkout_tax
from .cards import (
    alias_number,
    attach_payment_method,
    build_card_payment_method,
    resolve_payment_method,
)
from .checkout_invoice import post_payment_invoice
from .common import Env
from .confirmation import confirm_setup_intent
from .customers import customer_create
from .discounts import promotion_code_redeemable
from .payments import (
    attempt_payment_intent,
    card_charge_outcome,
    new_payment_intent,
    new_setup_intent,
)
from .subscriptions import subscription_create

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------
# building


def _has_trial(session: JSONDict) -> bool:
    sub_data = session.get("_subscription_data") or {}
    return bool(sub_data.get("trial_period_days") or sub_data.get("trial_end"))


def recompute_amounts(ctx: Ctx, session: JSONDict) -> None:
    """Fill amount_subtotal/total, total_details and per-item amounts.

    In subscription mode with a trial nothing is due today, so the session
    totals are 0 (as the first invoice is).
    """
    items: list[JSONDict] = session["_line_items"]
    coupon = None
    if session.get("discounts"):
        coupon = ctx.find("coupon", str(session["discounts"][0]["coupon"]))
    trial = session["mode"] == "subscription" and _has_trial(session)
    subtotal = 0
    discount_total = 0
    for item in items:
        # A trial defers the recurring prices; one-time prices are due today.
        base = 0 if trial and _is_recurring(ctx, item) else _item_base(ctx, item)
        item["amount_subtotal"] = base
        off = _discount_on(ctx, coupon, item, base)
        item["amount_discount"] = off
        item["amount_total"] = base - off
        subtotal += base
        discount_total += off
    if coupon and coupon.get("amount_off") is not None:
        # amount_off applies once to the order (in its currency), split over the
        # items it applies to.
        eligible = [i for i in items if _eligible(ctx, coupon, i)]
        same_currency = (coupon.get("currency") or session.get("currency")) == session.get(
            "currency"
        )
        pool = sum(i["amount_subtotal"] for i in eligible) if same_currency else 0
        discount_total = min(int(coupon["amount_off"]), pool)
        remaining = discount_total
        for item in eligible:
            share = min(remaining, item["amount_subtotal"])
            item["amount_discount"] = share
            item["amount_total"] = item["amount_subtotal"] - share
            remaining -= share
    if session["mode"] == "setup":
        session["amount_subtotal"] = None
        session["amount_total"] = None
        session["total_details"] = None
        return
    session["amount_subtotal"] = subtotal
    session["amount_total"] = subtotal - discount_total
    session["total_details"] = {
        "amount_discount": discount_total,
        "amount_shipping": 0,
        "amount_tax": 0,
    }
    checkout_tax.apply_session_tax(ctx, session)


def _is_recurring(ctx: Ctx, item: JSONDict) -> bool:
    return bool((ctx.find("price", str(item["price"])) or {}).get("recurring"))


def _item_base(ctx: Ctx, item: JSONDict) -> int:
    price = ctx.find("price", str(item["price"])) or {}
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        return 0
    return int(price.get("unit_amount") or 0) * int(item.get("quantity") or 1)


def _eligible(ctx: Ctx, coupon: JSONDict, item: JSONDict) -> bool:
    applies = (coupon.get("applies_to") or {}).get("products")
    if not applies:
        return True
    price = ctx.find("price", str(item["price"])) or {}
    return price.get("product") in applies


def _discount_on(ctx: Ctx, coupon: JSONDict | None, item: JSONDict, base: int) -> int:
    """A percent_off coupon's share of one item (amount_off: see recompute_amounts)."""
    if not coupon or base <= 0 or coupon.get("percent_off") is None:
        return 0
    if not _eligible(ctx, coupon, item):
        return 0
    return round(base * float(coupon["percent_off"]) / 100)


def session_customer_details(
    email: str | None,
    name: str | None,
    address: JSONDict | None = None,
    phone: str | None = None,
) -> JSONDict:
    return {
        "address": address,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": phone,
        "tax_exempt": "none",
        "tax_ids": [],
    }


ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
# Countries without postal codes, where Stripe's address forms do not ask for
# one: Hong Kong, Macao, the UAE, Qatar and others. The list is the one in
# Stripe's Android SDK (CountryUtils.NO_POSTAL_CODE_COUNTRIES); Stripe's docs
# only say that a postal code is optional "in a country where postal codes
# aren't required" (changelog 2026-09-30, Elements with Checkout Sessions).
NO_POSTAL_CODE_COUNTRIES = frozenset({
    "AE", "AG", "AN", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF",
    "CG", "CI", "CK", "CM", "DJ", "DM", "ER", "FJ", "GD", "GH", "GM", "GN", "GQ", "GY",
    "HK", "IE", "JM", "KE", "KI", "KM", "KN", "KP", "LC", "ML", "MO", "MR", "MS", "MU",
    "MW", "NR", "NU", "PA", "QA", "RW", "SA", "SB", "SC", "SL", "SO", "SR", "ST", "SY",
    "TF", "TK", "TL", "TO", "TT", "TV", "TZ", "UG", "VU", "YE", "ZA", "ZW",
})  # fmt: skip


def needs_address(session: JSONDict) -> bool:
    return session.get("billing_address_collection") == "required" or checkout_tax.collects_address(
        session
    )


def needs_phone(session: JSONDict) -> bool:
    return bool((session.get("phone_number_collection") or {}).get("enabled"))


def needs_terms(session: JSONDict) -> bool:
    return (session.get("consent_collection") or {}).get("terms_of_service") == "required"


def load_session(ctx: Ctx, session_id: str, *, param: str = "session") -> JSONDict:
    """The session (expiring it first if its time has passed)."""
    session = ctx.get("checkout.session", session_id, param=param)
    return expire_if_due(ctx, session)


def session_now(ctx: Ctx, session: JSONDict) -> int:
    return ctx.now_for_clock(session.get("_test_clock"))


def expire_if_due(ctx: Ctx, session: JSONDict, at: int | None = None) -> JSONDict:
    now = at if at is not None else session_now(ctx, session)
    if session.get("status") == "open" and now >= int(session["expires_at"]):
        return session_expire(ctx, session, automatic=True, at=now)
    return session


def session_expire(
    ctx: Ctx, session: JSONDict, *, automatic: bool, at: int | None = None
) -> JSONDict:
    session["status"] = "expired"
    session["url"] = None
    session.pop("_pending", None)
    ctx.save(session)
    ctx.emit(
        "checkout.session.expired",
        session,
        automatic=automatic,
        created=at if at is not None else session_now(ctx, session),
    )
    return session


@register_advance_handler
def _expire_on_clock(ctx: Ctx, clock: JSONDict, target: int) -> None:
    """Sessions for customers on an advancing test clock expire in its time."""
    for session in ctx.store.all(
        "checkout.session",
        lambda s: s.get("_test_clock") == clock["id"] and s.get("status") == "open",
    ):
        if int(session["expires_at"]) <= target:
            session_expire(ctx, session, automatic=True, at=int(session["expires_at"]))


# --------------------------------------------------------------------------
# completion (hosted page and test helpers)


@dataclass
class CardInput:
    """What the customer typed (or a test helper passed)."""

    number: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    cvc: str = ""
    name: str = ""
    payment_method: str = ""  # an existing pm_... or pm_card_* alias instead of a number
    address: dict[str, str] = field(default_factory=dict)  # billing address, when collected
    phone: str = ""
    accepted_terms: bool = False
    tax_id: str = ""  # with tax_id_collection: the business's tax ID and name
    business_name: str = ""

    @property
    def given(self) -> bool:
        return bool(self.number or self.payment_method)


@dataclass
class Outcome:
    """Result of a completion attempt.

    status: "complete"; "requires_action" (show the 3DS page, `challenge` is
    the URL path); "error" (shown inline, session stays open; `param` names
    the offending field).
    """

    status: Literal["complete", "requires_action", "error"]
    session: JSONDict
    message: str = ""
    param: str = ""
    code: str = ""
    decline_code: str = ""
    challenge: str = ""

    @property
    def redirect_url(self) -> str | None:
        """success_url with {CHECKOUT_SESSION_ID} filled in (complete only)."""
        url = self.session.get("success_url")
        if self.status != "complete" or not url:
            return None
        return str(url).replace("{CHECKOUT_SESSION_ID}", str(self.session["id"]))


class _Rollback(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def card_required(ctx: Ctx, session: JSONDict) -> bool:
    """False when `payment_method_collection=if_required` and nothing is due now."""
    if session["mode"] != "subscription":
        return session["mode"] != "payment" or (session.get("amount_total") or 0) > 0
    if session.get("payment_method_collection") != "if_required":
        return True
    return int(session.get("amount_total") or 0) > 0


def apply_promotion_code(ctx: Ctx, session: JSONDict, code: str) -> str | None:
    """Apply a customer-entered code; returns an error message or None."""
    code = code.strip()
    if not code:
        return None
    if not session.get("allow_promotion_codes"):
        return "Promotion codes are not accepted for this purchase."
    now = session_now(ctx, session)
    matches = ctx.store.all(
        "promotion_code", lambda p: str(p.get("code", "")).lower() == code.lower()
    )
    promo = next((p for p in matches if p.get("active")), None)
    if promo is None or not promotion_code_redeemable(ctx, promo, session.get("customer"), now):
        return "This code is invalid."
    restrictions = promo.get("restrictions") or {}
    minimum = restrictions.get("minimum_amount")
    if minimum and int(session.get("amount_subtotal") or 0) < int(minimum):
        return "This code can't be used for this purchase: the order total is too low."
    session["discounts"] = [{"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"]}]
    recompute_amounts(ctx, session)
    return None


def _card_error_outcome(session: JSONDict, exc: StripeAPIError) -> Outcome:
    return Outcome(
        "error",
        session,
        message=exc.message,
        param=exc.param or "card",
        code=exc.code or "",
        decline_code=exc.decline_code or "",
    )


def _make_payment_method(ctx: Ctx, card: CardInput, email: str) -> JSONDict:
    if card.payment_method:
        return resolve_payment_method(ctx, card.payment_method)
    number = card.number.replace(" ", "").replace("-", "")
    alias = alias_number(number)
    if alias:
        number = alias
    return build_card_payment_method(
        ctx,
        number,
        exp_month=card.exp_month or 12,
        exp_year=card.exp_year,
        cvc=card.cvc or None,
        billing_details={"name": card.name or None, "email": email or None},
        param_prefix="card",
    )


def start_completion(
    ctx: Ctx,
    session: JSONDict,
    *,
    email: str,
    card: CardInput,
    promotion_code: str = "",
    challenge_base: str = "/3ds/",
) -> Outcome:
    """Validate the form, then complete or ask for 3-D Secure.

    Runs the attempt in a savepoint: on a decline everything it created
    (payment method, customer, subscription, events) is rolled back and the
    session stays open.
    """
    session = expire_if_due(ctx, session)
    if session["status"] != "open":
        return Outcome(
            "error",
            session,
            message=f"This Checkout Session is no longer active ({session['status']}).",
            code="checkout_session_not_open",
        )
    session.pop("_pending", None)
    if promotion_code:
        problem = apply_promotion_code(ctx, session, promotion_code)
        if problem:
            ctx.save(session)
            return Outcome("error", session, message=problem, param="promotion_code")
    customer = ctx.find("customer", session["customer"]) if session.get("customer") else None
    email = (customer or {}).get("email") or session.get("customer_email") or email.strip()
    if not email or "@" not in email:
        ctx.save(session)
        return Outcome("error", session, message="Your email address is incomplete.", param="email")
    if card_required(ctx, session) and not card.given:
        ctx.save(session)
        return Outcome(
            "error", session, message="Your card number is incomplete.", param="card_number"
        )
    missing = _details_problem(session, card)
    if missing:
        ctx.save(session)
        return Outcome("error", session, message=missing[1], param=missing[0])
    try:
        with ctx.store.atomic():
            pm = _make_payment_method(ctx, card, email) if card.given else None
            needs_auth = False
            if pm is not None:
                outcome = card_charge_outcome(pm, off_session=False)
                if (
                    outcome.result == "declined"
                    and (pm.get("_test_card") or {}).get("behaviour") == "decline"
                ):
                    raise _Rollback(
                        Outcome(
                            "error",
                            session,
                            message=outcome.message or "Your card was declined.",
                            param="card_number",
                            code=outcome.code or "card_declined",
                            decline_code=outcome.decline_code or "",
                        )
                    )
                needs_auth = outcome.result == "requires_action"
            if needs_auth and pm is not None:
                session["_pending"] = {
                    "payment_method": pm["id"],
                    "email": email,
                    "name": card.name,
                    "details": _details_of(card),
                }
                ctx.save(session)
                return Outcome(
                    "requires_action", session, challenge=f"{challenge_base}{session['id']}"
                )
            return _finish(
                ctx, session, pm, email, card.name, _details_of(card), authenticated=False
            )
    except _Rollback as rb:
        ctx.save(session)
        return rb.outcome
    except StripeAPIError as exc:
        if exc.type == "card_error":
            ctx.save(session)
            return _card_error_outcome(session, exc)
        raise


def _address_problem(address: dict[str, str]) -> tuple[str, str] | None:
    country = address.get("country", "").upper()
    required = [("line1", "address"), ("city", "city")]
    if country not in NO_POSTAL_CODE_COUNTRIES:
        required.append(("postal_code", "postal code"))
    for key, label in required:
        if not address.get(key):
            return f"address_{key}", f"Your {label} is incomplete."
    if len(country) != 2:
        return "address_country", "Choose your country."
    return None


def _details_problem(session: JSONDict, card: CardInput) -> tuple[str, str] | None:
    if needs_address(session) and (problem := _address_problem(card.address)):
        return problem
    if needs_phone(session) and len("".join(ch for ch in card.phone if ch.isdigit())) < 6:
        return "phone", "Your phone number is incomplete."
    if needs_terms(session) and not card.accepted_terms:
        return "terms", "You must agree to the terms of service to continue."
    return checkout_tax.details_problem(session, card.address, card.tax_id)


def _details_of(card: CardInput) -> JSONDict:
    out: JSONDict = {}
    if card.address:
        out["address"] = {k: (card.address.get(k) or None) for k in ADDRESS_KEYS}
    if card.phone:
        out["phone"] = card.phone
    out["accepted_terms"] = card.accepted_terms
    if card.tax_id:
        out["tax_id"] = card.tax_id
        out["business_name"] = card.business_name
    return out


def finish_authentication(ctx: Ctx, session: JSONDict, *, succeed: bool) -> Outcome:
    """The 3DS page's buttons for a session waiting in `_pending`."""
    session = expire_if_due(ctx, session)
    pending = session.get("_pending")
    if session["status"] != "open" or not pending:
        return Outcome(
            "error",
            session,
            message="There is no payment waiting for authentication on this session.",
            code="no_pending_authentication",
        )
    session.pop("_pending", None)
    if not succeed:
        ctx.save(session)
        return Outcome(
            "error",
            session,
            message="We are unable to authenticate your payment method. Please choose a "
            "different payment method and try again.",
            param="card_number",
            code="payment_intent_authentication_failure",
        )
    pm = ctx.get("payment_method", pending["payment_method"])
    try:
        with ctx.store.atomic():
            return _finish(
                ctx,
                session,
                pm,
                pending["email"],
                pending.get("name") or "",
                pending.get("details") or {},
                authenticated=True,
            )
    except _Rollback as rb:
        return rb.outcome
    except StripeAPIError as exc:
        if exc.type == "card_error":
            return _card_error_outcome(session, exc)
        raise


def _finish(
    ctx: Ctx,
    session: JSONDict,
    pm: JSONDict | None,
    email: str,
    name: str,
    details: JSONDict,
    *,
    authenticated: bool,
) -> Outcome:
    mode = session["mode"]
    customer_id = session.get("customer")
    customer: JSONDict = {}
    if customer_id:
        customer = ctx.get("customer", customer_id)
    elif mode == "subscription" or session.get("customer_creation") == "always":
        # Subscription mode always ends with a Customer; payment/setup mode only
        # with customer_creation=always (otherwise a "guest" purchase).
        new_customer: JSONDict = {"email": email}
        if name:
            new_customer["name"] = name
        if details.get("address"):
            new_customer["address"] = details["address"]
        if details.get("phone"):
            new_customer["phone"] = details["phone"]
        customer = customer_create(ctx, new_customer)
        customer_id = customer["id"]
    if pm is not None and customer_id:
        pm = attach_payment_method(ctx, pm["id"], str(customer_id))
    checkout_tax.remember_details(session, details)
    checkout_tax.save_to_customer(ctx, session, customer, details)
    recompute_amounts(ctx, session)
    if mode == "subscription":
        _subscribe(ctx, session, pm, customer_id, authenticated=authenticated)
    elif mode == "setup":
        session["payment_status"] = "no_payment_required"
        if pm is not None:
            session["setup_intent"] = _set_up(ctx, session, pm, customer_id, authenticated)
    else:
        _pay_once(ctx, session, pm, customer_id, email, authenticated=authenticated)
    session["status"] = "complete"
    session["url"] = None
    session["customer"] = customer_id
    session["customer_details"] = session_customer_details(
        customer.get("email") or email,
        customer.get("name") or name or None,
        details.get("address") or customer.get("address"),
        details.get("phone") or customer.get("phone"),
    )
    checkout_tax.finish_details(session, details)
    if needs_terms(session) or (session.get("consent_collection") or {}).get("promotions"):
        session["consent"] = {
            "promotions": None,
            "terms_of_service": "accepted" if details.get("accepted_terms") else None,
        }
    session["_completed_at"] = session_now(ctx, session)
    ctx.save(session)
    ctx.emit("checkout.session.completed", session, automatic=True)
    return Outcome("complete", session)


def _subscribe(
    ctx: Ctx,
    session: JSONDict,
    pm: JSONDict | None,
    customer_id: str | None,
    *,
    authenticated: bool,
) -> None:
    """Subscription mode: the subscription (a decline rolls the attempt back)."""
    sub_data = session.get("_subscription_data") or {}
    recurring = [i for i in session["_line_items"] if _is_recurring(ctx, i)]
    # One-time prices are billed once, on the first invoice.
    one_time = [
        {"price": i["price"], "quantity": int(i.get("quantity") or 1)}
        for i in session["_line_items"]
        if not _is_recurring(ctx, i)
    ]
    params: JSONDict = {
        "customer": customer_id,
        "items": [
            {"price": i["price"], **({"quantity": i["quantity"]} if i["quantity"] else {})}
            for i in recurring
        ],
        "payment_behavior": "error_if_incomplete",
        **({"add_invoice_items": one_time} if one_time else {}),
        "metadata": dict(sub_data.get("metadata") or {}),
    }
    if pm is not None:
        params["default_payment_method"] = pm["id"]
    for key in (
        "trial_period_days",
        "trial_end",
        "trial_settings",
        "description",
        "billing_cycle_anchor",
        "proration_behavior",
        "default_tax_rates",
        "invoice_settings",
    ):
        if sub_data.get(key) is not None:
            params[key] = sub_data[key]
    if session.get("discounts"):
        d = session["discounts"][0]
        params["discounts"] = [
            {"promotion_code": d["promotion_code"]}
            if d.get("promotion_code")
            else {"coupon": d["coupon"]}
        ]
    checkout_tax.subscription_params(session, params)
    if pm is not None and _nothing_due_now(session):
        _set_up_card_for_later(ctx, session, pm, customer_id, authenticated=authenticated)
    sub = subscription_create(ctx, params, origin="checkout", authenticated=authenticated)
    if sub.get("status") not in ("active", "trialing"):
        raise _Rollback(
            Outcome(
                "error",
                session,
                message="Your card was declined.",
                param="card_number",
                code="card_declined",
            )
        )
    session["subscription"] = sub["id"]
    latest = sub.get("latest_invoice")
    session["invoice"] = latest["id"] if isinstance(latest, dict) else latest
    due = int(session.get("amount_total") or 0)
    session["payment_status"] = "paid" if due > 0 else "no_payment_required"


def _nothing_due_now(session: JSONDict) -> bool:
    """Subscription mode with nothing to charge today (a trial, a 100% discount)."""
    return int(session.get("amount_total") or 0) == 0


def _set_up_card_for_later(
    ctx: Ctx, session: JSONDict, pm: JSONDict, customer_id: str | None, *, authenticated: bool
) -> None:
    """Nothing is charged today, so Checkout saves the card with a SetupIntent.

    Stripe's Billing subscriptions that start with nothing due collect the card
    through a SetupIntent, authenticated on-session, so the charge when the
    trial ends is off-session and needs no authentication
    (support.stripe.com/questions/no-prompt-for-3d-secure-(3ds)-authentication-
    when-customer-creates-a-subscription-with-a-trial-period; the 3155 card
    "authenticates unless set up", docs.stripe.com/testing#regulatory-cards).
    The 3DS page has already run when the card asks for it (`authenticated`);
    the SetupIntent is the subscription's, so the session's `setup_intent`
    stays null (Stripe fills it in setup mode only).
    """
    _set_up(ctx, session, pm, customer_id, authenticated)


def _set_up(
    ctx: Ctx, session: JSONDict, pm: JSONDict, customer_id: str | None, authenticated: bool
) -> str:
    """Setup mode: a SetupIntent for the card, confirmed now (the card is set up)."""
    data = session.get("_setup_intent_data") or {}
    env = Env(session_now(ctx, session), automatic=True)
    seti = new_setup_intent(
        ctx,
        env,
        {
            "customer": customer_id,
            "payment_method": pm["id"],
            "description": data.get("description"),
            "metadata": data.get("metadata"),
            "usage": "off_session",
        },
    )
    seti = confirm_setup_intent(ctx, seti, authenticated=authenticated)
    if seti["status"] != "succeeded":
        error = seti.get("last_setup_error") or {}
        raise _Rollback(
            Outcome(
                "error",
                session,
                message=str(error.get("message") or "Your card was declined."),
                param="card_number",
                code=str(error.get("code") or "card_declined"),
                decline_code=str(error.get("decline_code") or ""),
            )
        )
    return str(seti["id"])


def _pay_once(
    ctx: Ctx,
    session: JSONDict,
    pm: JSONDict | None,
    customer_id: str | None,
    email: str,
    *,
    authenticated: bool,
) -> None:
    """Payment mode: one PaymentIntent for the session total, confirmed now."""
    amount = int(session.get("amount_total") or 0)
    if amount <= 0 or pm is None:
        session["payment_status"] = "no_payment_required"
        return
    data = session.get("_payment_intent_data") or {}
    env = Env(session_now(ctx, session), automatic=True)
    pi = new_payment_intent(
        ctx,
        env,
        amount=amount,
        currency=str(session["currency"]),
        customer=customer_id,
        payment_method=pm["id"],
        description=data.get("description"),
        metadata=data.get("metadata"),
        setup_future_usage=data.get("setup_future_usage"),
    )
    pi, outcome = attempt_payment_intent(
        ctx, env, pi, pm, off_session=False, authenticated=authenticated
    )
    if outcome.result != "succeeded":
        raise _Rollback(
            Outcome(
                "error",
                session,
                message=outcome.message or "Your card was declined.",
                param="card_number",
                code=outcome.code or "card_declined",
                decline_code=outcome.decline_code or "",
            )
        )
    session["payment_intent"] = pi["id"]
    session["payment_status"] = "paid"
    invoice = post_payment_invoice(ctx, env, session, pi["id"])
    if invoice is not None:
        session["invoice"] = invoice["id"]
    if pi.get("receipt_email") is None and email:
        pi["receipt_email"] = email
        ctx.save(pi)
