"""The notifications page, mark read, the receipts preference and the navbar bell."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from notifications.models import Notification, NotificationPreferences
from tests.factories import make_user
from tests.test_templates import (
    assert_every_input_is_labelled,
    assert_page_is_self_contained,
    parse,
)

pytestmark = pytest.mark.django_db

LIST_URL = "/notifications/"


def _notify(user: User, n: int = 1, *, kind: str = Notification.Kind.PAYMENT_FAILED) -> list[int]:
    return [
        Notification.objects.create(
            user=user,
            kind=kind,
            title=f"Your payment failed #{i}",
            body="We could not charge $29 to your card.",
            link="https://app.example.com/billing/",
            stripe_event_id=f"evt_view_{user.pk}_{i}",
        ).pk
        for i in range(n)
    ]


def _client(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def _unread(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def test_list_requires_login(client: Client) -> None:
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_list_shows_only_own_notifications_unread_first_class(client: Client) -> None:
    user, other = make_user(), make_user()
    _notify(user, 2)
    Notification.objects.filter(user=user).filter(title__endswith="#0").update(
        read_at=timezone.now()
    )
    Notification.objects.create(
        user=other, kind="payment_failed", title="Someone else's", stripe_event_id="evt_other"
    )
    client.force_login(user)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your payment failed #0" in page
    assert "Your payment failed #1" in page
    assert "Someone else&#x27;s" not in page
    assert page.count("list-group-item-primary") == 1  # only the unread one is highlighted
    assert page.count('action="/notifications/') >= 3  # read-one, read-all, preferences
    assert 'href="https://app.example.com/billing/"' in page
    assert '<label class="form-check-label" for="id_email_receipts">' in page


def test_list_empty_state(client: Client) -> None:
    client.force_login(make_user())
    page = client.get(LIST_URL).content.decode()
    assert "No notifications yet" in page
    assert "Mark all as read" not in page


def test_mark_read_marks_one(client: Client) -> None:
    user = make_user()
    first, second = _notify(user, 2)
    client.force_login(user)
    response = client.post(reverse("notifications:read", args=[first]))
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert Notification.objects.get(pk=first).read_at is not None
    assert Notification.objects.get(pk=second).read_at is None


def test_mark_read_redirects_back_only_on_site(client: Client) -> None:
    user = make_user()
    [pk] = _notify(user)
    client.force_login(user)
    url = reverse("notifications:read", args=[pk])
    assert client.post(url, {"next": "/notifications/?page=2"})["Location"] == (
        "/notifications/?page=2"
    )
    assert client.post(url, {"next": "https://evil.example.com/"})["Location"] == LIST_URL


def test_mark_read_other_users_notification_is_404(client: Client) -> None:
    owner, intruder = make_user(), make_user()
    [pk] = _notify(owner)
    client.force_login(intruder)
    assert client.post(reverse("notifications:read", args=[pk])).status_code == 404
    assert _unread(owner) == 1


def test_mark_read_needs_post(client: Client) -> None:
    user = make_user()
    [pk] = _notify(user)
    client.force_login(user)
    assert client.get(reverse("notifications:read", args=[pk])).status_code == 405
    assert client.get(reverse("notifications:read_all")).status_code == 405
    assert _unread(user) == 1


def test_mark_all_read_only_touches_own(client: Client) -> None:
    user, other = make_user(), make_user()
    _notify(user, 3)
    _notify(other, 2)
    client.force_login(user)
    response = client.post(reverse("notifications:read_all"), follow=True)
    assert response.status_code == 200
    assert "All notifications are marked as read." in response.content.decode()
    assert _unread(user) == 0
    assert _unread(other) == 2


def test_post_without_csrf_token_is_rejected() -> None:
    user = make_user()
    [pk] = _notify(user)
    client = _client(user, csrf=True)
    assert client.post(reverse("notifications:read", args=[pk])).status_code == 403
    assert client.post(reverse("notifications:read_all")).status_code == 403
    assert client.post(reverse("notifications:preferences")).status_code == 403
    assert _unread(user) == 1
    assert not NotificationPreferences.objects.filter(user=user).exists()


def test_post_with_csrf_token_from_the_page_works() -> None:
    user = make_user()
    [pk] = _notify(user)
    client = _client(user, csrf=True)
    client.get(LIST_URL)
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("notifications:read", args=[pk]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert _unread(user) == 0


def test_preferences_toggle_receipts(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    assert 'name="email_receipts" checked' in client.get(LIST_URL).content.decode()

    response = client.post(reverse("notifications:preferences"), follow=True)
    assert NotificationPreferences.objects.get(user=user).email_receipts is False
    page = response.content.decode()
    assert "Payment problems are always emailed." in page
    assert 'name="email_receipts" checked' not in page

    client.post(reverse("notifications:preferences"), {"email_receipts": "on"})
    assert NotificationPreferences.objects.get(user=user).email_receipts is True


# --- The bell --------------------------------------------------------------------------


def _notification_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return sum("notifications_notification" in q["sql"] for q in queries.captured_queries)


def test_bell_shows_unread_count_with_accessible_label(client: Client) -> None:
    user = make_user()
    _notify(user, 3)
    client.force_login(user)
    page = client.get(reverse("pricing")).content.decode()
    assert 'aria-label="Notifications, 3 unread"' in page
    assert 'data-unread-count="3"' in page
    assert 'href="/notifications/"' in page


def test_bell_without_unread_has_no_badge(client: Client) -> None:
    client.force_login(make_user())
    page = client.get(reverse("pricing")).content.decode()
    assert 'aria-label="Notifications"' in page
    assert 'data-unread-count="0"' in page


def test_bell_caps_large_counts(client: Client) -> None:
    user = make_user()
    _notify(user, 120)
    client.force_login(user)
    page = client.get(reverse("pricing")).content.decode()
    assert ">99+<" in page
    assert 'aria-label="Notifications, 120 unread"' in page


def test_bell_costs_one_count_query_per_page(client: Client) -> None:
    user = make_user()
    _notify(user, 5)
    client.force_login(user)
    assert _notification_queries(client, reverse("pricing")) == 1
    assert _notification_queries(client, "/") == 1


def test_bell_is_absent_and_free_for_anonymous(client: Client) -> None:
    assert _notification_queries(client, reverse("pricing")) == 0
    assert "/notifications/" not in client.get(reverse("pricing")).content.decode()


def test_list_page_is_accessible_and_self_contained(client: Client) -> None:
    user = make_user()
    _notify(user, 2)
    client.force_login(user)
    html = client.get(LIST_URL).content.decode()
    assert_page_is_self_contained(html)
    assert_every_input_is_labelled(html)
    page = parse(html)
    assert all((f.get("method") or "").lower() == "post" for f in page.forms)
    assert "Mark as read: Your payment failed #0" in page.submit_buttons
    assert "Mark all as read" in page.submit_buttons
    assert "Save preferences" in page.submit_buttons
    assert html.count('name="csrfmiddlewaretoken"') == len(page.forms)


def test_list_is_paginated_newest_first(client: Client) -> None:
    user = make_user()
    _notify(user, 25)
    client.force_login(user)
    first = client.get(LIST_URL)
    assert len(first.context["notifications"]) == 20
    assert first.context["notifications"][0].title == "Your payment failed #24"
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(LIST_URL, {"page": 2})
    assert [n.title for n in second.context["notifications"]][-1] == "Your payment failed #0"


def test_mark_read_twice_keeps_the_first_time(client: Client) -> None:
    user = make_user()
    [pk] = _notify(user)
    client.force_login(user)
    client.post(reverse("notifications:read", args=[pk]))
    first = Notification.objects.get(pk=pk).read_at
    client.post(reverse("notifications:read", args=[pk]))
    assert Notification.objects.get(pk=pk).read_at == first
