"""Sentry set-up, active only when SENTRY_DSN is set.

``scrub_event`` runs on every event before it leaves the process and removes
what must never reach a third party:

* by key, anywhere in the event (locals, request data, breadcrumb data,
  extra, custom contexts): people's names, email addresses, phone numbers and
  postal addresses, including Stripe's ``billing_details``, ``shipping``,
  ``address`` and ``customer_details`` objects;
* in any text: email addresses, Stripe secret/restricted/ephemeral keys,
  webhook secrets and client secrets, our API tokens (``saas_pat_...``),
  bearer tokens, ``'name': '...'``-style pairs in reprs and JSON, and
  card numbers, also glued to other text (``pm_card_4242...``). A digit run
  counts as a card only if it passes the Luhn check and starts like one (2-6),
  so ids, amounts and millisecond timestamps (``1764676800123``) survive.

Names inside free text ("charge failed for Jane Doe") cannot be told apart
from other words; keep them out of exception and log messages.
"""

from __future__ import annotations

import re
from typing import Any

FILTERED = "[Filtered]"

# Keys whose values are personal data (compared lower-case, "-" read as "_").
PII_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "middle_name",
        "full_name",
        "given_name",
        "family_name",
        "cardholder_name",
        "customer_name",
        "billing_name",
        "shipping_name",
        "email",
        "email_address",
        "customer_email",
        "receipt_email",
        "billing_email",
        "phone",
        "phone_number",
        "mobile",
        "customer_phone",
        "address",
        "addresses",
        "billing_address",
        "shipping_address",
        "customer_address",
        "line1",
        "line2",
        "address_line1",
        "address_line2",
        "street",
        "city",
        "postal_code",
        "postcode",
        "zip",
        "zip_code",
        "billing_details",
        "shipping",
        "shipping_details",
        "customer_details",
        "customer_shipping",
    }
)
# Contexts the SDK fills in itself (runtime, os, trace ...): their "name" is no person's.
SDK_CONTEXTS = frozenset(
    {"runtime", "os", "device", "app", "browser", "gpu", "culture", "trace", "cloud_resource"}
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Secret, restricted and ephemeral keys, webhook secrets (publishable keys are
# public), also after an underscore ("STRIPE_KEY_sk_live_...").
_STRIPE_SECRET = re.compile(r"(?<![A-Za-z0-9])(?:(?:sk|rk|ek)_(?:test|live)_|whsec_)[A-Za-z0-9]+")
# The secret half of a PaymentIntent/SetupIntent client secret.
_CLIENT_SECRET = re.compile(r"(?<![A-Za-z0-9])((?:pi|seti)_[A-Za-z0-9]+_secret_)[A-Za-z0-9]+")
# Personal API tokens: projects.services.TOKEN_MARKER + token_urlsafe().
_API_TOKEN = re.compile(r"(?<![A-Za-z0-9])saas_pat_[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b((?i:bearer))\s+[A-Za-z0-9._~+/=-]{8,}")
_PII_ALTERNATION = "|".join(sorted(PII_KEYS, key=len, reverse=True))
# 'name': 'Jane' / "name": "Jane" (reprs, JSON text) and name='Jane' (reprs, kwargs).
_PII_PAIR = re.compile(
    rf"""(?ix)
    (?P<key>(?P<q>['"])(?:{_PII_ALTERNATION})(?P=q)\s*:\s*|(?<![A-Za-z0-9_])(?:{_PII_ALTERNATION})=)
    (?P<v>['"])(?:\\.|(?!(?P=v)).)*(?P=v)
    """
)
# Digits, in groups separated by single spaces or dashes, not glued to more digits.
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)")
_DIGITS = re.compile(r"\d+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """13-19 digits that start like a card (2-6) and pass the Luhn check."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)


def _mask_cards_in_run(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = [(g.start(), g.end()) for g in _DIGITS.finditer(run)]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        # The longest card starting at this group (a card may be printed in groups).
        last, digits = None, ""
        for index in range(first, len(groups)):
            digits += run[groups[index][0] : groups[index][1]]
            if len(digits) > 19:
                break
            if is_card_number(digits):
                last = index
        if last is None:
            first += 1
            continue
        spans.append((groups[first][0], groups[last][1]))
        first = last + 1
    if not spans:
        return run
    out, kept = [], 0
    for start, end in spans:
        out += [run[kept:start], FILTERED]
        kept = end
    out.append(run[kept:])
    return "".join(out)


def _mask_pii_pair(match: re.Match[str]) -> str:
    quote = match.group("v")
    return f"{match.group('key')}{quote}{FILTERED}{quote}"


def scrub_text(value: str) -> str:
    value = _STRIPE_SECRET.sub(FILTERED, value)
    value = _CLIENT_SECRET.sub(rf"\1{FILTERED}", value)
    value = _API_TOKEN.sub(FILTERED, value)
    value = _BEARER.sub(rf"\1 {FILTERED}", value)
    value = _EMAIL.sub(FILTERED, value)
    value = _PII_PAIR.sub(_mask_pii_pair, value)
    return _DIGIT_RUN.sub(_mask_cards_in_run, value)


def is_pii_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in PII_KEYS


def _scrub(value: Any, *, by_key: bool = True) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: FILTERED
            if by_key and is_pii_key(key) and value[key] not in (None, "", [], {})
            else _scrub(value[key], by_key=by_key)
            for key in value
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, by_key=by_key) for item in value]
    return value


def _scrub_threads(threads: Any) -> Any:
    """A thread's own ``name`` is the thread's; its frames' locals are scrubbed by key."""
    if not isinstance(threads, dict) or not isinstance(threads.get("values"), list):
        return _scrub(threads)
    values = []
    for thread in threads["values"]:
        if isinstance(thread, dict):
            name = thread.get("name")
            thread = _scrub(thread)
            if isinstance(name, str):
                thread["name"] = scrub_text(name)
        values.append(thread)
    return {**_scrub({k: v for k, v in threads.items() if k != "values"}), "values": values}


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry ``before_send``/``before_send_transaction`` hook."""
    scrubbed: dict[str, Any] = {}
    for key, value in event.items():
        if key in ("sdk", "modules"):
            scrubbed[key] = value  # the SDK and installed packages: nothing personal
        elif key == "contexts" and isinstance(value, dict):
            scrubbed[key] = {
                name: _scrub(context, by_key=name not in SDK_CONTEXTS)
                for name, context in value.items()
            }
        elif key == "threads":
            scrubbed[key] = _scrub_threads(value)
        else:
            scrubbed[key] = _scrub(value)
    user = event.get("user")
    if isinstance(user, dict):
        # Keep the opaque id for grouping; drop everything personal.
        scrubbed["user"] = {"id": user["id"]} if "id" in user else {}
    return scrubbed


def sentry_init(
    *,
    dsn: str,
    environment: str,
    release: str | None,
    traces_sample_rate: float,
    transport: Any = None,
) -> None:
    """Start Sentry. ``transport`` replaces the HTTP one (tests capture what would be sent)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        transport=transport,
        integrations=[
            DjangoIntegration(),
            # monitor_beat_tasks: every beat schedule becomes a Sentry Cron monitor.
            CeleryIntegration(monitor_beat_tasks=True),
            RedisIntegration(),
            LoggingIntegration(),
        ],
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
    )
