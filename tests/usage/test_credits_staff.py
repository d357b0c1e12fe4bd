"""Staff and credits: the read-only ledger in the admin, the audited adjustment form and
the credits card on the billing-health page (a section the usage app registers)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from subscriptions.reports.sections import health_sections_render_context
from tests.billing_helpers import personal_team
from tests.factories import make_user
from usage import credits
from usage.credit_selectors import credit_balance
from usage.models import CreditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return make_user(is_staff=True, is_superuser=True)


def test_staff_adjust_credits_from_the_admin_with_a_reason(client: Client, staff: User) -> None:
    team = personal_team(make_user())
    client.force_login(staff)
    url = reverse("admin:usage_creditbalance_adjust", args=[team.pk])
    form = client.get(url)
    assert form.status_code == 200
    assert 'data-balance="0"' in form.content.decode()
    missing = client.post(url, {"credits": "0", "reason": ""})
    assert missing.status_code == 200
    assert "Give a number of credits other than 0." in missing.content.decode()
    done = client.post(url, {"credits": "250", "reason": "Support ticket 42"}, follow=True)
    assert "+250 credits, balance now 250." in done.content.decode()
    too_much = client.post(url, {"credits": "-300", "reason": "oops"})
    assert "This needs 300 credits and your team has 250." in too_much.content.decode()
    entry = CreditEntry.objects.get(team=team)
    assert (entry.kind, entry.credits, entry.description, entry.created_by) == (
        "adjustment",
        250,
        "Support ticket 42",
        staff,
    )
    assert credit_balance(team_id=team.pk) == 250


def test_the_ledger_in_the_admin_is_read_only(client: Client, staff: User) -> None:
    team = personal_team(make_user())
    entry = credits.credits_adjust(team=team, credits=5, reason="x", staff_user=staff)
    client.force_login(staff)
    listing = client.get(reverse("admin:usage_creditentry_changelist"))
    assert listing.status_code == 200
    assert "Staff adjustment" in listing.content.decode()
    assert client.get(reverse("admin:usage_creditentry_add")).status_code == 403
    change = client.post(
        reverse("admin:usage_creditentry_change", args=[entry.pk]), {"credits": "500"}
    )
    assert change.status_code == 403
    assert client.get(reverse("admin:usage_creditentry_delete", args=[entry.pk])).status_code == 403
    assert CreditEntry.objects.get(pk=entry.pk).credits == 5


def test_the_adjust_form_is_for_staff_only(client: Client) -> None:
    team = personal_team(make_user())
    client.force_login(make_user())
    response = client.post(
        reverse("admin:usage_creditbalance_adjust", args=[team.pk]),
        {"credits": "9", "reason": "me"},
    )
    assert response.status_code == 302  # to the admin login
    assert credit_balance(team_id=team.pk) == 0


def test_billing_health_shows_the_sections_the_usage_app_registers(
    client: Client, staff: User
) -> None:
    team = personal_team(make_user())
    credits.credits_adjust(team=team, credits=70, reason="x", staff_user=staff)
    assert [s["key"] for s in health_sections_render_context()] == ["usage", "credits"]
    client.force_login(staff)
    html = client.get("/staff/billing-health/").content.decode()
    assert 'data-health-section="usage"' in html
    assert 'data-credits-outstanding="70"' in html
    assert 'data-credits-sold="0"' in html  # an adjustment is not a sale
    assert html.index('data-health-section="usage"') < html.index('data-health-section="credits"')
