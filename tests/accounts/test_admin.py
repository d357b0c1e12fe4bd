"""The user admin shows plan, status and a link to the customer, with filters."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.billing_helpers import give_plan
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_user_list_shows_plan_status_and_filters(client: Client) -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    pro = make_user(email="pro@example.com")
    give_plan(pro, lookup_key="pro_monthly", status="active")
    trial = make_user(email="trial@example.com")
    give_plan(trial, lookup_key="starter_monthly", status="trialing")
    make_user(email="free@example.com")
    client.force_login(admin)

    page = client.get("/admin/accounts/user/").content.decode()
    assert "pro@example.com" in page
    assert "trialing" in page
    assert "/dashboard/objects/cus_test" in page  # emulator dashboard link

    only_pro = client.get("/admin/accounts/user/?billing_plan=pro").content.decode()
    assert "pro@example.com" in only_pro
    assert "trial@example.com" not in only_pro
    none = client.get("/admin/accounts/user/?billing_status=none").content.decode()
    assert "free@example.com" in none
    assert "pro@example.com" not in none
    trialing = client.get("/admin/accounts/user/?billing_status=trialing").content.decode()
    assert "trial@example.com" in trialing
    assert "free@example.com" not in trialing
