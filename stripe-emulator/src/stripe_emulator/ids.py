"""Identifiers shaped like Stripe's (prefix + random base62)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Resource type -> id prefix. Looked up by resource modules and by expansion.
PREFIXES: dict[str, str] = {
    "account": "acct",
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "subscription": "sub",
    "subscription_item": "si",
    "subscription_schedule": "sub_sched",
    "invoice": "in",
    "line_item": "il",
    "invoiceitem": "ii",
    "payment_intent": "pi",
    "charge": "ch",
    "payment_method": "pm",
    "setup_intent": "seti",
    "checkout.session": "cs_test",
    "billing_portal.session": "bps",
    "billing_portal.configuration": "bpc",
    "event": "evt",
    "webhook_endpoint": "we",
    "test_helpers.test_clock": "clock",
    "entitlements.feature": "feat",
    "product_feature": "prodft",
    "entitlements.active_entitlement": "ent",
    "promotion_code": "promo",
    "refund": "re",
    "dispute": "du",
    "balance_transaction": "txn",
    "radar.early_fraud_warning": "issfr",
    "discount": "di",
    "billing.meter": "mtr",
    "billing.meter_event": "mevt",
    "invoice_payment": "inpay",
    "credit_note": "cn",
    "credit_note_line_item": "cnli",
    "customer_balance_transaction": "cbtxn",
    "request": "req",
    "fingerprint": "fp",
}


def random_token(length: int = 24) -> str:
    # One urandom read per token (not one per character): ids are made on
    # hot paths. Bytes >= 248 are dropped so every character is uniform.
    out = ""
    while len(out) < length:
        out += "".join(_ALPHABET[b % 62] for b in secrets.token_bytes(length * 2) if b < 248)
    return out[:length]


def new_id(kind: str, length: int = 24) -> str:
    """A fresh id for resource `kind` (a key of PREFIXES, or a raw prefix)."""
    prefix = PREFIXES.get(kind, kind)
    return f"{prefix}_{random_token(length)}"


def new_request_id() -> str:
    return new_id("request", 14)


def new_webhook_secret() -> str:
    return "whsec_" + random_token(32)
