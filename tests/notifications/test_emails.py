"""Billing emails and staff alerts are branded on the same layout as allauth's emails."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

from notifications import services
from subscriptions.disputes.disputes import dispute_evidence_url
from tests.billing_helpers import personal_team
from tests.email_helpers import assert_branded_email
from tests.factories import make_user
from tests.notifications import payloads
from tests.notifications.conftest import Deliver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def brand(settings: SettingsWrapper, eager_celery: None) -> None:
    # After the package's eager_celery fixture, which sets SITE_URL to app.example.com.
    settings.SITE_NAME = "Brightbill"
    settings.SITE_URL = "https://app.brightbill.test"


def test_receipt_email_is_branded(deliver: Deliver) -> None:
    user = make_user(email="gus@mail.test")
    deliver(user, "invoice.paid", payloads.invoice(amount_due=2900))
    [message] = mail.outbox
    text, html = assert_branded_email(
        message, link="https://invoice.stripe.com/i/acct_test/in_test"
    )
    assert message.subject == "[Brightbill] Receipt: $29 paid"
    for body in (text, html):
        assert "https://pay.stripe.com/invoice/acct_test/in_test/pdf" in body
        assert "ACME-0001" in body
        # The footer says why: billing of this account; receipts can be turned off.
        assert "billing of your Brightbill account (gus@mail.test)" in body
        assert "Receipts can be turned off" in body
        assert "https://app.brightbill.test/notifications/" in body


def test_payment_failed_email_links_billing(deliver: Deliver) -> None:
    user = make_user(email="hal@mail.test")
    deliver(user, "invoice.payment_failed", payloads.invoice(status="open"))
    [message] = mail.outbox
    link = f"https://app.brightbill.test/t/{personal_team(user).slug}/billing/"
    text, html = assert_branded_email(message, link=link)
    assert message.subject == "[Brightbill] Your payment failed"
    assert "Update payment method" in text
    assert "Update payment method" in html
    assert "Receipts can be turned off" not in text


def test_staff_alert_email_is_branded(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
    settings: SettingsWrapper,
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@mail.test"]
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_staff_from_stripe_event(
            event_id="evt_brand", event_type="charge.dispute.created", obj=payloads.dispute()
        )
    [message] = mail.outbox
    # A dispute alert links to where its evidence is submitted.
    text, html = assert_branded_email(message, link=dispute_evidence_url("dp_test"))
    assert message.subject.startswith("[Brightbill] Dispute opened on ch_test")
    assert "Sent to billing staff" in text
    assert "Sent to billing staff" in html
