"""Security headers on real responses: the Content-Security-Policy, HSTS and friends.

The policy itself is checked in a browser by tests/e2e/test_csp.py (no violation on
the main pages); here the headers are read off the responses Django gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_user
from tests.saas.test_settings import PRODUCTION_ENV, SCRUBBED
from tests.subscriptions.conftest import billing  # noqa: F401

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Everything from this site, nothing inline, data: images (Bootstrap's CSS, the TOTP QR).
EXPECTED_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
ANONYMOUS_PAGES = ["home", "pricing", "account_login", "account_signup"]
USER_PAGES = ["app_home", "billing", "account_email", "mfa_index"]
STAFF_PAGES = ["admin:index", "admin:accounts_user_changelist", "billing_health"]


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert csp_directives(headers["Content-Security-Policy"]) == EXPECTED_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_csp_parser_reads_every_directive() -> None:
    assert csp_directives("default-src 'self'; img-src 'self' data:") == {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
    }


@pytest.mark.parametrize("name", ANONYMOUS_PAGES)
def test_anonymous_pages_send_the_security_headers(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize("name", USER_PAGES)
def test_user_pages_send_the_security_headers(client: Client, name: str) -> None:
    client.force_login(make_user())
    response = client.get(reverse(name), follow=True)  # team pages: on to the personal team
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_admin_and_staff_pages_send_the_security_headers(client: Client, name: str) -> None:
    client.force_login(make_user(is_staff=True, is_superuser=True))
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert_security_headers(response)


def test_error_pages_send_the_security_headers(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert_security_headers(response)


# Run in a fresh interpreter: production settings read the environment at import.
PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.core.management import call_command


class NoMigrations(dict):
    # Tables straight from the models (syncdb): rendering every migration's state
    # takes minutes on a loaded 2-core machine, and this probe is about headers.
    def __contains__(self, app_label):
        return True

    def __getitem__(self, app_label):
        return None


settings.MIGRATION_MODULES = NoMigrations()
call_command("migrate", run_syncdb=True, verbosity=0)
from django.test import Client, override_settings
client = Client(HTTP_HOST="saas.example.com")
out = {}
# No collectstatic here: plain static storage instead of the manifest.
storages = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
with override_settings(STORAGES=storages):
    for path in ("/", "/accounts/login/"):
        response = client.get(path, secure=True)
        out[path] = {"status": response.status_code, "headers": dict(response.headers)}
    out["http"] = {"status": client.get("/").status_code}
print(json.dumps(out))
"""


def test_production_settings_send_hsts_and_the_security_headers(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    env = {
        **base,
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "PYTHONPATH": str(BASE_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["http"]["status"] == 301, "production redirects plain HTTP to HTTPS"
    for path in ("/", "/accounts/login/"):
        assert out[path]["status"] == 200, (path, out[path])
        headers = out[path]["headers"]
        assert (
            headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        )
        assert csp_directives(headers["Content-Security-Policy"]) == EXPECTED_CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.usefixtures("billing")
def test_djstripe_admin_pages_have_nothing_inline(client: Client) -> None:
    """dj-stripe's admin templates carry inline <style>, style="" and onsubmit="": the
    overrides in templates/djstripe/admin/ move them to static files."""
    from djstripe.models import Product, WebhookEndpoint

    from tests.test_templates import assert_page_is_self_contained

    client.force_login(make_user(is_staff=True, is_superuser=True))
    product = Product.objects.first()
    endpoint = WebhookEndpoint.objects.first()
    assert product is not None
    assert endpoint is not None
    pages = {
        reverse("admin:djstripe_product_change", args=[product.pk]): "stripe-confirmation-warning",
        reverse("admin:djstripe_product_add"): "stripe-confirmation-warning",
        reverse("admin:djstripe_webhookendpoint_change", args=[endpoint.pk]): (
            "stripe-danger-warning"
        ),
        reverse("admin:djstripe_webhookendpoint_delete", args=[endpoint.pk]): (
            'id="div_spinner" hidden'
        ),
    }
    for url, marker in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert marker in html, url
        assert "/static/css/djstripe-admin.css" in html, url
        assert 'href="/static/admin/css/forms.css"' in html or "delete" in url, url
        assert_page_is_self_contained(html)
        assert_security_headers(response)

    # The confirmation page of dj-stripe's admin actions.
    response = client.post(
        reverse("admin:djstripe_product_changelist"),
        {"action": "_resync_instances", "_selected_action": [product.pk]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Are you sure you want to sync the selected instances?" in html
    assert 'id="div_spinner" hidden' in html
    assert 'id="form_custom_action"' in html
    assert "/static/js/djstripe-admin.js" in html
    assert_page_is_self_contained(html)
