"""The admin index lists what staff use, in the order they use it; nothing becomes unreachable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from saas.admin import INDEX_MODELS, SaasAdminSite
from subscriptions.models import StripeEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _sections(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', html)


def test_admin_site_is_ours() -> None:
    assert isinstance(admin.site, SaasAdminSite)  # the lazy default site resolves to it


def test_index_orders_sections_by_use_and_merges_the_account_apps(staff_client: Client) -> None:
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert _sections(html)[:6] == [
        "Subscriptions",
        "Accounts",
        "Stripe (mirror)",
        "Notifications",
        "Projects (demo app)",
        "Periodic tasks",
    ]
    # allauth's addresses and authenticators and Django's groups sit with the users.
    for url_name in ("account_emailaddress", "mfa_authenticator", "auth_group"):
        assert reverse(f"admin:{url_name}_changelist") in html
    assert "Authentication and Authorization" not in html


def test_index_lists_only_the_stripe_models_staff_open(staff_client: Client) -> None:
    html = staff_client.get(reverse("admin:index")).content.decode()
    shown = {m for m in apps.get_app_config("djstripe").get_models() if m in admin.site._registry}
    for model in shown:
        url = reverse(f"admin:djstripe_{model._meta.model_name}_changelist")
        listed = f'href="{url}"' in html
        assert listed == (model.__name__ in INDEX_MODELS["djstripe"]), model.__name__
    assert len(shown) > len(INDEX_MODELS["djstripe"])  # some are left off the index
    assert reverse("admin:app_list", args=["djstripe"]) in html  # "All mirrored Stripe objects"


def test_hidden_models_stay_registered_and_listed_on_their_app_page(staff_client: Client) -> None:
    for label in INDEX_MODELS:
        page = staff_client.get(reverse("admin:app_list", args=[label]))
        assert page.status_code == 200
        html = page.content.decode()
        for model in apps.get_app_config(label).get_models():
            if model in admin.site._registry:
                url = reverse(f"admin:{label}_{model._meta.model_name}_changelist")
                assert url in html, model.__name__
                assert staff_client.get(url).status_code == 200, model.__name__


def test_stripe_events_list_puts_status_and_latency_first(staff_client: Client) -> None:
    now = timezone.now()
    event = StripeEvent.objects.create(
        stripe_id="evt_admin_list",
        type="invoice.paid",
        stripe_created=now,
        payload={"id": "evt_admin_list", "type": "invoice.paid", "data": {"object": {}}},
        status=StripeEvent.Status.PROCESSED,
    )
    processed_at = event.received_at + timedelta(seconds=1.5)
    StripeEvent.objects.filter(pk=event.pk).update(processed_at=processed_at)
    html = staff_client.get(reverse("admin:subscriptions_stripeevent_changelist")).content.decode()
    columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert columns[:4] == ["type", "status", "latency", "attempts"], columns
    assert "invoice.paid" in html
    assert "1.5 s" in html  # the latency column has a value
    # No navigation sidebar beside this wide list.
    assert 'id="nav-sidebar"' not in html
