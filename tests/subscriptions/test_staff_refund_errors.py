"""Staff refunds that cannot be made: clear errors, nothing refunded twice, staff only."""

from __future__ import annotations

import pytest
from django.test import Client

from subscriptions.models import StaffRefund
from subscriptions.services import stripe_client
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

ADD = "/admin/subscriptions/staffrefund/add/"


def _staff() -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _paid_charge(billing: Billing, card: str = "4242424242424242") -> str:
    customer = make_user()
    client = Client()
    client.force_login(customer)
    client.get(billing.subscribe(client, "pro_monthly", card=card))
    [charge] = stripe_client().v1.charges.list({"limit": 1}).data
    return str(charge.id)


def _post(staff: Client, **fields: str) -> str:
    data = {"reason": "requested_by_customer", "request_key": "a" * 32, **fields}
    response = staff.post(ADD, data)
    assert response.status_code == 200  # the form again, with the error
    return response.content.decode()


def test_bad_refund_input_is_refused_clearly_and_records_nothing(billing: Billing) -> None:
    charge_id = _paid_charge(billing)
    staff = _staff()
    assert "A charge id starts with ch_." in _post(staff, charge="in_123", amount="1")
    assert "Ensure this value is greater than or equal to 0.01." in _post(
        staff, charge=charge_id, amount="-5"
    )
    assert "Enter a number." in _post(staff, charge=charge_id, amount="ten")
    assert "No charge ch_missing in Stripe." in _post(staff, charge="ch_missing", amount="1")
    assert "Select a valid choice." in _post(staff, charge=charge_id, amount="1", reason="because")
    assert "At most $29 of charge" in _post(staff, charge=charge_id, amount="29.01")
    assert StaffRefund.objects.count() == 0
    assert stripe_client().v1.refunds.list({"charge": charge_id}).data == []


def test_charged_back_payment_cannot_be_refunded_and_the_attempt_is_recorded(
    billing: Billing,
) -> None:
    charge_id = _paid_charge(billing, card="4000000000000259")
    page = _post(_staff(), charge=charge_id, amount="5")
    assert "Stripe refused the refund" in page
    [row] = StaffRefund.objects.all()
    assert row.status == StaffRefund.Status.FAILED
    assert row.stripe_refund_id == ""
    assert stripe_client().v1.refunds.list({"charge": charge_id}).data == []


def test_refund_and_evidence_pages_are_for_staff_only(billing: Billing) -> None:
    member = Client()
    member.force_login(make_user())
    for url in (ADD, "/admin/djstripe/dispute/du_x/evidence/", "/admin/subscriptions/staffrefund/"):
        response = member.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert member.post(ADD, {"charge": "ch_x", "amount": "1"}).status_code == 302
    assert StaffRefund.objects.count() == 0
    assert _staff().get("/admin/djstripe/dispute/du_missing/evidence/").status_code == 404
