"""The single test-mode account the emulator pretends to be."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request

JSONDict = dict[str, Any]


ACCOUNT_ID = "acct_1EmulatorTestAcct"
DEFAULT_BUSINESS_NAME = "Stripe Emulator"
# The Dashboard's Settings > Public details, which the API cannot change for
# one's own account: kept in the kv store, set by POST /_emulator/account.
PUBLIC_DETAILS_KEY = "account.public_details"
PUBLIC_DETAILS = (
    "business_name",
    "support_email",
    "support_url",
    "terms_of_service_url",
    "privacy_policy_url",
)


def public_details(ctx: Ctx) -> dict[str, str | None]:
    """The account's public details; the business name from the config by default."""
    stored = ctx.store.kv_get(PUBLIC_DETAILS_KEY, {}) or {}
    details: dict[str, str | None] = {key: stored.get(key) for key in PUBLIC_DETAILS}
    details["business_name"] = (
        stored.get("business_name") or ctx.app.config.business_name or DEFAULT_BUSINESS_NAME
    )
    return details


def update_public_details(ctx: Ctx, body: JSONDict) -> dict[str, str | None]:
    """Change public details as the Dashboard would; "" or null clears one."""
    unknown = sorted(set(body) - set(PUBLIC_DETAILS))
    if unknown:
        raise invalid_request(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    stored = dict(ctx.store.kv_get(PUBLIC_DETAILS_KEY, {}) or {})
    for key, value in body.items():
        if value is not None and not isinstance(value, str):
            raise invalid_request(f"Invalid string: {value!r}", param=key)
        if key.endswith("_url") and value and not value.startswith(("http://", "https://")):
            raise invalid_request(
                f"Not a valid URL: {value!r}. It must start with http:// or https://.", param=key
            )
        stored[key] = (value or "").strip() or None
    ctx.store.kv_set(PUBLIC_DETAILS_KEY, stored)
    return public_details(ctx)


def account_object(ctx: Ctx) -> JSONDict:
    stored = ctx.store.get(ACCOUNT_ID)
    if stored is not None:
        return stored
    details = public_details(ctx)
    empty_address = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))
    requirements: JSONDict = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    account: JSONDict = {
        "id": ACCOUNT_ID,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": details["business_name"],
            "product_description": None,
            "support_address": empty_address,
            "support_email": details["support_email"],
            "support_phone": None,
            "support_url": details["support_url"],
            "url": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": 1700000000,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "emulator@example.com",
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{ACCOUNT_ID}/external_accounts",
        },
        "future_requirements": requirements,
        "metadata": {},
        "payouts_enabled": True,
        "requirements": requirements,
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "sepa_debit_payments": {},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": details["business_name"], "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": "EMULATOR",
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "standard",
    }
    return account
