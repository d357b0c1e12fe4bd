"""Stripe's test cards: PaymentMethods built from typed cards, their test behaviour, attaching.

Every card PaymentMethod stores its test behaviour under the private key
`_test_card` (see `TestCard`), which the engine reads through
`test_card_for(pm)` to decide whether a charge succeeds, declines or needs
3-D Secure.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from ..context import Ctx
from ..errors import StripeAPIError, card_error, invalid_request, resource_missing
from ..ids import new_id
from ..updates import apply_metadata

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class TestCard:
    """How a test card behaves.

    behaviour:
      succeed          every charge succeeds
      decline          cannot be attached; charges decline with `decline_code`
      charge_fail      attaches fine, every charge declines (4000000000000341)
      auth_unless_setup 3DS on-session and off-session unless set up (…3155)
      auth_always      3DS on every payment, renewals too (…3184)
      auth_on_session  set up already: off-session succeeds, on-session needs 3DS (…0446)
      auth_then_decline 3DS, then declines with `decline_code` (…3178, …1629)

    dispute: the charge succeeds and is then disputed (docs.stripe.com/testing#disputes):
      "fraudulent" (…0259), "product_not_received" (…2685) or "inquiry" (…1976);
      "early_fraud_warning" (…5423): an early fraud warning instead of a dispute.
    bypass_pending: the charge's funds are available at once (…0077,
      docs.stripe.com/testing#available-balance).

    refund (docs.stripe.com/testing, "Simulate an asynchronous refund"):
      pending_then_succeed  refunds start `pending`, later `succeeded` (…7726)
      succeed_then_fail     refunds start `succeeded`, later `failed` (…5126)
    """

    __test__ = False  # not a pytest test class

    brand: str
    funding: str = "credit"
    country: str = "US"
    behaviour: str = "succeed"
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    dispute: str | None = None
    bypass_pending: bool = False
    refund: str | None = None


DECLINED_MESSAGE = "Your card was declined."


TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa"),
    "4000056655665556": TestCard("visa", funding="debit"),
    "5555555555554444": TestCard("mastercard"),
    "2223003122003222": TestCard("mastercard"),
    "5200828282828210": TestCard("mastercard", funding="debit"),
    "378282246310005": TestCard("amex"),
    "6011111111111117": TestCard("discover"),
    "4000000000003055": TestCard("visa"),
    "4000000000000077": TestCard("visa", bypass_pending=True),
    "4000000000007726": TestCard("visa", refund="pending_then_succeed"),
    "4000000000005126": TestCard("visa", refund="succeed_then_fail"),
    "4000000000000259": TestCard("visa", dispute="fraudulent"),
    "4000000000002685": TestCard("visa", dispute="product_not_received"),
    "4000000000001976": TestCard("visa", dispute="inquiry"),
    "4000000000005423": TestCard("visa", dispute="early_fraud_warning"),
    "4000000000000002": TestCard(
        "visa",
        behaviour="decline",
        code="card_declined",
        decline_code="generic_decline",
        message=DECLINED_MESSAGE,
    ),
    "4000000000009995": TestCard(
        "visa",
        behaviour="decline",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "4000000000009987": TestCard(
        "visa",
        behaviour="decline",
        code="card_declined",
        decline_code="lost_card",
        message=DECLINED_MESSAGE,
    ),
    "4000000000009979": TestCard(
        "visa",
        behaviour="decline",
        code="card_declined",
        decline_code="stolen_card",
        message=DECLINED_MESSAGE,
    ),
    "4000000000000069": TestCard(
        "visa",
        behaviour="decline",
        code="expired_card",
        decline_code="expired_card",
        message="Your card has expired.",
    ),
    "4000000000000127": TestCard(
        "visa",
        behaviour="decline",
        code="incorrect_cvc",
        decline_code="incorrect_cvc",
        message="Your card's security code is incorrect.",
    ),
    "4000000000000119": TestCard(
        "visa",
        behaviour="decline",
        code="processing_error",
        decline_code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000000000006975": TestCard(
        "visa",
        behaviour="decline",
        code="card_declined",
        decline_code="card_velocity_exceeded",
        message="Your card was declined for making repeated attempts "
        "too frequently or exceeding its amount limit.",
    ),
    "4000000000000341": TestCard(
        "visa",
        behaviour="charge_fail",
        code="card_declined",
        decline_code="generic_decline",
        message=DECLINED_MESSAGE,
    ),
    "4000002500003155": TestCard("visa", behaviour="auth_unless_setup"),
    "4000002760003184": TestCard("visa", behaviour="auth_always"),
    "4000003800000446": TestCard("visa", behaviour="auth_on_session"),
    "4000000000003220": TestCard("visa", behaviour="auth_always"),
    "4000008260003178": TestCard(
        "visa",
        behaviour="auth_then_decline",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "4000008400001629": TestCard(
        "visa",
        behaviour="auth_then_decline",
        code="card_declined",
        decline_code="generic_decline",
        message=DECLINED_MESSAGE,
    ),
}


# pm_card_* / tok_* aliases -> card number
ALIASES: dict[str, str] = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "bypassPending": "4000000000000077",
    "pendingRefund": "4000000000007726",
    "refundFail": "4000000000005126",
    "threeDSecureOptional": "4000000000003055",
    "createDispute": "4000000000000259",
    "createDisputeProductNotReceived": "4000000000002685",
    "createDisputeInquiry": "4000000000001976",
    "visa_chargeDeclined": "4000000000000002",
    "chargeDeclined": "4000000000000002",
    "visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "visa_chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedLostCard": "4000000000009987",
    "visa_chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "visa_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "chargeCustomerFail": "4000000000000341",
    "visa_chargeCustomerFail": "4000000000000341",
    "authenticationRequiredOnSetup": "4000002500003155",
    "authenticationRequired": "4000002760003184",
    "authenticationRequiredSetupForOffSession": "4000003800000446",
    "threeDSecure2Required": "4000000000003220",
    "authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "threeDSecureRequiredChargeDeclined": "4000008400001629",
}


def _luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _brand_for(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in ("51", "52", "53", "54", "55") or number[:4] in ("2221", "2223", "2720"):
        return "mastercard"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    return "unknown"


def test_card_for(pm: JSONDict) -> TestCard:
    """The behaviour of a stored card PaymentMethod (success for non-cards)."""
    raw = pm.get("_test_card")
    if isinstance(raw, dict):
        return TestCard(**raw)
    return TestCard("visa")


def alias_number(token: str) -> str | None:
    for prefix in ("pm_card_", "tok_"):
        if token.startswith(prefix):
            return ALIASES.get(token[len(prefix) :])
    return None


def card_object(
    ctx: Ctx,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    param_prefix: str = "card",
) -> tuple[JSONDict, TestCard]:
    number = number.replace(" ", "")
    if not _luhn_ok(number):
        raise card_error(
            "Your card number is incorrect.",
            code="incorrect_number",
            param=f"{param_prefix}[number]",
        )
    card = TEST_CARDS.get(number) or TestCard(_brand_for(number))
    if not 1 <= exp_month <= 12:
        raise card_error(
            "Your card's expiration month is invalid.",
            code="invalid_expiry_month",
            param=f"{param_prefix}[exp_month]",
        )
    now_year = 1970 + ctx.now() // 31_556_952
    if exp_year < 100:
        exp_year += 2000
    if exp_year < now_year:
        raise card_error(
            "Your card's expiration year is invalid.",
            code="invalid_expiry_year",
            param=f"{param_prefix}[exp_year]",
        )
    cvc_check = None
    if cvc:
        cvc_check = "fail" if number == "4000000000000127" else "pass"
    fingerprint = hashlib.sha256(("fp:" + number).encode()).hexdigest()[:16]
    return (
        {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": cvc_check,
            },
            "country": card.country,
            "display_brand": card.brand.replace("amex", "american_express"),
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": number[-4:],
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        card,
    )


def billing_details_of(raw: Any) -> JSONDict:
    raw = raw if isinstance(raw, dict) else {}
    addr = raw.get("address")
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {
        "address": {k: (addr or {}).get(k) for k in keys}
        if isinstance(addr, dict)
        else dict.fromkeys(keys),
        "email": raw.get("email") or None,
        "name": raw.get("name") or None,
        "phone": raw.get("phone") or None,
        "tax_id": raw.get("tax_id") or None,
    }


def build_card_payment_method(
    ctx: Ctx,
    number: str,
    *,
    exp_month: int = 12,
    exp_year: int | None = None,
    cvc: str | None = None,
    billing_details: Any = None,
    metadata: Any = None,
    param_prefix: str = "card",
) -> JSONDict:
    """Create and store a card PaymentMethod (used by the API and hosted pages)."""
    if exp_year is None:
        exp_year = 1970 + ctx.now() // 31_556_952 + 5
    card, behaviour = card_object(ctx, number, exp_month, exp_year, cvc, param_prefix)
    pm: JSONDict = {
        "id": new_id("payment_method"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details_of(billing_details),
        "card": card,
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": apply_metadata({}, metadata),
        "type": "card",
        "_test_card": asdict(behaviour),
    }
    ctx.save(pm)
    return pm


def resolve_payment_method(ctx: Ctx, pm_id: str, *, param: str = "payment_method") -> JSONDict:
    """A stored PaymentMethod, or a fresh one for a `pm_card_*` / `tok_*` alias."""
    number = alias_number(pm_id)
    if number is not None:
        return build_card_payment_method(ctx, number)
    pm = ctx.find("payment_method", pm_id)
    if pm is None:
        raise resource_missing("payment_method", pm_id, param=param)
    return pm


def attach_payment_method(
    ctx: Ctx, pm_id: str, customer_id: str, *, param: str = "payment_method"
) -> JSONDict:
    """Attach (emitting payment_method.attached); declining test cards fail with 402."""
    customer = ctx.get("customer", customer_id, param="customer")
    if customer.get("deleted"):
        raise resource_missing("customer", customer_id, param="customer")
    pm = resolve_payment_method(ctx, pm_id, param=param)
    if pm.get("customer") == customer_id:
        return pm
    if pm.get("customer"):
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param=param,
        )
    if pm.get("_detached"):
        raise invalid_request(
            "This PaymentMethod was previously used without being attached to a Customer or "
            "was detached from a Customer, and may not be used again.",
            param=param,
        )
    card = test_card_for(pm)
    if card.behaviour == "decline":
        raise card_error(
            card.message or DECLINED_MESSAGE,
            code=card.code or "card_declined",
            decline_code=card.decline_code,
            param=None,
        )
    pm["customer"] = customer_id
    ctx.save(pm)
    ctx.emit("payment_method.attached", pm)
    return pm


def card_decline_error(card: TestCard, payment_intent: JSONDict | None = None) -> StripeAPIError:
    """The 402 a charge on `card` raises (for the billing engine)."""
    extra: JSONDict = {}
    if payment_intent is not None:
        extra["payment_intent"] = payment_intent
    return card_error(
        card.message or DECLINED_MESSAGE,
        code=card.code or "card_declined",
        decline_code=card.decline_code,
        extra=extra,
    )
