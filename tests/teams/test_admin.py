"""Teams in the admin: plan, status, members, the Stripe link, filters, member search."""

from __future__ import annotations

import pytest
from django.test import Client

from teams import services
from teams.models import Membership
from tests.billing_helpers import give_plan
from tests.factories import make_user

pytestmark = pytest.mark.django_db

URL = "/admin/teams/team/"


def test_team_list_shows_plan_status_members_and_filters(client: Client) -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    pro = make_user(email="pro@example.com")
    give_plan(pro, lookup_key="pro_monthly", status="active")
    trial_owner = make_user(email="trial-owner@example.com")
    rockets = services.team_create(owner=trial_owner, name="Rockets")
    Membership.objects.create(team=rockets, user=make_user(email="colleague@example.com"))
    give_plan(rockets, lookup_key="starter_monthly", status="trialing")
    client.force_login(admin)

    page = client.get(URL).content.decode()
    assert "Rockets" in page
    assert "trialing" in page
    assert "/dashboard/objects/cus_test" in page  # emulator dashboard link

    only_pro = client.get(f"{URL}?billing_plan=pro").content.decode()
    assert ">pro<" in only_pro
    assert "Rockets" not in only_pro
    trialing = client.get(f"{URL}?billing_status=trialing").content.decode()
    assert "Rockets" in trialing
    assert ">pro<" not in trialing
    none = client.get(f"{URL}?billing_status=none").content.decode()
    assert "Rockets" not in none
    by_member = client.get(f"{URL}?q=colleague@example.com").content.decode()
    assert "Rockets" in by_member
    assert ">pro<" not in by_member
    # The members are listed inline (raw id inputs, so the user ids are on the page).
    detail = client.get(f"{URL}{rockets.pk}/change/")
    assert detail.status_code == 200
    assert f'value="{trial_owner.pk}"' in detail.content.decode()
