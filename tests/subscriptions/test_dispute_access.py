"""BILLING_DISPUTE_ACCESS: what a team with an open dispute keeps (emulator over HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from djstripe.models import Dispute
from pytest_django.fixtures import Settings as SettingsWrapper

from subscriptions.access.access import access_for, access_invalidate
from subscriptions.access.policy import Reason
from subscriptions.services import _as_dict, stripe_client
from teams.models import Team
from tests.billing_helpers import access_now, personal_team
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

DISPUTE_CARD = "4000000000000259"


def _disputed_subscriber(client: Client, billing: Billing) -> tuple[Team, str]:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly", card=DISPUTE_CARD))
    [dispute] = stripe_client().v1.disputes.list().data
    # This fixture's webhooks go nowhere: mirror the dispute as the pipeline would.
    Dispute.sync_from_stripe_data(_as_dict(dispute))
    team = personal_team(user)
    access_invalidate(team=team)
    return team, dispute.id


def test_open_dispute_leaves_access_unchanged_by_default(client: Client, billing: Billing) -> None:
    team, _ = _disputed_subscriber(client, billing)
    access = access_now(team)
    assert (access.has_access, access.plan_key, access.reason) == (True, "pro", Reason.ACTIVE)


def test_free_tier_policy_restricts_a_disputed_team_until_the_dispute_is_won(
    client: Client,
    billing: Billing,
    settings: SettingsWrapper,
    django_assert_num_queries: Callable[[int], AbstractContextManager[Any]],
) -> None:
    settings.BILLING_DISPUTE_ACCESS = "free_tier"
    team, dispute_id = _disputed_subscriber(client, billing)
    access = access_now(team)
    assert (access.has_access, access.plan_key, access.reason) == (False, "free", Reason.DISPUTED)
    assert access.status == "active"  # the subscription itself is untouched
    # Warm: the dispute costs the access check no query.
    fresh = Team.objects.get(pk=team.pk)
    with django_assert_num_queries(0):
        assert access_for(fresh).reason == Reason.DISPUTED

    won = stripe_client().v1.disputes.update(
        dispute_id, {"evidence": {"uncategorized_text": "winning_evidence"}, "submit": True}
    )
    Dispute.sync_from_stripe_data(_as_dict(won))
    access_invalidate(team=team)
    assert access_now(team).has_access is True


def test_unknown_dispute_access_setting_fails_the_system_check(settings: SettingsWrapper) -> None:
    from django.core.management.base import SystemCheckError

    settings.BILLING_DISPUTE_ACCESS = "suspend"
    with pytest.raises(SystemCheckError, match=r"subscriptions\.E004"):
        call_command("check")
