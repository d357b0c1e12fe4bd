"""Every main page at desktop and phone width, in light and dark mode, in a real browser.

A subscriber (with a paid invoice, a project and notifications) and a visitor
walk the pages at 1280 px and 390 px with the system set to light and to dark.
On each page:

- the color mode follows the system setting (``data-bs-theme``);
- nothing sticks out sideways: the page does not scroll horizontally and no link,
  button, field or table header lies outside the viewport (also not inside a
  sideways-scrolling box, where the invoice links used to hide on phones);
- axe-core finds no serious or critical accessibility violation;
- a full-page screenshot is saved to ``E2E_SCREENSHOTS`` (default
  ``var/e2e-screenshots/``, git-ignored), named ``<page>-<width>-<mode>.png``.

Staff pages (the admin index, the Stripe events list) are checked at 1280 px.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from subscriptions.models import StripeEvent
from tests.billing_helpers import personal_team, tpath
from tests.conftest import WorkerProcess
from tests.e2e.axe import AxeWatch
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
MODES = ("light", "dark")
SCREENSHOTS = Path(
    os.environ.get("E2E_SCREENSHOTS") or Path(settings.BASE_DIR) / "var" / "e2e-screenshots"
)

VISITOR_PAGES = [
    ("home-anonymous", "home"),
    ("pricing-anonymous", "pricing"),
    ("login", "account_login"),
    ("signup", "account_signup"),
    ("password-reset", "account_reset_password"),
]
SUBSCRIBER_PAGES = [
    ("home", "home"),
    ("pricing", "pricing"),
    ("app", "app_home"),
    ("projects", "project_list"),
    ("project-new", "project_create"),
    ("exports", "exports"),
    ("api", "api_access"),
    ("billing", "billing"),
    ("notifications", "notifications:list"),
    ("account-email", "account_email"),
    ("password-change", "account_change_password"),
    ("mfa", "mfa_index"),
    ("billing-health", "billing_health"),
    ("teams", "team_list"),
]
# Pages of the subscriber's own (personal) team, reversed with its slug.
TEAM_PAGES = [
    ("team-settings", "team_settings"),
    ("usage", "usage"),
]
STAFF_PAGES = [
    ("admin", "admin:index"),
    ("admin-stripe-events", "admin:subscriptions_stripeevent_changelist"),
    ("admin-users", "admin:accounts_user_changelist"),
]

# What lies (partly) outside the viewport horizontally, or makes the page scroll sideways.
OFF_SCREEN_JS = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`the page is ${document.documentElement.scrollWidth}px wide`);
  }
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, th";
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest(".visually-hidden, .visually-hidden-focusable")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;  // not rendered (collapsed menus)
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      const label = (el.innerText || el.value || el.name || el.className || "").trim().slice(0, 40);
      const span = `${Math.round(box.left)}..${Math.round(box.right)}px`;
      found.push(`<${el.tagName.toLowerCase()}> "${label}" spans ${span}`);
    }
  }
  return found;
}"""


class PageSweep:
    """Visits pages in one browser context and collects what is wrong with each."""

    def __init__(self, context: Any, label: str, mode: str) -> None:
        self.page = context.new_page()
        self.label = label
        self.mode = mode
        self.axe = AxeWatch(self.page)
        self.problems: list[str] = []
        self.visited: list[str] = []

    def visit(self, url: str, name: str) -> None:
        response = self.page.goto(url)
        assert response is not None, url
        assert response.status == 200, (url, response.status)
        self.page.wait_for_load_state("networkidle")
        shot = f"{name}-{self.label}-{self.mode}"
        self.visited.append(shot)
        theme = self.page.evaluate("() => document.documentElement.dataset.bsTheme")
        # The admin has its own color modes (the same system setting, no data-bs-theme).
        if "/admin/" not in url and theme != self.mode:
            self.problems.append(f"{shot}: data-bs-theme is {theme!r}")
        for item in self.page.evaluate(OFF_SCREEN_JS):
            self.problems.append(f"{shot}: off-screen {item}")
        self.axe.check(shot)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)

    def all_problems(self) -> list[str]:
        return self.problems + self.axe.violations


@pytest.fixture
def subscriber(live_billing: Billing, celery_worker_process: WorkerProcess, client: Client) -> Any:
    """A staff subscriber on Pro with a paid invoice, a project and the webhooks processed."""
    user = make_user(email="pages@example.com", is_staff=True, is_superuser=True)
    client.force_login(user)
    success = live_billing.subscribe(client, "pro_monthly")
    assert client.get(success).status_code == 200
    response = client.post(
        tpath(client, reverse("project_create")),
        {"name": "Website redesign", "description": "Q3 launch"},
    )
    assert response.status_code == 302, response.content[:300]
    deadline = time.monotonic() + 60
    while StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).exists():
        assert time.monotonic() < deadline, "the webhook events were never processed"
        time.sleep(0.5)
    return user


def _logged_in_state(browser: Any, base: str, email: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + reverse("account_login"))
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))
    state = context.storage_state()
    context.close()
    return state


def test_pages_fit_every_width_in_both_modes_and_pass_axe(
    browser: Any, subscriber: Any, live_server: Any
) -> None:
    base = live_server.url
    state = _logged_in_state(browser, base, subscriber.email)
    problems: list[str] = []
    checked = 0
    for label, (width, height) in WIDTHS.items():
        for mode in MODES:
            size = {"width": width, "height": height}
            visitor = browser.new_context(viewport=size, color_scheme=mode)
            sweep = PageSweep(visitor, label, mode)
            for name, url_name in VISITOR_PAGES:
                sweep.visit(base + reverse(url_name), name)
            problems += sweep.all_problems()
            checked += len(sweep.visited)
            visitor.close()

            member = browser.new_context(viewport=size, color_scheme=mode, storage_state=state)
            sweep = PageSweep(member, label, mode)
            pages = SUBSCRIBER_PAGES + (STAFF_PAGES if label == "desktop" else [])
            for name, url_name in pages:
                sweep.visit(base + reverse(url_name), name)
            slug = personal_team(subscriber).slug
            for name, url_name in TEAM_PAGES:
                sweep.visit(base + reverse(url_name, kwargs={"team_slug": slug}), name)
            problems += sweep.all_problems()
            checked += len(sweep.visited)
            member.close()

    assert problems == [], "\n".join(problems)
    assert checked == 4 * (len(VISITOR_PAGES) + len(SUBSCRIBER_PAGES) + len(TEAM_PAGES)) + 2 * len(
        STAFF_PAGES
    )


def test_invoice_links_are_on_screen_on_a_phone(
    browser: Any, subscriber: Any, live_server: Any
) -> None:
    state = _logged_in_state(browser, live_server.url, subscriber.email)
    context = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=state)
    page = context.new_page()
    page.goto(live_server.url + reverse("billing"))
    invoices = page.locator("section[aria-labelledby=invoices-heading] table")
    for link_name in ("View", "PDF"):
        link = invoices.get_by_role("link", name=link_name).first
        box = link.bounding_box()
        assert box is not None, f"no {link_name} link"
        assert box["x"] >= 0, (link_name, box)
        assert box["x"] + box["width"] <= 390, (link_name, box)
        assert link.is_visible()
    context.close()
