"""The hosted pages in a real browser (headless Chromium through Playwright).

Checks what the form-posting tests cannot: the Content-Security-Policy lets
the forms post and redirect back to the app, labels and roles work as
Playwright locators, and pages log nothing to the console. Skipped when
Chromium or Playwright is not installed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from stripe_emulator import EmulatorServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


TIMES = "\u00d7"  # the multiplication sign in Stripe's "4 x Seat" line descriptions


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """A stand-in for the Django app: answers every GET with a small page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>App</title><h1>Back in the app</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def failed(request: Any) -> None:
        if request.url.startswith("http"):  # not the PDF viewer's chrome-extension://
            problems.append(f"request failed: {request.url}")

    tab.on("requestfailed", failed)
    yield tab
    context.close()
    assert not problems, problems


def test_checkout_3ds_and_portal_in_a_browser(
    emulator: EmulatorServer, app_url: str, page: Any
) -> None:
    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(
        product=product.id, unit_amount=2000, currency="usd", recurring={"interval": "month"}
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url=app_url + "/billing/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=app_url + "/pricing",
    )
    page.goto(session.url)
    page.get_by_label("Email").fill("browser@example.com")
    page.get_by_label("Card number").fill("4000 0025 0000 3155")
    page.get_by_label("Expiration").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Bea Browser")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{app_url}/billing/success?session_id={session.id}")
    done = stripe.checkout.Session.retrieve(session.id)
    assert done.status == "complete"

    stripe.billing_portal.Configuration.create(
        features={
            "invoice_history": {"enabled": True},
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        }
    )
    portal = stripe.billing_portal.Session.create(
        customer=str(done.customer), return_url=app_url + "/billing"
    )
    page.goto(portal.url)
    page.get_by_role("link", name="Cancel plan").click()
    page.get_by_role("button", name="Cancel plan").click()
    assert stripe.Subscription.retrieve(str(done.subscription)).cancel_at_period_end is True
    page.get_by_role("button", name="Renew plan").click()
    assert stripe.Subscription.retrieve(str(done.subscription)).cancel_at_period_end is False
    page.get_by_role("link", name="Download PDF").click()
    page.go_back()
    page.get_by_role("link", name="Return to Stripe Emulator").click()
    page.wait_for_url(app_url + "/billing")


def test_decline_and_back_link_in_a_browser(
    emulator: EmulatorServer, app_url: str, page: Any
) -> None:
    product = stripe.Product.create(name="Basic")
    price = stripe.Price.create(
        product=product.id, unit_amount=900, currency="usd", recurring={"interval": "month"}
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url=app_url + "/ok",
        cancel_url=app_url + "/pricing",
        subscription_data={"trial_period_days": 14},
    )
    page.goto(session.url)
    page.get_by_label("Email").fill("decline@example.com")
    page.get_by_label("Card number").fill("4000000000000002")
    page.get_by_role("button", name="Start trial").click()
    assert page.get_by_role("alert").inner_text() == "Your card was declined."
    page.get_by_role("link", name="Back to Stripe Emulator").click()
    page.wait_for_url(app_url + "/pricing")
    assert stripe.checkout.Session.retrieve(session.id).status == "open"


def test_checkout_with_address_and_tax_id_in_a_browser(
    emulator: EmulatorServer, app_url: str, page: Any
) -> None:
    product = stripe.Product.create(name="Team")
    price = stripe.Price.create(
        product=product.id,
        unit_amount=3000,
        currency="usd",
        recurring={"interval": "month"},
        tax_behavior="exclusive",
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url=app_url + "/ok",
        automatic_tax={"enabled": True},
        tax_id_collection={"enabled": True},
    )
    page.goto(session.url)
    page.get_by_label("Email").fill("team@example.com")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiration").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Address line 1").fill("Keizersgracht 1")
    page.get_by_label("City").fill("Amsterdam")
    page.get_by_label("Postal code").fill("1015 CJ")
    page.get_by_label("Country (2-letter code)").fill("NL")
    page.get_by_label("I'm purchasing as a business").check()
    page.get_by_label("Business name").fill("Team BV")
    page.get_by_label("Tax ID (for example DE123456789)").fill("NL123456789B01")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(app_url + "/ok")
    done = stripe.checkout.Session.retrieve(session.id).to_dict()
    assert done["customer_details"]["tax_ids"] == [{"type": "eu_vat", "value": "NL123456789B01"}]
    assert done["total_details"]["amount_tax"] == 0


def test_portal_seat_change_in_a_browser(emulator: EmulatorServer, app_url: str, page: Any) -> None:
    """docs.stripe.com/changelog/basil/2025-07-30/customer-portal-subscription-update-quantity-limits

    The customer picks a quantity within `adjustable_quantity`.
    """
    clock = stripe.test_helpers.TestClock.create(frozen_time=1767225600)  # 2026-01-01
    customer = stripe.Customer.create(email="seats@example.com", test_clock=clock.id)
    card = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": card.id})
    product = stripe.Product.create(name="Seat")
    seat = stripe.Price.create(
        product=product.id, unit_amount=500, currency="usd", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": seat.id, "quantity": 4}]
    )
    config = stripe.billing_portal.Configuration.create(
        features={
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["quantity"],
                "proration_behavior": "always_invoice",
                "products": [
                    {
                        "product": product.id,
                        "prices": [seat.id],
                        "adjustable_quantity": {"enabled": True, "minimum": 2, "maximum": 8},
                    }
                ],
            }
        }
    )
    # Jan 16 12:00: half of January left.
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1767225600 + 31 * 86400 // 2)
    portal = stripe.billing_portal.Session.create(
        customer=customer.id, configuration=config.id, return_url=app_url + "/billing"
    )
    page.goto(portal.url)
    page.get_by_role("link", name="Update plan").click()
    quantity = page.get_by_label("Quantity")
    assert (quantity.get_attribute("min"), quantity.get_attribute("max")) == ("2", "8")
    quantity.fill("6")
    page.get_by_role("button", name="Continue").click()
    # Two more seats for half of January: 2 x $5.00 / 2.
    assert "Amount due today: $5.00" in page.locator("p.proration").inner_text()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="Return to Stripe Emulator").click()
    page.wait_for_url(app_url + "/billing")
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub["items"].data[0].quantity == 6
    inv = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert (inv.billing_reason, inv.status, inv.amount_paid) == ("subscription_update", "paid", 500)
    assert sorted(str(line.description) for line in inv.lines.data) == [
        f"Remaining time on 6 {TIMES} Seat after 16 Jan 2026",
        f"Unused time on 4 {TIMES} Seat after 16 Jan 2026",
    ]
