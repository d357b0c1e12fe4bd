"""A team's journey in a real browser: an owner creates a team and invites a colleague,
who signs up from the link, verifies the address and lands in the team; the member
sees the plan but not the portal; switching teams switches features.

Screenshots of each step go to ``var/screenshots/team-journey/`` for a look.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from teams.models import Membership, Team
from tests.billing_helpers import give_plan, personal_team
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "team-journey"


def _link(body: str, pattern: str) -> str:
    match = re.search(rf"https?://\S*{pattern}\S*", body)
    assert match, body
    return match.group(0)


def _local(url: str, base: str) -> str:
    """Emails link to SITE_URL; the browser talks to the live server."""
    return base + re.sub(r"^https?://[^/]+", "", url)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_owner_invites_a_colleague_who_signs_up_and_joins(
    browser: Any, live_billing: Billing, live_server: Any
) -> None:
    base = live_server.url
    owner = make_user(email="owner@rocket.test", password=PASSWORD)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/t/[\w-]+/app/"))

    # The owner creates a team from the team page.
    page.goto(f"{base}/teams/")
    page.get_by_label("Team name").fill("Rocket Labs")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(re.compile(r"/t/rocket-labs/settings/"))
    team = Team.objects.get(slug="rocket-labs")
    give_plan(team, lookup_key="pro_monthly")  # the team is on Pro (API access)

    # ...and invites a colleague.
    page.get_by_label("Email address").fill("colleague@rocket.test")
    page.get_by_role("button", name="Invite", exact=True).click()
    page.wait_for_url(re.compile(r"/t/rocket-labs/settings/"))
    assert "Invitation sent to colleague@rocket.test" in page.content()
    _shot(page, "1-owner-invited")
    [invitation_email] = [m for m in mail.outbox if "colleague@rocket.test" in m.to]
    invitation_link = _local(_link(str(invitation_email.body), "/teams/invitations/"), base)

    # The colleague, in another browser, follows the link and signs up.
    colleague = browser.new_context().new_page()
    colleague.on("pageerror", lambda e: errors.append(str(e)))
    colleague.goto(invitation_link)
    assert "Join Rocket Labs" in colleague.content()
    _shot(colleague, "2-invitation")
    colleague.get_by_role("link", name="Sign up to join").click()
    colleague.wait_for_url(re.compile(r"/accounts/signup/"))
    colleague.fill("input[name=email]", "colleague@rocket.test")
    colleague.fill("input[name=password1]", PASSWORD)
    colleague.fill("input[name=password2]", PASSWORD)
    colleague.locator("main form button[type=submit]").first.click()
    colleague.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    assert not Membership.objects.filter(team=team, user__email="colleague@rocket.test").exists()

    # Verifying the address completes the invitation and lands in the team.
    [confirmation] = [
        m for m in mail.outbox if "colleague@rocket.test" in m.to and m is not invitation_email
    ]
    colleague.goto(_local(_link(str(confirmation.body), "/accounts/confirm-email/"), base))
    colleague.locator("main form button[type=submit]").first.click()
    try:
        colleague.wait_for_url(re.compile(r"/t/rocket-labs/app/"))
    except Exception:
        _shot(colleague, "debug")
        raise AssertionError(colleague.url) from None
    membership = Membership.objects.get(team=team, user__email="colleague@rocket.test")
    assert membership.role == "member"
    _shot(colleague, "3-colleague-in-team")

    # A member sees the team's plan, read-only: no portal, no invoices.
    colleague.goto(f"{base}/t/rocket-labs/billing/")
    billing = colleague.content()
    assert "Pro" in billing
    assert "Its owners and admins manage billing" in billing
    assert colleague.get_by_role("button", name="Open billing portal").count() == 0
    _shot(colleague, "4-member-billing")
    # The owner does get the portal and the plan change.
    page.goto(f"{base}/t/rocket-labs/billing/")
    assert page.get_by_role("button", name="Open billing portal").count() == 1
    assert page.get_by_role("link", name="Change plan").count() == 1

    # Switching teams switches features: the team has API access, the personal team not.
    colleague.goto(f"{base}/t/rocket-labs/app/api/")
    assert colleague.url.endswith("/t/rocket-labs/app/api/")
    colleague.locator("[data-testid=team-switcher] > a").click()
    personal = personal_team(membership.user)
    colleague.get_by_role("link", name=personal.name, exact=True).click()
    colleague.wait_for_url(re.compile(rf"/t/{personal.slug}/app/"))
    colleague.goto(f"{base}/app/api/")  # the team-less URL follows the switch
    assert colleague.url.endswith("/pricing/")
    assert "part of the Pro plan" in colleague.content()
    _shot(colleague, "5-switched-to-personal")
    assert errors == []
