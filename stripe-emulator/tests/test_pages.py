"""Hosted invoice page, invoice PDF, 3-D Secure page for PaymentIntents, dashboard."""

from __future__ import annotations

import calendar
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from stripe_emulator import EmulatorServer
from stripe_emulator.pages.pdf import PdfDocument

from ._browser import Browser


def subscribe(
    card: str = "pm_card_visa", **kwargs: Any
) -> tuple[stripe.Customer, stripe.Subscription]:
    customer = stripe.Customer.create(email="ivy@example.com", name="Ivy (Test) \\ Ltd")
    pm = stripe.PaymentMethod.attach(card, customer=customer.id)
    product = stripe.Product.create(name="Team plan")
    price = stripe.Price.create(
        product=product.id, unit_amount=4900, currency="eur", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": price.id}], default_payment_method=pm.id, **kwargs
    )
    return customer, sub


def check_pdf(data: bytes) -> None:
    """Structural checks: header, every xref offset points at its object, trailer."""
    assert data.startswith(b"%PDF-1.4\n")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(re.findall(rb"startxref\n(\d+)\n", data)[-1])
    assert data[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    assert header
    count = int(header.group(1))
    table = data[startxref + header.end() :].split(b"\n")[:count]
    assert table[0] == b"0000000000 65535 f "
    for number, row in enumerate(table[1:], start=1):
        offset = int(row[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number), number
    trailer = data[data.index(b"trailer", startxref) :]
    assert b"/Size %d" % count in trailer
    assert b"/Root 1 0 R" in trailer
    for stream in re.finditer(rb"<< /Length (\d+) >>\nstream\n", data):
        length = int(stream.group(1))
        assert data[stream.end() + length : stream.end() + length + 10] == b"\nendstream"


def pdf_text(data: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return out.stdout


def test_pdf_writer_multi_page(tmp_path: Path) -> None:
    doc = PdfDocument()
    for i in range(120):
        doc.text(60, f"Line {i} (with parens) and a backslash \\ and € sign")
        doc.line(14)
    data = doc.build(title="Many lines")
    check_pdf(data)
    assert data.count(b"/Type /Page ") == 3
    text = pdf_text(data, tmp_path)
    assert "Line 0 (with parens) and a backslash \\ and € sign" in text
    assert "Line 119" in text


def test_hosted_invoice_page_and_pdf(emulator: EmulatorServer, tmp_path: Path) -> None:
    _customer, sub = subscribe()
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert invoice.hosted_invoice_url == f"{emulator.url}/invoices/{invoice.id}"
    assert invoice.invoice_pdf == f"{emulator.url}/invoices/{invoice.id}/pdf"
    browser = Browser(emulator.url)
    page = browser.get(invoice.hosted_invoice_url)
    assert page.status == 200
    text = page.visible_text()
    assert str(invoice.number) in text
    assert "Team plan" in text
    assert "€49.00" in text
    assert "paid" in text
    assert "Ivy (Test) \\ Ltd" in text
    assert "Pay" not in " ".join(page.buttons())  # nothing to pay

    pdf = browser.get(invoice.invoice_pdf)
    assert pdf.status == 200
    assert pdf.content_type == "application/pdf"
    check_pdf(pdf.body)
    text = pdf_text(pdf.body, tmp_path)
    assert "Invoice" in text
    assert str(invoice.number) in text
    assert "Ivy (Test) \\ Ltd" in text
    assert "ivy@example.com" in text
    assert "Team plan" in text
    assert "€49.00" in text
    assert "PAID" in text


def test_pay_open_invoice_on_hosted_page(emulator: EmulatorServer) -> None:
    _customer, sub = subscribe("pm_card_chargeCustomerFail", payment_behavior="allow_incomplete")
    assert sub.status == "incomplete"
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert invoice.status == "open"
    browser = Browser(emulator.url)
    page = browser.get(str(invoice.hosted_invoice_url))
    assert "Pay €49.00" in page.buttons()
    declined = browser.submit(page, "Pay €49.00", {"card_number": "4000000000009995"})
    assert "Your card has insufficient funds." in declined.visible_text()
    done = browser.submit(page, "Pay €49.00", {"card_number": "4242424242424242"})
    assert done.status == 303
    assert "paid" in browser.follow(done).visible_text()
    assert stripe.Invoice.retrieve(invoice.id).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_3ds_page_for_payment_intent(emulator: EmulatorServer) -> None:
    customer, sub = subscribe("pm_card_authenticationRequired", payment_behavior="allow_incomplete")
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    pis = stripe.PaymentIntent.list(customer=customer.id).data
    pi = next(p for p in pis if p.status == "requires_action")
    url = pi.to_dict()["next_action"]["redirect_to_url"]["url"]
    assert url == f"{emulator.url}/3ds/{pi.id}"
    browser = Browser(emulator.url)
    page = browser.get(url)
    assert page.buttons() == ["Complete authentication", "Fail authentication"]
    assert "€49.00" in page.visible_text()
    done = browser.submit(page, "Complete authentication")
    assert done.status in (200, 303)
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"
    assert stripe.Invoice.retrieve(invoice.id).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_pages_404(emulator: EmulatorServer) -> None:
    browser = Browser(emulator.url)
    for path in ("/invoices/in_nope", "/invoices/in_nope/pdf", "/3ds/pi_nope", "/checkout/x"):
        page = browser.get(path)
        assert page.status == 404, path
        assert page.content_type.startswith("text/html")
    assert browser.get("/dashboard/objects/cus_nope").status == 404


def test_dashboard(emulator: EmulatorServer, webhook_receiver: Any) -> None:
    stripe.WebhookEndpoint.create(url=webhook_receiver.url, enabled_events=["*"])
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_900_000_000, name="Demo clock")
    customer = stripe.Customer.create(email="dash@example.com", test_clock=clock.id)
    emulator.emulator.dispatcher.wait_idle(5)
    browser = Browser(emulator.url)
    home = browser.get("/")
    assert home.status == 200
    text = home.visible_text()
    for heading in ("Test clocks", "Customers", "Subscriptions", "Invoices", "Recent events"):
        assert heading in text
    assert "dash@example.com" in text
    assert "customer.created" in text
    assert webhook_receiver.url in text  # webhook endpoints section
    assert re.search(r"#1 200 \d+ ms", text)  # each delivery attempt: status, latency
    assert {"+1 day", "+1 month", "Advance to date"} <= set(home.buttons())

    # +1 day
    resp = browser.submit(home, "+1 day")
    assert resp.status == 303
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == 1_900_000_000 + 86400
    # to a date
    home = browser.get("/")
    resp = browser.submit(home, "Advance to date", {"to": "2030-06-01"})
    assert resp.status == 303
    frozen = stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time
    june_1 = calendar.timegm((2030, 6, 1, 0, 0, 0, 0, 0, 0))
    assert june_1 <= frozen < june_1 + 86400
    assert frozen % 86400 == 1_900_000_000 % 86400  # time of day kept

    # object JSON view and event detail with delivery attempts
    obj = browser.get(f"/dashboard/objects/{customer.id}")
    assert '"email": "dash@example.com"' in obj.text.replace("&quot;", '"')
    evt = stripe.Event.list(type="customer.created").data[0]
    detail = browser.get(f"/dashboard/events/{evt.id}")
    assert "Delivery attempts" in detail.visible_text()
    assert "succeeded" in detail.visible_text()
    assert re.search(r"\d+ ms", detail.visible_text())
    emulator.emulator.dispatcher.wait_idle(5)
    before = len(webhook_receiver.received)
    resent = browser.submit(detail, "Resend event")
    assert resent.status == 303
    got = webhook_receiver.wait_for(before + 1)
    assert [r.event["id"] for r in got[before:]] == [evt.id]


def test_dashboard_forms_need_token(emulator: EmulatorServer) -> None:
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_900_000_000)
    resp = Browser(emulator.url).post(f"/dashboard/clocks/{clock.id}/advance", {"by": "day"})
    assert resp.status == 403
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == 1_900_000_000


def test_pay_open_invoice_with_3ds_card(emulator: EmulatorServer) -> None:
    _customer, sub = subscribe("pm_card_chargeCustomerFail", payment_behavior="allow_incomplete")
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    browser = Browser(emulator.url)
    page = browser.get(str(invoice.hosted_invoice_url))
    resp = browser.submit(page, "Pay €49.00", {"card_number": "4000002760003184"})
    assert resp.status == 303
    assert resp.location.startswith("/3ds/pi_")
    assert resp.location.endswith(f"?return_to=/invoices/{invoice.id}")
    challenge = browser.follow(resp)
    failed = browser.submit(challenge, "Fail authentication")
    assert failed.location == f"/invoices/{invoice.id}"
    assert stripe.Invoice.retrieve(invoice.id).status == "open"
    resp = browser.submit(
        browser.get(str(invoice.hosted_invoice_url)),
        "Pay €49.00",
        {"card_number": "4000002760003184"},
    )
    done = browser.submit(browser.follow(resp), "Complete authentication")
    assert done.location == f"/invoices/{invoice.id}"
    assert stripe.Invoice.retrieve(invoice.id).status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_dashboard_shows_clock_errors(emulator: EmulatorServer) -> None:
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_900_000_000)
    browser = Browser(emulator.url)
    home = browser.get("/")
    resp = browser.submit(home, "Advance to date", {"to": "2020-01-01"})
    assert resp.status == 303
    page = browser.follow(resp)
    assert "later than its current frozen_time" in page.visible_text()
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == 1_900_000_000


def test_dashboard_opens_a_customers_portal(emulator: EmulatorServer) -> None:
    customer, sub = subscribe()
    browser = Browser(emulator.url)
    home = browser.get("/")
    resp = browser.submit(home, "Open portal")
    assert resp.status == 303
    assert resp.location.startswith("/portal/")
    portal = browser.follow(resp)
    assert portal.status == 200
    assert "Team plan" in portal.visible_text()
    assert "Cancel plan" in portal.links()
    config = stripe.billing_portal.Configuration.list(is_default=True).data[0]
    assert config.features.subscription_cancel.enabled is True
    session = stripe.Event.list(type="billing_portal.session.created").data[0].data.object
    assert session.customer == customer.id
    assert sub.id in portal.text


def test_page_forms_refuse_cross_site_posts(emulator: EmulatorServer) -> None:
    """Even with the form's token, a POST the browser marks as cross-site changes nothing."""
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_900_000_000)
    browser = Browser(emulator.url)
    home = browser.get("/")
    action = home.form_action("+1 day")
    fields = urlencode({"token": home.token(), "by": "day"}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for foreign in (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},
    ):
        refused = browser._request("POST", action, fields, {**form, **foreign})
        assert refused.status == 403, foreign
        assert "Cross-site request refused" in refused.visible_text()
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == 1_900_000_000

    same = {"Origin": emulator.url, "Sec-Fetch-Site": "same-origin"}
    assert browser._request("POST", action, fields, {**form, **same}).status == 303
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == 1_900_000_000 + 86400
