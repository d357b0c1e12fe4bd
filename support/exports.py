""" "Download my data": one JSON document of what this project holds about a user.

Built on request from the user's own rows only: every query starts from the user
(their memberships, their notifications, their email addresses), never from an id
taken from the request. Small enough to build synchronously (a user has a handful
of teams; invoices are capped per team as on the billing page).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from allauth.account.models import EmailAddress
from django.utils import timezone

from notifications.models import Notification
from projects.models import Project
from subscriptions.selectors import customer_for_team, invoices_for_customer
from teams.models import Membership

if TYPE_CHECKING:
    from accounts.models import User

EXPORT_FORMAT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _profile(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "date_joined": _iso(user.date_joined),
        "last_login": _iso(user.last_login),
    }


def _email_addresses(user: User) -> list[dict[str, Any]]:
    rows = EmailAddress.objects.filter(user=user).order_by("-primary", "email")
    return [{"email": e.email, "verified": e.verified, "primary": e.primary} for e in rows]


def _teams(memberships: list[Membership]) -> list[dict[str, Any]]:
    return [
        {
            "name": m.team.name,
            "slug": m.team.slug,
            "role": m.role,
            "personal": m.team.is_personal,
            "joined": _iso(m.created_at),
            "billing_email": m.team.email if m.manages_billing else None,
        }
        for m in memberships
    ]


def _projects(memberships: list[Membership]) -> list[dict[str, Any]]:
    rows = Project.objects.filter(team__in=[m.team_id for m in memberships]).select_related("team")
    return [
        {
            "team": p.team.slug,
            "name": p.name,
            "description": p.description,
            "created_at": _iso(p.created_at),
            "updated_at": _iso(p.updated_at),
        }
        for p in rows.order_by("team__slug", "created_at", "id")
    ]


def _notifications(user: User) -> list[dict[str, Any]]:
    rows = Notification.objects.filter(user=user).select_related("team")
    return [
        {
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "link": n.link,
            "team": n.team.slug if n.team else None,
            "created": _iso(n.created),
            "read_at": _iso(n.read_at),
            "emailed_at": _iso(n.emailed_at),
        }
        for n in rows
    ]


def _invoices(memberships: list[Membership]) -> list[dict[str, Any]]:
    """The invoices of the teams the user owns (from the local mirror of Stripe)."""
    result = []
    for m in memberships:
        if m.role != Membership.Role.OWNER:
            continue
        customer = customer_for_team(team=m.team)
        if customer is None:
            continue
        for row in invoices_for_customer(customer_id=customer.id):
            result.append(
                {
                    "team": m.team.slug,
                    "id": row.id,
                    "number": row.number,
                    "created": _iso(row.created),
                    "amount": row.amount,
                    "currency": row.currency,
                    "status": row.status,
                    "hosted_invoice_url": row.hosted_invoice_url,
                    "invoice_pdf": row.invoice_pdf,
                }
            )
    return result


def user_data_export(*, user: User) -> dict[str, Any]:
    """Everything the user may take away, as JSON-ready data."""
    memberships = list(
        Membership.objects.filter(user=user).select_related("team").order_by("team__slug")
    )
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "profile": _profile(user),
        "email_addresses": _email_addresses(user),
        "teams": _teams(memberships),
        "projects": _projects(memberships),
        "notifications": _notifications(user),
        "invoices": _invoices(memberships),
    }
