"""Impersonation (django-hijack): who may, the banner and its stop button, the audit trail."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import User
from support.models import Impersonation
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _client(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def _start(client: Client, target: User, next_url: str = "/") -> int:
    response = client.post(reverse("hijack:acquire"), {"user_pk": target.pk, "next": next_url})
    return response.status_code


def _support_agent() -> User:
    agent = make_user(email="agent@example.com", is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="impersonate_user"))
    return User.objects.get(pk=agent.pk)  # a fresh permission cache


def test_superuser_impersonates_sees_the_banner_and_stops_with_an_audit_trail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    customer = make_user(email="customer@example.com")
    client = _client(admin)

    with caplog.at_level(logging.INFO, logger="support.audit"):
        assert _start(client, customer) == 302
        page = client.get(reverse("account_profile")).content.decode()
        assert 'data-testid="impersonation-banner"' in page
        assert "customer@example.com" in page
        assert reverse("hijack:release") in page
        stop = client.post(reverse("hijack:release"), {"next": "/staff/customers/"})

    assert stop.status_code == 302
    assert int(client.session["_auth_user_id"]) == admin.pk
    [record] = Impersonation.objects.all()
    assert (record.hijacker_email, record.hijacked_email) == (
        "root@example.com",
        "customer@example.com",
    )
    assert record.ended_at is not None
    assert record.ended_at >= record.started_at
    assert "impersonation started" in caplog.text
    assert "impersonation ended" in caplog.text
    banner = client.get(reverse("account_profile")).content.decode()
    assert 'data-testid="impersonation-banner"' not in banner


def test_staff_need_the_permission_and_never_impersonate_superusers_or_staff() -> None:
    customer = make_user()
    plain_staff = make_user(is_staff=True)
    assert _start(_client(plain_staff), customer) == 403

    agent = _support_agent()
    assert _start(_client(agent), make_user(is_staff=True, is_superuser=True)) == 403
    assert _start(_client(agent), make_user(is_staff=True)) == 403
    assert _start(_client(agent), customer) == 302
    assert Impersonation.objects.get().hijacked_id == customer.pk


def test_a_customer_cannot_impersonate_anyone() -> None:
    assert _start(_client(make_user()), make_user()) == 403
    assert not Impersonation.objects.exists()


def test_start_is_post_only_with_csrf() -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    customer = make_user()
    client = _client(admin, csrf=True)
    response = client.get(reverse("hijack:acquire"), {"user_pk": customer.pk})
    assert response.status_code in (400, 405)
    assert _start(client, customer) == 403  # no CSRF token
    assert int(client.session["_auth_user_id"]) == admin.pk
    assert not Impersonation.objects.exists()


def test_start_does_not_redirect_off_site() -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    client = _client(admin)
    response = client.post(
        reverse("hijack:acquire"),
        {"user_pk": make_user().pk, "next": "https://evil.example.com/phish"},
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example.com")


def test_account_deletion_and_export_are_not_offered_while_impersonating() -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    customer = make_user()
    client = _client(admin)
    _start(client, customer)
    assert client.get(reverse("account_delete")).status_code == 404
    assert (
        client.post(reverse("account_delete"), {"confirm_email": customer.email}).status_code == 404
    )
    assert client.post(reverse("account_export")).status_code == 404
    assert User.objects.filter(pk=customer.pk).exists()


def test_the_audit_trail_is_read_only_in_the_admin() -> None:
    admin = make_user(is_staff=True, is_superuser=True)
    customer = make_user(email="seen@example.com")
    client = _client(admin)
    _start(client, customer)
    client.post(reverse("hijack:release"))
    record = Impersonation.objects.get()
    listing = client.get(reverse("admin:support_impersonation_changelist")).content.decode()
    assert "seen@example.com" in listing
    assert client.get(reverse("admin:support_impersonation_add")).status_code == 403
    delete = client.post(reverse("admin:support_impersonation_delete", args=[record.pk]))
    assert delete.status_code == 403
    assert Impersonation.objects.filter(pk=record.pk).exists()
