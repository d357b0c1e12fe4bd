"""API versions: which ones are accepted, and what each renders differently.

Stored objects have the shape of the newest accepted version. At render time
(responses, and event payloads per destination) `render_version()` walks the
tree and, for every object type with rules in `CHANGES`, drops the fields its
version does not have yet, or fills them with their default when a stored
object predates them. Only fields the emulator produces are listed; where a
change comes from is noted next to it (Stripe's changelog, confirmed by the
resource classes of the stripe-python release pinned to that version, whose
schema snapshots are in `schemas/`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import invalid_request

JSONDict = dict[str, Any]

# Every released version from the emulator's baseline on, oldest first
# (docs.stripe.com/changelog: dahlia monthly releases 2026-05-27, 06-24, 07-29,
# 08-26; endive 2026-09-30 (major) and 2026-10-28). Each is the pin of a
# stripe-python release (tools/sdk_snapshot.py RELEASES).
RELEASED_VERSIONS: tuple[str, ...] = (
    "2026-05-27.dahlia",
    "2026-06-24.dahlia",
    "2026-07-29.dahlia",
    "2026-08-26.dahlia",
    "2026-09-30.endive",
    "2026-10-28.endive",
)
NEWEST_VERSION = RELEASED_VERSIONS[-1]
_ORDER = {v: i for i, v in enumerate(RELEASED_VERSIONS)}


def check_version(version: str, *, param: str | None = None) -> str:
    """`version` if the emulator accepts it, else Stripe's 400.

    Stripe answers an unknown or malformed `Stripe-Version` with a 400
    `invalid_request_error` "Invalid Stripe API version: <value>" and no
    `param` (its message as reported in stripe/stripe-java#682 and
    beam-community/stripity-stripe#606). A webhook endpoint's `api_version`
    is checked the same way, with `param`.
    """
    if version in _ORDER:
        return version
    shown = version if len(version) <= 100 else version[:100] + "..."
    raise invalid_request(f"Invalid Stripe API version: {shown}", param=param)


def at_least(version: str, since: str) -> bool:
    """Whether `version` is `since` or newer (both accepted versions)."""
    return _ORDER[version] >= _ORDER[since]


@dataclass(frozen=True)
class Change:
    """One field of one object type that differs between versions.

    `added`: absent before `version`, present (``default()`` if the stored
    object lacks it) from `version` on. `removed`: present before, absent
    from. `renamed`: called `old_name` before `version`. `path` is dotted
    inside the object (``trial_settings.end_behavior.billing_cycle_anchor``;
    ``phases[].trial`` steps into every element of a list); a null or
    missing parent hash means there is nothing to change.
    """

    version: str
    object_type: str
    path: str
    kind: Literal["added", "removed", "renamed"]
    source: str
    default: Callable[[], Any] = lambda: None
    old_name: str = ""


def _const(value: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(value)


_CL = "https://docs.stripe.com/changelog/"

# Version -> fields added per object type, for the objects the emulator renders.
CHANGES: tuple[Change, ...] = (
    # 2026-06-24.dahlia: "Adds invoice description, footer, and custom fields
    # to the Subscriptions API" (returned when retrieving a Subscription).
    *(
        Change(
            "2026-06-24.dahlia",
            "subscription",
            f"invoice_settings.{name}",
            "added",
            _CL + "dahlia/2026-06-24/invoice-description-footer-and-custom-fields",
        )
        for name in ("custom_fields", "description", "footer")
    ),
    # 2026-06-24.dahlia: "Adds transaction link ID to card payment method
    # details for Mastercard and Maestro transactions" (null otherwise).
    Change(
        "2026-06-24.dahlia",
        "charge",
        "payment_method_details.card.transaction_link_id",
        "added",
        _CL + "dahlia/2026-06-24/card-payment-method-details-transaction-link-id",
    ),
    # 2026-07-29.dahlia: "Adds the allowed payment method types parameter to
    # Payment Intents and Setup Intents" (also a property of both objects).
    *(
        Change(
            "2026-07-29.dahlia",
            obj,
            "allowed_payment_method_types",
            "added",
            _CL + "dahlia/2026-07-29/allowed-payment-method-types-parameter",
        )
        for obj in ("payment_intent", "setup_intent")
    ),
    # 2026-07-29.dahlia: "Adds customer and payment method details to the
    # Refunds API": customer, customer_account, payment_method.
    *(
        Change(
            "2026-07-29.dahlia",
            "refund",
            name,
            "added",
            _CL + "dahlia/2026-07-29/adds-customer-and-payment-method-details-to-the-refunds-api",
        )
        for name in ("customer", "customer_account", "payment_method")
    ),
    # 2026-08-26.dahlia: "Adds frozen fields property to Invoice Items".
    Change(
        "2026-08-26.dahlia",
        "invoiceitem",
        "frozen_fields",
        "added",
        _CL + "dahlia/2026-08-26/adds-frozen-fields-property-to-invoice-items",
        default=_const([]),
    ),
    # 2026-08-26.dahlia (SDK 15.6 classes; the Feedback Options API itself is
    # documented under endive 2026-09-30 "feedback-options-api"): custom
    # cancellation reasons on portal configurations and on
    # subscription.cancellation_details.
    Change(
        "2026-08-26.dahlia",
        "billing_portal.configuration",
        "features.subscription_cancel.cancellation_reason.feedback_options",
        "added",
        _CL + "endive/2026-09-30/feedback-options-api",
    ),
    Change(
        "2026-08-26.dahlia",
        "subscription",
        "cancellation_details.feedback_option",
        "added",
        _CL + "endive/2026-09-30/feedback-options-api",
    ),
    # 2026-07-29.dahlia: "Adds the trial property to subscription schedule phases".
    Change(
        "2026-07-29.dahlia",
        "subscription_schedule",
        "phases[].trial",
        "added",
        _CL + "dahlia/2026-07-29/subscription-schedule-phases-trial-property",
        default=_const(False),
    ),
    # 2026-09-30.endive: "The pause_schedules field on Subscription Schedules"
    # (same changelog entry as the pause endpoint).
    Change(
        "2026-09-30.endive",
        "subscription_schedule",
        "pause_schedules",
        "added",
        _CL + "endive/2026-09-30/pause-subscription",
        default=_const([]),
    ),
    # 2026-09-30.endive: "Adds the ability to pause and resume Subscriptions
    # on demand": paused subscriptions include `status_details`.
    Change(
        "2026-09-30.endive",
        "subscription",
        "status_details",
        "added",
        _CL + "endive/2026-09-30/pause-subscription",
    ),
    # 2026-09-30.endive (preview since 2026-03-25 "trial offers on subscription
    # items", GA in the endive SDK): item `current_trial` and
    # `trial_settings.end_behavior.billing_cycle_anchor`.
    Change(
        "2026-09-30.endive",
        "subscription_item",
        "current_trial",
        "added",
        _CL + "dahlia/2026-03-25/trial-offers-on-subscription-items",
    ),
    Change(
        "2026-09-30.endive",
        "subscription",
        "trial_settings.end_behavior.billing_cycle_anchor",
        "added",
        _CL + "dahlia/2026-03-25/trial-offers-on-subscription-items",
    ),
    # 2026-07-29.dahlia: "Adds card network details to the Dispute object".
    Change(
        "2026-07-29.dahlia",
        "dispute",
        "payment_method_details.card.network",
        "added",
        _CL + "dahlia/2026-07-29/dispute-payment-method-details-card-network",
    ),
    # 2026-10-28.endive: the evidence submission method (always present) and
    # the intended submission method (null without Smart Disputes).
    Change(
        "2026-10-28.endive",
        "dispute",
        "evidence_details.submission_method",
        "added",
        _CL + "endive/2026-10-28/evidence-submission-method-property-disputes",
        default=_const("not_submitted"),
    ),
    Change(
        "2026-10-28.endive",
        "dispute",
        "intended_submission_method",
        "added",
        _CL + "endive/2026-10-28/adds-intended-submission-method-for-disputes",
    ),
)

# Object type -> its changes, newest last.
_BY_TYPE: dict[str, list[Change]] = {}
for _change in CHANGES:
    _BY_TYPE.setdefault(_change.object_type, []).append(_change)


def render_version(value: Any, version: str) -> Any:
    """Render `value` (an object, a list, a tree of both) in `version`, in place."""
    if isinstance(value, dict):
        obj_type = value.get("object")
        if isinstance(obj_type, str) and obj_type in _BY_TYPE:
            apply_changes(obj_type, value, version)
        if obj_type == "event":
            # An Event keeps the version it was rendered in (STRIPE.md §4.3).
            return value
        for item in value.values():
            if isinstance(item, dict | list):
                render_version(item, version)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                render_version(item, version)
    return value


def apply_changes(obj_type: str, obj: JSONDict, version: str, *, fill: bool = True) -> None:
    """Apply `obj_type`'s rules to one object (not its children).

    `fill=False` only removes (for `previous_attributes`, which hold changed
    fields only).
    """
    at = _ORDER[version]
    for change in _BY_TYPE.get(obj_type, ()):
        present = at >= _ORDER[change.version]
        *parents, name = change.path.split(".")
        if change.kind == "removed":
            present = not present
        for node in _parent_nodes(obj, parents):
            _apply_one(change, node, name, present=present, fill=fill)


def _parent_nodes(obj: JSONDict, parents: list[str]) -> list[JSONDict]:
    """The hashes a dotted path's parents lead to; `name[]` steps into every list element."""
    nodes: list[Any] = [obj]
    for part in parents:
        step: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if part.endswith("[]"):
                value = node.get(part[:-2])
                step.extend(value if isinstance(value, list) else [])
            else:
                step.append(node.get(part))
        nodes = step
    return [n for n in nodes if isinstance(n, dict)]


def _apply_one(change: Change, node: JSONDict, name: str, *, present: bool, fill: bool) -> None:
    if change.kind == "renamed":
        new, old = (name, change.old_name) if present else (change.old_name, name)
        if old in node:
            node[new] = node.pop(old)
    elif present:
        if fill and name not in node:
            node[name] = change.default()
    else:
        node.pop(name, None)


def differences() -> list[tuple[str, str, str, str, str]]:
    """(version, object type, path, kind, source) for the README table and tests."""
    return [(c.version, c.object_type, c.path, c.kind, c.source) for c in CHANGES]
