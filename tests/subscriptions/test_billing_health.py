"""The staff billing-health page and its selectors, on hand-computed data."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse
from djstripe.models import Subscription
from pytest_django.fixtures import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from subscriptions.models import StripeEvent
from subscriptions.reports import health as health_report
from subscriptions.reports.views import format_seconds
from tests.billing_helpers import give_plan
from tests.factories import make_user
from tests.test_templates import assert_page_is_self_contained

pytestmark = pytest.mark.django_db

URL = "/staff/billing-health/"
NOW = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
DAY = 86400
Status = StripeEvent.Status


def _event(
    *,
    received_at: datetime,
    status: str = Status.PROCESSED,
    lag: float | None = None,
    type: str = "invoice.paid",
    payload: dict[str, Any] | None = None,
) -> StripeEvent:
    """A stored event; ``lag`` seconds after receipt it was processed (if given)."""
    stripe_id = f"evt_{uuid.uuid4().hex[:16]}"
    event = StripeEvent.objects.create(
        stripe_id=stripe_id,
        type=type,
        stripe_created=received_at,
        payload=payload or {"id": stripe_id, "type": type, "data": {"object": {}}},
        status=status,
    )
    processed_at = received_at + timedelta(seconds=lag) if lag is not None else None
    # received_at is auto_now_add: set the test's time afterwards.
    StripeEvent.objects.filter(pk=event.pk).update(
        received_at=received_at, processed_at=processed_at
    )
    event.refresh_from_db()
    return event


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(make_user(is_staff=True))
    return client


def _attr(html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


# --- Access ---------------------------------------------------------------------------


def test_billing_health_url_name() -> None:
    assert reverse("billing_health") == URL


def test_billing_health_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=/staff/billing-health/" in response["Location"]


def test_billing_health_non_staff_is_denied(client: Client) -> None:
    client.force_login(make_user())
    assert client.get(URL).status_code == 404


def test_billing_health_inactive_staff_is_denied(client: Client) -> None:
    user = make_user(is_staff=True)
    client.force_login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = client.get(URL)
    # Django drops the session of an inactive user: treated as anonymous.
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_admin_index_links_to_billing_health(client: Client) -> None:
    client.force_login(make_user(is_staff=True, is_superuser=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{URL}"' in response.content.decode()


# --- Empty database ----------------------------------------------------------------------


def test_billing_health_renders_with_empty_database(staff_client: Client) -> None:
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No events yet" in html
    assert "No paying subscriptions yet." in html
    assert "No disputes or refunds received." in html
    assert _attr(html, "data-unprocessed") == "0"
    assert _attr(html, "data-events-24h") == "0"
    assert _attr(html, "data-rate") == ""
    assert "/admin/subscriptions/stripeevent/?status__exact=failed" in html
    assert_page_is_self_contained(html)


def test_billing_health_report_empty() -> None:
    report = health_report.billing_health(broker_url=settings.CELERY_BROKER_URL, now=NOW)
    assert report.last_event is None
    assert [b.count for b in report.per_hour] == [0] * 24
    assert report.statuses == health_report.EventStatusCounts()
    assert report.oldest_unprocessed_age is None
    assert report.lag == health_report.ProcessingLag(
        p50=None, p95=None, sample_size=0, truncated=False
    )
    assert report.mrr.lines == []
    assert report.mrr.totals == {}
    assert report.churn.base == 0
    assert report.churn.rate is None
    assert report.money_events == []


# --- Events -------------------------------------------------------------------------------


def _pipeline_rows() -> None:
    """Events around NOW (12:30 UTC): 6 processed in 24 h, 1 older, 2 failed, 2 in flight."""
    for minutes, lag in ((5, 1), (20, 2), (50, 3), (65, 4), (130, 100)):
        _event(received_at=NOW - timedelta(minutes=minutes), lag=lag)
    # Processed 25 h ago: out of the lag window and the per-hour chart.
    _event(received_at=NOW - timedelta(hours=25), lag=500)
    # 23 h 30 min ago = 13:00 yesterday, the first hour of the chart.
    _event(received_at=NOW - timedelta(hours=23, minutes=30), status=Status.FAILED)
    _event(received_at=NOW - timedelta(minutes=40), status=Status.FAILED)
    _event(received_at=NOW - timedelta(minutes=10), status=Status.RECEIVED)
    _event(
        received_at=NOW - timedelta(minutes=2),
        status=Status.PROCESSING,
        type="customer.subscription.updated",
    )


def test_billing_health_event_numbers() -> None:
    _pipeline_rows()
    report = health_report.billing_health(broker_url=settings.CELERY_BROKER_URL, now=NOW)

    assert report.last_event is not None
    assert report.last_event.type == "customer.subscription.updated"
    assert report.last_event.received_at == NOW - timedelta(minutes=2)

    # Lags in the window: 1, 2, 3, 4, 100 s. Nearest rank: p50 = 3rd, p95 = 5th.
    assert report.lag.sample_size == 5
    assert report.lag.p50 == 3.0
    assert report.lag.p95 == 100.0
    assert report.lag.truncated is False

    assert report.statuses == health_report.EventStatusCounts(
        received=1,
        processing=1,
        processed=6,
        failed=2,
        oldest_unprocessed_at=NOW - timedelta(minutes=10),
    )
    assert report.statuses.unprocessed == 2
    assert report.oldest_unprocessed_age == timedelta(minutes=10)

    per_hour = {b.start: b.count for b in report.per_hour}
    assert len(report.per_hour) == 24
    assert report.per_hour[0].start == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    assert report.per_hour[-1].start == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    # 12:xx: -5, -20, -10, -2 min; 11:xx: -50, -40 min; 11:25 -> 11:xx too (-65 min);
    # 10:20 (-130 min); 13:00 yesterday (the failed one); -25 h is outside.
    assert per_hour[datetime(2026, 11, 27, 12, 0, tzinfo=UTC)] == 4
    assert per_hour[datetime(2026, 11, 27, 11, 0, tzinfo=UTC)] == 3
    assert per_hour[datetime(2026, 11, 27, 10, 0, tzinfo=UTC)] == 1
    assert per_hour[datetime(2026, 11, 26, 13, 0, tzinfo=UTC)] == 1
    assert sum(per_hour.values()) == 9


def test_processing_lag_sample_is_capped_to_the_most_recent() -> None:
    for i, seconds in enumerate((10, 20, 30, 1000)):
        _event(received_at=NOW - timedelta(minutes=60 - i), lag=seconds)
    lag = health_report.processing_lag(now=NOW, limit=3)
    # The 3 most recently processed are 20, 30 and 1000 s (processed last).
    assert lag.truncated is True
    assert lag.sample_size == 3
    assert (lag.p50, lag.p95) == (30.0, 1000.0)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([], 50, None), ([7.0], 95, 7.0), ([1.0, 2.0], 50, 1.0), ([1.0, 2.0, 3.0, 4.0], 95, 4.0)],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float | None) -> None:
    assert health_report.percentile(values, pct) == expected


def test_billing_health_page_shows_event_numbers(staff_client: Client) -> None:
    now = datetime.now(tz=UTC)
    for minutes, lag in ((3, 1.5), (30, 2.5), (90, 4.5)):
        _event(received_at=now - timedelta(minutes=minutes), lag=lag)
    _event(received_at=now - timedelta(minutes=7), status=Status.FAILED)
    _event(
        received_at=now - timedelta(minutes=1),
        status=Status.RECEIVED,
        type="invoice.payment_failed",
    )
    html = staff_client.get(URL).content.decode()
    assert _attr(html, "data-p50") == "2.5"
    assert _attr(html, "data-p95") == "4.5"
    assert "2.50 s" in html
    assert "4.50 s" in html
    assert re.search(r'data-metric="failed".*?data-value>1<', html, re.S)
    assert _attr(html, "data-unprocessed") == "1"
    assert _attr(html, "data-events-24h") == "5"
    assert "invoice.payment_failed" in html
    assert "a minute ago" in html
    assert "No events yet" not in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.421, "0.42 s"), (12.34, "12.3 s"), (245, "4 min 05 s"), (7380, "2 h 03 min")],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


# --- Queue depth ---------------------------------------------------------------------------


def test_broker_queue_length_counts_the_list() -> None:
    queue = f"test-billing-health-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.rpush(queue, "a", "b", "c")
        assert (
            health_report.broker_queue_length(
                broker_url=settings.CELERY_BROKER_URL, queue_name=queue
            )
            == 3
        )
    finally:
        client.delete(queue)
        client.close()
    assert (
        health_report.broker_queue_length(broker_url=settings.CELERY_BROKER_URL, queue_name=queue)
        == 0
    )


def test_broker_queue_length_unreachable() -> None:
    assert health_report.broker_queue_length(broker_url="redis://127.0.0.1:1/0") is None
    assert health_report.broker_queue_length(broker_url="not a url") is None


def test_billing_health_page_with_redis_available(staff_client: Client) -> None:
    html = staff_client.get(URL).content.decode()
    assert _attr(html, "data-broker-queue").isdigit()


def test_billing_health_page_with_redis_down(
    staff_client: Client, settings: SettingsWrapper
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    _event(received_at=datetime.now(tz=UTC) - timedelta(minutes=5), status=Status.RECEIVED)
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert _attr(html, "data-broker-queue") == "unavailable"
    assert ">unavailable<" in html
    assert _attr(html, "data-unprocessed") == "1"
    assert re.search(r"data-oldest-unprocessed>5\xa0minutes<", html)


# --- Subscriptions ----------------------------------------------------------------------------


def _mrr_rows() -> None:
    user = make_user()
    give_plan(user, lookup_key="pro_monthly", unit_amount=2900)
    give_plan(user, lookup_key="pro_yearly", unit_amount=29000, interval="year")
    give_plan(user, lookup_key="starter_monthly", unit_amount=900, quantity=2)
    give_plan(user, lookup_key="starter_monthly", unit_amount=900, status="trialing")
    give_plan(user, lookup_key="pro_monthly", unit_amount=2900, status="past_due")
    give_plan(user, lookup_key="pro_monthly", unit_amount=2900, status="canceled")
    # Outside the catalog: grouped by lookup key.
    give_plan(user, lookup_key="starter_quarterly", unit_amount=9000, interval_count=3)
    give_plan(user, lookup_key="pro_weekly", unit_amount=1200, currency="eur", interval="week")
    # Live mode while the site runs in test mode: not counted anywhere.
    live = give_plan(user, lookup_key="pro_monthly", unit_amount=2900)
    Subscription.objects.filter(pk=live.pk).update(livemode=True)


def test_mrr_by_plan_hand_computed() -> None:
    _mrr_rows()
    report = health_report.mrr_by_plan()
    lines = {(line.plan_key, line.currency): line for line in report.lines}
    # Pro: 2900 (monthly) + 29000 / 12 (yearly) + 2900 (past due) = 8216.67 -> 8217.
    pro = lines[("pro", "usd")]
    assert (pro.plan_name, pro.amount, pro.past_due_amount, pro.subscriptions) == (
        "Pro",
        8217,
        2900,
        3,
    )
    # Starter: 900 x 2; the trialing subscription is excluded.
    starter = lines[("starter", "usd")]
    assert (starter.plan_name, starter.amount, starter.subscriptions) == ("Starter", 1800, 1)
    # 9000 every 3 months = 3000 a month.
    assert lines[("starter_quarterly", "usd")].amount == 3000
    # 1200 a week = 1200 x 52 / 12 = 5200 a month.
    assert lines[("pro_weekly", "eur")].amount == 5200
    assert len(lines) == 4
    # 8216.67 + 1800 + 3000 = 13016.67 -> 13017.
    assert report.totals == {"eur": 5200, "usd": 13017}
    assert report.skipped_items == 0


def test_monthly_amount_skips_metered_and_tiered() -> None:
    metered = {
        "quantity": 1,
        "price": {
            "unit_amount": 10,
            "recurring": {"interval": "month", "usage_type": "metered"},
        },
    }
    tiered = {"quantity": 1, "price": {"unit_amount": None, "recurring": {"interval": "month"}}}
    assert health_report.monthly_amount(metered) is None
    assert health_report.monthly_amount(tiered) is None


def test_subscription_status_counts() -> None:
    _mrr_rows()
    counts = health_report.subscription_status_counts()
    assert (counts.active, counts.trialing, counts.past_due) == (5, 1, 1)
    assert counts.others == {"canceled": 1}
    assert counts.other_total == 1


def test_billing_health_page_shows_mrr_and_subscriptions(staff_client: Client) -> None:
    _mrr_rows()
    html = staff_client.get(URL).content.decode()
    assert re.search(r'data-plan="pro" data-currency="usd" data-amount="8217"', html)
    assert "$82.17" in html
    assert re.search(r'data-total-currency="usd" data-amount="13017"', html)
    assert "$130.17" in html
    assert "€52" in html
    assert re.search(r'data-status="trialing">.*?>1</td>', html, re.S)
    assert "No paying subscriptions yet." not in html


def _churn_rows(now: datetime) -> None:
    ts = int(now.timestamp())
    user = make_user()

    def sub(
        status: str, created_days: int, ended_at: int | None = None, canceled_at: int | None = None
    ) -> None:
        """Times in days before ``now``."""
        give_plan(
            user,
            status=status,
            created=ts - created_days * DAY,
            ended_at=None if ended_at is None else ts - ended_at * DAY,
            canceled_at=None if canceled_at is None else ts - canceled_at * DAY,
        )

    sub("active", 60)  # base
    sub("canceled", 60, ended_at=10)  # base, churned
    sub("canceled", 90, ended_at=40)  # ended before the window: neither
    sub("canceled", 5, ended_at=1)  # started inside the window: ended, not in the base
    sub("canceled", 60, canceled_at=2)  # no ended_at: canceled_at counts; base, churned
    sub("active", 60, canceled_at=3)  # cancellation scheduled, not ended: base only
    sub("incomplete_expired", 60)  # never paid: neither
    sub("trialing", 10)  # new: neither


def test_subscription_churn_hand_computed() -> None:
    _churn_rows(NOW)
    churn = health_report.subscription_churn(now=NOW)
    assert (churn.base, churn.churned, churn.ended_in_window) == (4, 2, 3)
    assert churn.rate == 0.5


def test_billing_health_page_shows_churn(staff_client: Client) -> None:
    _churn_rows(datetime.now(tz=UTC))
    html = staff_client.get(URL).content.decode()
    assert _attr(html, "data-rate") == "50.0"
    assert re.search(r"data-base>4<", html)
    assert re.search(r"data-churned>2<", html)
    assert re.search(r"data-ended>3<", html)


# --- Disputes and refunds ------------------------------------------------------------------


def test_billing_health_page_lists_disputes_and_refunds(staff_client: Client) -> None:
    now = datetime.now(tz=UTC)
    _event(
        received_at=now - timedelta(hours=3),
        type="charge.refunded",
        payload={
            "data": {
                "object": {
                    "id": "ch_refunded1",
                    "object": "charge",
                    "amount": 2900,
                    "amount_refunded": 1000,
                    "currency": "usd",
                    "refunded": False,
                    "refunds": {"data": [{"id": "re_1", "reason": "requested_by_customer"}]},
                }
            }
        },
    )
    _event(
        received_at=now - timedelta(hours=1),
        type="charge.dispute.created",
        payload={
            "data": {
                "object": {
                    "id": "dp_1",
                    "object": "dispute",
                    "amount": 5000,
                    "currency": "usd",
                    "charge": "ch_disputed1",
                    "status": "needs_response",
                    "reason": "fraudulent",
                }
            }
        },
    )
    _event(received_at=now, type="invoice.paid")  # not a money event

    events = health_report.money_events_latest()
    assert [(e.type, e.charge_id, e.amount, e.status, e.reason) for e in events] == [
        ("charge.dispute.created", "ch_disputed1", 5000, "needs_response", "fraudulent"),
        ("charge.refunded", "ch_refunded1", 1000, "partially refunded", "requested_by_customer"),
    ]
    html = staff_client.get(URL).content.decode()
    shown = ("ch_disputed1", "$50", "fraudulent", "ch_refunded1", "$10", "requested by customer")
    for text in shown:
        assert text in html
    assert "No disputes or refunds received." not in html


# --- Query budget ----------------------------------------------------------------------------


def test_billing_health_query_budget(
    staff_client: Client,
    django_assert_num_queries: DjangoAssertNumQueries,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    """The page's queries do not grow with the data (no per-row queries)."""
    now = datetime.now(tz=UTC)
    _mrr_rows()
    _churn_rows(now)
    for i in range(30):
        _event(received_at=now - timedelta(minutes=i * 40), lag=i)
    _event(received_at=now, status=Status.FAILED, type="charge.dispute.created")
    with django_assert_num_queries(8):
        health_report.billing_health(broker_url=settings.CELERY_BROKER_URL)
    # The report's 8, session and user, and room for the site's navbar (notification bell,
    # the team switcher's current team and list), the recovered revenue (one grouped
    # query), the past-due banner's access check (cold here; none when warm) and the
    # usage card's 2 (its units, and the metered prices of the teams that have usage) and
    # the credits card's 2 (credits sold, balances held): sections registered by usage.
    with django_assert_max_num_queries(19):
        response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert_page_is_self_contained(html)
    # No inline styles either (a strict CSP blocks them): the chart is SVG attributes.
    assert " style=" not in html
    assert html.count("<rect ") >= 2
