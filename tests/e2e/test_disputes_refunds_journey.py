"""Staff in a real browser: a disputed payment seen and won with evidence; a partial refund
from the admin, and the email the customer gets.

The customer pays through the emulator (Stripe's test cards, over HTTP); webhooks
flow through the real pipeline to a real Celery worker. Screenshots of each step go
to ``var/screenshots/disputes/`` for a look.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from djstripe.models import Customer

from notifications.models import Notification
from notifications.services import notification_email_message
from subscriptions.disputes.disputes import disputes_open
from subscriptions.models import StaffRefund
from subscriptions.services import stripe_client
from tests.billing_helpers import personal_team
from tests.conftest import WorkerProcess
from tests.e2e.axe import AxeWatch
from tests.e2e.conftest import CHROMIUM
from tests.e2e.helpers import reload_until
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import settled, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "disputes"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _customer_pays(billing: Billing, card: str, email: str) -> Customer:
    """A customer subscribes to Pro with ``card`` (Checkout on the emulator, over HTTP)."""
    user = make_user(email=email)
    client = Client()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly", card=card))
    wait_for(settled(billing), what="checkout events processed")
    return Customer.objects.get(subscriber=personal_team(user))


def _staff_logs_in(browser: Any, base: str) -> Any:
    staff = make_user(email="staff@brightbill.test", password=PASSWORD, is_staff=True)
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))
    return page


def test_staff_see_a_disputed_payment_and_win_it_with_evidence(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    base = live_server.url
    customer = _customer_pays(live_billing, "4000000000000259", "cardholder@rocket.test")
    wait_for(lambda: bool(disputes_open()), what="the dispute mirrored")
    [dispute] = disputes_open()
    page = _staff_logs_in(browser, base)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    axe = AxeWatch(page)

    page.goto(f"{base}/staff/billing-health/")
    row = page.locator(f'[data-section="open-disputes"] tr[data-dispute="{dispute.id}"]')
    assert row.count() == 1
    text = row.inner_text()
    assert str(customer.subscriber) in text or customer.id in text
    assert "$29" in text
    assert "fraudulent" in text
    assert dispute.due_by is not None
    assert dispute.due_by.strftime("%Y-%m-%d") in text
    # The button opens where Stripe takes evidence (the emulator's page for the dispute).
    submit = row.get_by_role("link", name="Submit evidence")
    assert submit.get_attribute("href") == dispute.evidence_url
    page.locator('[data-section="open-disputes"]').scroll_into_view_if_needed()
    axe.check("health-open-dispute")
    _shot(page, "1-health-open-dispute")

    row.get_by_role("link", name="In admin").click()
    page.wait_for_url(re.compile(rf"/admin/djstripe/dispute/{dispute.id}/evidence/"))
    page.get_by_label("Evidence").fill("winning_evidence")
    _shot(page, "2-admin-evidence-form")
    page.get_by_role("button", name="Submit evidence to the issuer").click()
    page.wait_for_url(re.compile(r"/admin/djstripe/dispute/$"))
    assert "Evidence submitted: the dispute is won." in page.content()
    _shot(page, "3-admin-dispute-won")

    reload_until(page, f"{base}/staff/billing-health/", "No open disputes.")
    _shot(page, "4-health-no-open-dispute")
    assert errors == []
    assert axe.violations == [], axe.report()


def test_staff_refund_part_of_a_payment_and_the_customer_is_emailed(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    base = live_server.url
    customer = _customer_pays(live_billing, "4242424242424242", "payer@rocket.test")
    [charge] = stripe_client().v1.charges.list({"customer": customer.id}).data
    page = _staff_logs_in(browser, base)

    page.goto(f"{base}/admin/subscriptions/staffrefund/add/?charge={charge.id}")
    assert page.get_by_label("Charge id").input_value() == charge.id
    page.get_by_label("Amount").fill("10.00")
    page.get_by_label("Reason").select_option("requested_by_customer")
    _shot(page, "5-admin-refund-form")
    page.get_by_role("button", name="Refund").click()
    page.wait_for_url(re.compile(r"/admin/subscriptions/staffrefund/$"))
    assert f"Refunded $10 of {charge.id}" in page.content()
    [row] = StaffRefund.objects.all()
    assert row.credit_note_id.startswith("cn_")
    assert row.credit_note_id in page.content()  # the audit list shows it
    _shot(page, "6-admin-refund-done")

    # The customer's email, as the worker sent it, shown in the browser.
    wait_for(
        lambda: Notification.objects.filter(
            kind=Notification.Kind.REFUND_ISSUED, emailed_at__isnull=False
        ).exists(),
        what="the refund email sent by the worker",
    )
    [notification] = Notification.objects.filter(kind=Notification.Kind.REFUND_ISSUED)
    message = notification_email_message(notification=notification)
    assert message.to == ["payer@rocket.test"]
    html = str(message.alternatives[0][0])
    email_page = browser.new_page(viewport={"width": 640, "height": 900})
    email_page.set_content(html)
    shown = email_page.inner_text("body")
    assert "We refunded $10" in shown
    assert "as you requested" in shown
    _shot(email_page, "7-customer-refund-email")
    assert "$10" in str(message.body)
