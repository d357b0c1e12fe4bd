"""Disputes: the test cards that dispute a charge, evidence, submission, closing.

Stripe's testing docs (https://docs.stripe.com/testing#disputes): with the
cards 4000000000000259 (`pm_card_createDispute`, fraudulent),
4000000000002685 (`pm_card_createDisputeProductNotReceived`) and
4000000000001976 (`pm_card_createDisputeInquiry`) the charge succeeds and is
then disputed. Evidence (https://docs.stripe.com/testing#evidence): the
`uncategorized_text` of the submitted evidence decides the outcome:
`winning_evidence` closes the dispute as won and credits the account,
`losing_evidence` closes it as lost (an inquiry closes without escalation),
`escalate_inquiry_evidence` turns an inquiry into a chargeback. Closing
(https://docs.stripe.com/api/disputes/close) accepts the dispute: lost.

A chargeback withdraws the amount plus the dispute fee at once
(`charge.dispute.funds_withdrawn`, one balance transaction); winning
reinstates both (`charge.dispute.funds_reinstated`, a second one). An inquiry
moves no money until it is escalated. Stripe resolves test evidence shortly
after submission; here it happens in the same request (README "Known
differences").
"""

from __future__ import annotations

import datetime as dt

from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .balance import dispute_reinstatement, dispute_withdrawal
from .cards import test_card_for
from .common import Env, JSONDict, deep_copy, emit_event

EVIDENCE_FIELDS: tuple[str, ...] = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)

# Stripe's reason and the Visa reason code of each test card's dispute
# (docs.stripe.com/disputes/reason-codes-defense-requirements: fraud 10.4,
# merchandise not received 13.1; an inquiry (retrieval) carries the fraud
# category 10).
_TEST_DISPUTES: dict[str, tuple[str, str, str]] = {
    "fraudulent": ("fraudulent", "chargeback", "10.4"),
    "product_not_received": ("product_not_received", "chargeback", "13.1"),
    "inquiry": ("fraudulent", "inquiry", "10"),
}

CLOSED = ("won", "lost", "warning_closed", "prevented")
SUBMITTED = {"needs_response": "under_review", "warning_needs_response": "warning_under_review"}

WINNING = "winning_evidence"
LOSING = "losing_evidence"
ESCALATE = "escalate_inquiry_evidence"

# The response window: in the API reference's example dispute, evidence is
# due at 23:59:59 UTC nineteen days after the dispute was created.
_DUE_DAYS = 19


def _due_by(created: int) -> int:
    day = dt.datetime.fromtimestamp(created, dt.UTC).date() + dt.timedelta(days=_DUE_DAYS)
    end = dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=dt.UTC)
    return int(end.timestamp())


def _is_inquiry(dispute: JSONDict) -> bool:
    return str(dispute["status"]).startswith("warning_")


def open_test_dispute(ctx: Ctx, env: Env, charge: JSONDict, pm: JSONDict) -> JSONDict | None:
    """Dispute `charge` if it was paid with one of Stripe's dispute test cards."""
    kind = test_card_for(pm).dispute
    if kind == "early_fraud_warning":
        _early_fraud_warning(ctx, env, charge)
        return None
    if kind not in _TEST_DISPUTES:
        return None
    reason, case_type, network_code = _TEST_DISPUTES[kind]
    inquiry = case_type == "inquiry"
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    dispute: JSONDict = {
        "id": new_id("dispute"),
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": env.now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": _due_by(env.now),
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "intended_submission_method": None,
        "is_charge_refundable": inquiry,
        "livemode": False,
        "metadata": {},
        "network_reason_code": network_code,
        "payment_intent": charge.get("payment_intent"),
        "payment_method_details": {
            "card": {
                "brand": card.get("brand") or "visa",
                "case_type": case_type,
                "network": card.get("network") or card.get("brand") or "visa",
                "network_reason_code": network_code,
            },
            "type": "card",
        },
        "reason": reason,
        "status": "warning_needs_response" if inquiry else "needs_response",
    }
    charge["disputed"] = True
    ctx.save(charge)
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.created", dispute)
    if not inquiry:
        _withdraw_funds(ctx, env, dispute)
    return dispute


def _withdraw_funds(ctx: Ctx, env: Env, dispute: JSONDict) -> None:
    txn = dispute_withdrawal(ctx, env, dispute)
    dispute["balance_transactions"] = [*dispute["balance_transactions"], txn]
    dispute["is_charge_refundable"] = False
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.funds_withdrawn", dispute)


def _reinstate_funds(ctx: Ctx, env: Env, dispute: JSONDict) -> None:
    txn = dispute_reinstatement(ctx, env, dispute)
    dispute["balance_transactions"] = [*dispute["balance_transactions"], txn]
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.funds_reinstated", dispute)


def _not_open(dispute: JSONDict) -> StripeAPIError:
    return invalid_request(
        f"This dispute is already closed ({dispute['id']}, status {dispute['status']}).",
    )


def dispute_update(ctx: Ctx, env: Env, dispute: JSONDict, params: JSONDict) -> JSONDict:
    """`POST /v1/disputes/{id}`: metadata, evidence (staged or submitted), test outcomes."""
    evidence = params.get("evidence")
    submit = bool(params.get("submit", True))
    if evidence and dispute["status"] in CLOSED:
        raise _not_open(dispute)
    if evidence and dispute["status"] not in SUBMITTED:
        raise invalid_request(
            "This dispute has already been submitted and its evidence can no longer be updated.",
            param="evidence",
        )
    before = deep_copy(dispute)
    if "metadata" in params:
        dispute["metadata"] = apply_metadata(dispute.get("metadata"), params["metadata"])
    if evidence:
        _stage_evidence(dispute, evidence)
    # `submit` defaults to true: new evidence is submitted unless `submit=false`;
    # `submit=true` alone submits what was staged before.
    staged = dispute["evidence_details"]["has_evidence"]
    submitting = (
        submit
        and dispute["status"] in SUBMITTED
        and (bool(evidence) or ("submit" in params and staged))
    )
    if submitting:
        dispute["status"] = SUBMITTED[dispute["status"]]
        dispute["evidence_details"]["submission_count"] += 1
        dispute["evidence_details"]["submission_method"] = "manual"
    if dispute == before:
        return dispute
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.updated", dispute, previous=before)
    if submitting:
        _test_outcome(ctx, env, dispute)
    return dispute


def _stage_evidence(dispute: JSONDict, evidence: JSONDict) -> None:
    stored = dispute["evidence"]
    for name, value in evidence.items():
        if name == "enhanced_evidence":
            stored["enhanced_evidence"] = {**(stored.get("enhanced_evidence") or {}), **value}
        else:
            stored[name] = value or None
    dispute["evidence_details"]["has_evidence"] = any(stored.get(f) for f in EVIDENCE_FIELDS)


def _test_outcome(ctx: Ctx, env: Env, dispute: JSONDict) -> None:
    """What Stripe's test evidence values do once submitted."""
    text = (dispute["evidence"].get("uncategorized_text") or "").strip()
    inquiry = dispute["status"] == "warning_under_review"
    if text == ESCALATE and inquiry:
        _escalate(ctx, env, dispute)
    elif text in (WINNING, LOSING) and inquiry:
        _close(ctx, env, dispute, "warning_closed")
    elif text == WINNING:
        _close(ctx, env, dispute, "won")
        _reinstate_funds(ctx, env, dispute)
    elif text == LOSING:
        _close(ctx, env, dispute, "lost")


def _escalate(ctx: Ctx, env: Env, dispute: JSONDict) -> None:
    before = deep_copy(dispute)
    dispute["status"] = "needs_response"
    dispute["payment_method_details"]["card"]["case_type"] = "chargeback"
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.updated", dispute, previous=before)
    _withdraw_funds(ctx, env, dispute)


def _close(ctx: Ctx, env: Env, dispute: JSONDict, status: str) -> None:
    dispute["status"] = status
    ctx.save(dispute)
    emit_event(ctx, env, "charge.dispute.closed", dispute)


def dispute_close(ctx: Ctx, env: Env, dispute: JSONDict) -> JSONDict:
    """`POST /v1/disputes/{id}/close`: accept the dispute (lost; an inquiry closes)."""
    if dispute["status"] in CLOSED:
        raise _not_open(dispute)
    if dispute["status"] not in SUBMITTED:
        # The API reference: closing moves a dispute from `needs_response` to
        # `lost`; one whose evidence was submitted is with the issuer.
        raise invalid_request(
            f"This dispute ({dispute['id']}) is under review and can no longer be closed."
        )
    _close(ctx, env, dispute, "warning_closed" if _is_inquiry(dispute) else "lost")
    return dispute


def dispute_of_charge(ctx: Ctx, charge_id: str) -> JSONDict | None:
    found = ctx.store.all_where("dispute", {"charge": charge_id})
    return found[0] if found else None


def _early_fraud_warning(ctx: Ctx, env: Env, charge: JSONDict) -> JSONDict:
    """The issuer's early fraud warning on `charge` (4000000000005423).

    `fraud_type` is `misc`, as in the API reference's example: the testing
    docs do not say which type the test card reports.
    """
    efw: JSONDict = {
        "id": new_id("radar.early_fraud_warning"),
        "object": "radar.early_fraud_warning",
        "actionable": True,
        "charge": charge["id"],
        "created": env.now,
        "fraud_type": "misc",
        "livemode": False,
        "payment_intent": charge.get("payment_intent"),
    }
    ctx.save(efw)
    emit_event(ctx, env, "radar.early_fraud_warning.created", efw)
    return efw


def early_fraud_warnings_after_refund(ctx: Ctx, env: Env, charge: JSONDict) -> None:
    """A fully refunded charge's early fraud warnings are no longer actionable.

    (docs.stripe.com/api/radar/early_fraud_warnings/object: "An EFW is
    actionable if it has not received a dispute and has not been fully
    refunded.")
    """
    if not charge.get("refunded"):
        return
    for efw in ctx.store.all_where("radar.early_fraud_warning", {"charge": charge["id"]}):
        if efw["actionable"]:
            before = deep_copy(efw)
            efw["actionable"] = False
            ctx.save(efw)
            emit_event(ctx, env, "radar.early_fraud_warning.updated", efw, previous=before)
