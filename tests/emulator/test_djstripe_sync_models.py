"""dj-stripe's `manage.py djstripe_sync_models` against a filled emulator.

A subscription lifecycle fills the emulator (customers with cards and card
sources, products, prices, coupons, promotion codes, subscriptions across a
renewal, invoices, payments, a refund, tax IDs, balance transactions,
entitlements, a Checkout Session, a webhook endpoint); then every model
dj-stripe lists is synced. Models of Stripe features the emulator does not
model list empty, as on a Stripe test account that never used them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
import stripe
from django.core.management import call_command
from django.db import connection
from stripe_emulator import EmulatorServer

from saas.stripe_bases import stripe_bases_restore, stripe_bases_route

from .helpers import advance, clock_customer, price, ts

pytestmark = pytest.mark.django_db

# Models that list nothing here, and why. Each must still list without error.
EMPTY_MODELS = {
    # Connect: the emulator is no platform, Accounts v2 are never created.
    "AccountV2": "no Accounts v2 (GET /v2/core/accounts is empty)",
    "ApplicationFee": "no Connect fees",
    "ApplicationFeeRefund": "no application fees to list refunds of",
    "Transfer": "no Connect transfers",
    "TransferReversal": "no transfers to list reversals of",
    "Payout": "no payouts",
    # Features the emulator does not model; empty on an account that never used them.
    "Dispute": "no dispute test card is used here",
    "EarlyFraudWarning": "no Radar",
    "Review": "no Radar reviews",
    "File": "no files",
    "FileLink": "no file links",
    "IssuingAuthorization": "no Issuing",
    "IssuingCard": "no Issuing",
    "IssuingCardholder": "no Issuing",
    "IssuingDispute": "no Issuing",
    "IssuingTransaction": "no Issuing",
    "VerificationReport": "no Identity",
    "VerificationSession": "no Identity",
    "ShippingRate": "no shipping rates",
    "TaxRate": "no tax rates (no taxes in the billing engine)",
    # Stripe returns its global catalogs here; the emulator carries none
    # (README "Known differences").
    "CountrySpec": "no country spec catalog",
    "TaxCode": "no tax code catalog",
}

# dj-stripe 2.11 calls that fail on Stripe too; the emulator answers as Stripe does.
DJSTRIPE_FAILURES = {
    # get_list_kwargs_tax_id passes the customer as `id` to the standalone
    # GET /v1/tax_ids, which has no such parameter. Customer tax IDs are
    # still mirrored: they are checked through the API below.
    "TaxId": "Received unknown parameter: id",
    # GET /v1/entitlements/active_entitlements requires `customer`; the
    # sync command has no per-customer handler for this model.
    "ActiveEntitlement": "Missing required param: customer",
}
# dj-stripe 2.11 reads an event's `request` with isinstance(..., dict); stripe 15's
# StripeObject is no longer a dict, so an event listed from the API (not one from a
# webhook, which is a dict) gets the object's JSON text as `request_id`, which
# PostgreSQL's varchar(50) refuses (SQLite stores it). The app never syncs events
# this way: the webhook pipeline hands dj-stripe the delivered JSON.
EVENT_REQUEST_ID_TOO_LONG = "DataError('value too long for type character varying(50)')"


def _is_event_request_id_error(line: str) -> bool:
    return bool(
        re.match(r"\s+Error syncing evt_\w+: ", line) and EVENT_REQUEST_ID_TOO_LONG in line
    ) or bool(re.match(r"\s+\d+ Event object\(s\) failed to sync", line))


@pytest.fixture
def all_bases(emulator: EmulatorServer) -> Iterator[str]:
    """Every SDK base (and bare StripeClient()s, as dj-stripe's AccountV2 makes) -> emulator."""
    saved = stripe_bases_route(base=emulator.url)
    yield emulator.url
    stripe_bases_restore(saved=saved)


def _fill_emulator() -> dict[str, str]:
    """A small billing history; returns the ids the assertions look for."""
    clock, alice, _pm = clock_customer(frozen_time=ts(2026, 1, 1))
    card = stripe.Customer.create_source(alice.id, source="tok_mastercard")
    stripe.Customer.create_tax_id(alice.id, type="eu_vat", value="DE123456789")
    stripe.Customer.create_balance_transaction(
        alice.id, amount=-300, currency="usd", description="Goodwill credit"
    )
    basic = price(1000, name="Basic")
    feature = stripe.entitlements.Feature.create(name="Reports", lookup_key="reports")
    stripe.Product.create_feature(str(basic.product), entitlement_feature=feature.id)
    coupon = stripe.Coupon.create(percent_off=20, duration="repeating", duration_in_months=3)
    promo = stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id})
    sub = stripe.Subscription.create(
        customer=alice.id,
        items=[{"price": basic.id}],
        discounts=[{"promotion_code": promo.id}],
    )
    advance(clock, ts(2026, 2, 1, 2))

    bob = stripe.Customer.create(email="bob@example.com", payment_method="pm_card_visa")
    stripe.Customer.create_tax_id(bob.id, type="us_ein", value="12-3456789")
    pro = price(3000, name="Pro")
    bob_sub = stripe.Subscription.create(
        customer=bob.id,
        items=[{"price": pro.id}],
        default_payment_method=stripe.Customer.list_payment_methods(bob.id).data[0].id,
    )
    charge = stripe.Charge.list(customer=bob.id).data[0]
    stripe.Refund.create(charge=charge.id, amount=500)
    stripe.SetupIntent.create(customer=bob.id, payment_method="pm_card_visa", confirm=True)
    stripe.InvoiceItem.create(customer=bob.id, amount=250, currency="usd", description="Setup")
    stripe.Subscription.cancel(bob_sub.id, invoice_now=True)
    stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": basic.id, "quantity": 1}],
        success_url="https://example.com/ok",
    )
    stripe.WebhookEndpoint.create(url="https://example.com/hook", enabled_events=["*"])
    # Alice moves to Pro at her next renewal (a deferred upgrade).
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    current = schedule.phases[0]
    stripe.SubscriptionSchedule.modify(
        schedule.id,
        phases=[
            {
                "items": [{"price": basic.id}],
                "start_date": current.start_date,
                "end_date": current.end_date,
            },
            {"items": [{"price": pro.id}], "duration": {"interval": "month"}},
        ],
    )
    return {
        "alice": alice.id,
        "bob": bob.id,
        "card": card.id,
        "sub": sub.id,
        "schedule": schedule.id,
    }


def _sync_report(out: str) -> dict[str, str]:
    """Model name -> its section of the command's stdout."""
    sections = re.split(r"^Syncing (\w+) for key [^\n]*:\n", out, flags=re.M)
    return dict(zip(sections[1::2], sections[2::2], strict=True))


def test_djstripe_sync_models_lists_every_model(all_bases: str) -> None:
    from djstripe import models as dj

    ids = _fill_emulator()
    out, err = io.StringIO(), io.StringIO()
    call_command("djstripe_sync_models", stdout=out, stderr=err)
    report = _sync_report(out.getvalue())
    print(out.getvalue(), err.getvalue())  # shown by pytest on failure
    errors = err.getvalue()

    failed = set(re.findall(r"Error listing (\w+)", errors))
    assert failed == set(DJSTRIPE_FAILURES), errors
    for model, message in DJSTRIPE_FAILURES.items():
        assert re.search(rf"Error listing {model}: .*{re.escape(message)}", errors), errors
    event_bug = connection.vendor == "postgresql"
    other_errors = [
        line
        for line in errors.splitlines()
        if line.strip()
        and not any(f"listing {m}" in line or f"{m} object(s)" in line for m in DJSTRIPE_FAILURES)
        and not (event_bug and _is_event_request_id_error(line))
        and not re.match(rf"{3 if event_bug else 2} model/key sync\(s\) failed", line)
    ]
    assert other_errors == []

    for model in EMPTY_MODELS:
        assert report[model].strip() == "(no results)", (model, report[model])
    listed = set(report) - set(EMPTY_MODELS) - set(DJSTRIPE_FAILURES)
    for model in listed:
        assert "Synced" in report[model], (model, report[model])

    # What a user of the mirror would look at.
    assert set(dj.Customer.objects.values_list("id", flat=True)) >= {ids["alice"], ids["bob"]}
    alice = dj.Customer.objects.get(id=ids["alice"])
    # The -300 credit went to Alice's first invoice at finalisation.
    assert alice.stripe_data["balance"] == 0
    alice_invoices = dj.Invoice.objects.filter(customer=alice)
    assert sorted(i.stripe_data["starting_balance"] for i in alice_invoices) == [-300, 0]
    assert alice.stripe_data["default_source"]["id"] == ids["card"]  # expanded by dj-stripe
    assert dj.Card.objects.get(id=ids["card"]).stripe_data["customer"] == alice.id
    assert dj.Subscription.objects.get(id=ids["sub"]).stripe_data["status"] == "active"
    assert dj.Refund.objects.count() == 1
    # One balance transaction per succeeded charge, one for the refund.
    assert dj.BalanceTransaction.objects.filter(type="refund").count() == 1
    assert dj.BalanceTransaction.objects.filter(type="charge").exists()
    assert dj.Coupon.objects.count() == 1
    assert dj.PromotionCode.objects.count() == 1
    assert dj.Feature.objects.count() == 1
    assert dj.Account.objects.count() == 1
    assert dj.LineItem.objects.exists()
    assert dj.InvoiceItem.objects.exists()
    assert dj.Session.objects.count() == 1
    assert dj.WebhookEndpoint.objects.count() == 1
    assert dj.PaymentMethod.objects.filter(customer=alice).exists()
    assert dj.SetupIntent.objects.count() == 1
    schedule = dj.SubscriptionSchedule.objects.get(id=ids["schedule"])
    assert schedule.stripe_data["status"] == "active"
    assert len(schedule.stripe_data["phases"]) == 2


def test_bare_stripe_client_reaches_the_emulator(all_bases: str) -> None:
    """dj-stripe's AccountV2 builds StripeClient(key) with no base: it must not reach Stripe."""
    client = stripe.StripeClient("sk_test_emulator_tests", stripe_version=stripe.api_version)
    assert list(client.v2.core.accounts.list().auto_paging_iter()) == []
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v2.core.accounts.retrieve("acct_missing")
    assert exc.value.http_status == 404
