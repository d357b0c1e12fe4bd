"""Disputes (chargebacks and inquiries): what is open, what is due, who it concerns.

dj-stripe mirrors every ``charge.dispute.*`` event's Dispute (with its Charge,
whose customer is a team). Reads here hide its ``stripe_data`` JSON; the one
write, ``dispute_evidence_submit``, calls Stripe (``POST /v1/disputes/{id}``
with ``evidence`` and ``submit``) and mirrors the answer.

Statuses (Stripe's Dispute.status): an inquiry is ``warning_needs_response``,
``warning_under_review``, then ``warning_closed``; a chargeback is
``needs_response``, ``under_review``, then ``won`` or ``lost``.
``evidence_details.due_by`` is when evidence must be in by (null or 0 when the
issuer allows no response).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from djstripe.models import Charge, Dispute

from ..access.policy import DISPUTE_OPEN_STATUSES
from ..services import BillingError, _as_dict, _translate, stripe_client

logger = logging.getLogger(__name__)

# Evidence can still change the outcome.
NEEDS_RESPONSE_STATUSES = ("needs_response", "warning_needs_response")
OPEN_STATUSES = DISPUTE_OPEN_STATUSES
# Staff are reminded this long before the evidence deadline.
DEADLINE_REMINDER_DAYS = 3


def _ts(value: Any) -> datetime | None:
    if not value:  # Stripe sends 0 or null when no response is allowed
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


@dataclass(frozen=True)
class DisputeRow:
    """One dispute as staff see it."""

    id: str
    charge_id: str
    amount: int
    currency: str
    reason: str
    status: str
    due_by: datetime | None
    created: datetime | None
    customer_id: str
    team_name: str
    team_slug: str
    evidence_url: str

    @property
    def reason_label(self) -> str:
        return self.reason.replace("_", " ")

    @property
    def status_label(self) -> str:
        return self.status.replace("_", " ")

    @property
    def needs_response(self) -> bool:
        return self.status in NEEDS_RESPONSE_STATUSES


def dispute_evidence_url(dispute_id: str) -> str:
    """Where staff submit evidence for a dispute.

    Stripe: the dispute's page under the Dashboard's Disputes tab
    (https://dashboard.stripe.com/disputes, ``test/`` in test mode). The
    emulator has no evidence form, so its object page; evidence then goes
    through the admin's form (``dispute_evidence_submit``), as with Stripe's API.
    """
    if settings.STRIPE_EMULATOR:
        return f"{settings.STRIPE_API_BASE}/dashboard/objects/{dispute_id}"
    mode = "" if settings.STRIPE_LIVE_MODE else "test/"
    return f"https://dashboard.stripe.com/{mode}disputes/{dispute_id}"


def _row(dispute: Dispute) -> DisputeRow:
    data: dict[str, Any] = dispute.stripe_data or {}
    charge = dispute.charge
    customer = charge.customer if charge is not None else None
    team = customer.subscriber if customer is not None else None
    return DisputeRow(
        id=dispute.id,
        charge_id=_id(data.get("charge")),
        amount=int(data.get("amount") or 0),
        currency=str(data.get("currency") or ""),
        reason=str(data.get("reason") or ""),
        status=str(data.get("status") or ""),
        due_by=_ts((data.get("evidence_details") or {}).get("due_by")),
        created=_ts(data.get("created")),
        customer_id=customer.id if customer is not None else "",
        team_name=str(getattr(team, "name", "") or ""),
        team_slug=str(getattr(team, "slug", "") or ""),
        evidence_url=dispute_evidence_url(dispute.id),
    )


def _current_mode() -> Any:
    return Dispute.objects.filter(livemode=settings.STRIPE_LIVE_MODE).select_related(
        "charge__customer__subscriber"
    )


def disputes_open() -> list[DisputeRow]:
    """Open disputes in the current mode, the nearest evidence deadline first."""
    rows = [_row(d) for d in _current_mode().filter(stripe_data__status__in=OPEN_STATUSES)]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.due_by or far, r.id))


def disputes_due_soon(*, now: datetime, days: int = DEADLINE_REMINDER_DAYS) -> list[DisputeRow]:
    """Disputes still waiting for evidence whose deadline is within ``days`` from ``now``
    (and not past: a missed deadline is lost already, a reminder would not help)."""
    return [
        row
        for row in disputes_open()
        if row.needs_response
        and row.due_by is not None
        and now < row.due_by <= now + timedelta(days=days)
    ]


def dispute_get(*, dispute_id: str) -> DisputeRow | None:
    dispute = _current_mode().filter(id=dispute_id).first()
    return _row(dispute) if dispute is not None else None


def dispute_customer_id(obj: dict[str, Any]) -> str:
    """The customer of a dispute event's object, through its charge's mirror ("" if unknown)."""
    charge = obj.get("charge")
    if isinstance(charge, dict) and charge.get("customer"):
        return _id(charge.get("customer"))
    row = Charge.objects.filter(id=_id(charge)).values_list("customer_id", flat=True).first()
    return str(row or "")


class EvidenceRejected(BillingError):
    user_message = "Stripe did not accept the evidence."


def dispute_evidence_submit(*, dispute_id: str, text: str) -> DisputeRow:
    """Submit ``text`` as the dispute's evidence (``uncategorized_text``) and mirror the answer.

    ``submit=true`` sends it to the issuer at once: Stripe accepts evidence
    once, so a second submission is refused (and reported as such).
    """
    text = text.strip()
    if not text:
        raise EvidenceRejected("empty evidence")
    client = stripe_client()
    try:
        updated = client.v1.disputes.update(
            dispute_id, {"evidence": {"uncategorized_text": text}, "submit": True}
        )
    except stripe.InvalidRequestError as exc:
        error = EvidenceRejected(str(exc))
        error.user_message = f"Stripe did not accept the evidence: {exc.user_message or exc}"
        raise error from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    dispute = Dispute.sync_from_stripe_data(_as_dict(updated))
    logger.info("dispute %s evidence submitted, status %s", dispute_id, dispute.status)
    row = dispute_get(dispute_id=dispute.id)
    assert row is not None
    return row
