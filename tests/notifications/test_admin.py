"""Admin pages for notifications and staff alerts load and stay read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Notification, StaffAlert
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_admin_lists_notifications_and_staff_alerts(client: Client) -> None:
    admin_user = make_user(is_staff=True, is_superuser=True)
    user = make_user(email="payer@example.com")
    notification = Notification.objects.create(
        user=user, kind="payment_failed", title="Your payment failed", stripe_event_id="evt_a"
    )
    alert = StaffAlert.objects.create(
        stripe_event_id="evt_b", event_type="charge.refunded", charge_id="ch_a", amount=900
    )
    client.force_login(admin_user)

    page = client.get("/admin/notifications/notification/?q=payer@example.com")
    assert page.status_code == 200
    assert "Your payment failed" in page.content.decode()
    assert client.get("/admin/notifications/notification/?read_at__isempty=1").status_code == 200
    detail = client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert detail.status_code == 200
    assert client.get("/admin/notifications/notification/add/").status_code == 403

    alerts = client.get("/admin/notifications/staffalert/?q=ch_a")
    assert alerts.status_code == 200
    assert "ch_a" in alerts.content.decode()
    assert client.get(f"/admin/notifications/staffalert/{alert.pk}/change/").status_code == 200
    assert client.get("/admin/notifications/notificationpreferences/").status_code == 200


def test_admin_action_marks_read(client: Client) -> None:
    client.force_login(make_user(is_staff=True, is_superuser=True))
    n = Notification.objects.create(
        user=make_user(), kind="plan_changed", title="Plan changed", stripe_event_id="evt_c"
    )
    response = client.post(
        "/admin/notifications/notification/",
        {"action": "mark_read", "_selected_action": [n.pk]},
    )
    assert response.status_code == 302
    n.refresh_from_db()
    assert n.read_at is not None
