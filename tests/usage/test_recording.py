"""Recording usage, hard limits on the API and on exports, the usage page, notifications."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from teams.models import Team
from tests.billing_helpers import personal_team, turl
from tests.factories import make_user
from tests.test_templates import assert_page_is_self_contained
from usage import selectors, services
from usage.models import UsageBucket

from .helpers import give_metered_plan

pytestmark = pytest.mark.django_db


def _team(user: Any) -> Team:
    return personal_team(user)


def test_usage_record_counts_per_minute_bucket() -> None:
    team = _team(make_user())
    now = timezone.now()
    services.usage_record(team, "api_calls", 2, at=now)
    services.usage_record(team, "api_calls", 3, at=now)
    services.usage_record(team.pk, "api_calls", 1, at=now - timedelta(minutes=1))
    services.usage_record(team, "exports", 1, at=now)
    buckets = UsageBucket.objects.filter(team=team, meter="api_calls").order_by("minute")
    assert [b.units for b in buckets] == [1, 5]
    assert all(b.dirty and b.reported_units == 0 for b in buckets)
    assert selectors.usage_totals(team_id=team.pk, since=now - timedelta(hours=1)) == {
        "api_calls": 6,
        "exports": 1,
    }


def test_usage_record_refuses_bad_input_and_keeps_the_rest() -> None:
    team = _team(make_user())
    services.usage_record(team, "api_calls", 4)
    with pytest.raises(services.UnknownMeter):
        services.usage_record(team, "gpu_seconds", 1)
    with pytest.raises(ValueError, match="positive"):
        services.usage_record(team, "api_calls", 0)
    assert UsageBucket.objects.get(team=team).units == 4


def _api_secret(client: Client) -> str:
    response = client.post(turl(client, "api_access"), {"action": "generate"})
    assert response.status_code == 200
    return str(response.context["new_secret"])


def test_api_call_is_recorded_and_refused_past_the_hard_limit(client: Client) -> None:
    user = make_user()
    give_metered_plan(user, "pro_monthly")
    client.force_login(user)
    secret = _api_secret(client)
    team = _team(user)
    # Pro's hard ceiling is 1,000,000 calls a period: all but one are used.
    services.usage_record(team, "api_calls", 999_999, at=timezone.now() - timedelta(minutes=5))
    api = Client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert api.get("/app/api/v1/projects", headers=auth).status_code == 200
    refused = api.get("/app/api/v1/projects", headers=auth)
    assert refused.status_code == 429
    body = json.loads(refused.content)
    assert body["error"] == "usage_limit_reached"
    assert body["limit"] == 1_000_000
    assert "1,000,000 API calls per billing period" in body["message"]
    # The refused call was not counted.
    since = timezone.now() - timedelta(hours=1)
    assert selectors.usage_total(team_id=team.pk, meter="api_calls", since=since) == 1_000_000


def test_api_call_of_another_plan_is_not_metered(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    give_metered_plan(user, "starter_monthly")
    response = Client().get("/app/api/v1/projects", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert not UsageBucket.objects.exists()


def test_export_is_recorded_and_refused_with_a_message_past_the_limit(client: Client) -> None:
    user = make_user()
    give_metered_plan(user, "starter_monthly")
    client.force_login(user)
    team = _team(user)
    services.usage_record(team, "exports", 99, at=timezone.now() - timedelta(minutes=3))
    first = client.get(turl(client, "export_projects_csv"))
    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/csv")
    refused = client.get(turl(client, "export_projects_csv"))
    assert refused.status_code == 302
    assert refused["Location"] == turl(client, "exports")
    texts = [str(m) for m in get_messages(refused.wsgi_request)]
    assert any("100 CSV exports per billing period" in t for t in texts), texts
    since = timezone.now() - timedelta(hours=1)
    assert selectors.usage_total(team_id=team.pk, meter="exports", since=since) == 100


def test_usage_page_shows_usage_included_overage_and_chart(client: Client, settings: Any) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # Stripe unreachable: no projection
    user = make_user()
    give_metered_plan(user, "pro_monthly")
    client.force_login(user)
    team = _team(user)
    services.usage_record(team, "api_calls", 12_500, at=timezone.now() - timedelta(minutes=2))
    response = client.get(turl(client, "usage"))
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert 'data-meter="api_calls" data-used="12500"' in html
    assert "10,000" in html  # included
    # 2,500 calls past the included 10,000 at $2 per 1,000.
    overage = html.split("data-usage-overage>", 1)[1].split("</dd>", 1)[0]
    assert overage.strip() == "2,500 units past the included ones: $5", overage
    assert '<svg class="usage-chart"' in html
    assert_page_is_self_contained(response.content.decode())  # strict CSP, no CDN
    assert "<script" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "data-preview-unavailable" in html


def test_usage_page_is_the_teams_own(client: Client) -> None:
    owner, stranger = make_user(), make_user()
    client.force_login(stranger)
    assert client.get(f"/t/{_team(owner).slug}/usage/").status_code == 404
    anonymous = Client().get(f"/t/{_team(owner).slug}/usage/")
    assert anonymous.status_code == 302


def test_thresholds_notify_billing_members_once_per_period() -> None:
    user = make_user()
    give_metered_plan(user, "pro_monthly")
    team = _team(user)
    services.usage_record(team, "api_calls", 8_000, at=timezone.now() - timedelta(minutes=2))
    assert services.usage_thresholds_check(team_ids={team.pk}) == 1
    services.usage_record(team, "api_calls", 2_000, at=timezone.now() - timedelta(minutes=2))
    services.usage_thresholds_check(team_ids={team.pk})
    services.usage_thresholds_check(team_ids={team.pk})
    notes = Notification.objects.filter(user=user, kind=Notification.Kind.USAGE_THRESHOLD)
    assert sorted(n.data["percent"] for n in notes) == [80, 100]
    assert all(n.link.endswith(f"/t/{team.slug}/usage/") for n in notes)
    hundred = notes.get(data__percent=100)
    assert "billed on your next invoice" in hundred.body
    # The cache that spares repeated signals is gone: the constraint still says once.
    from django.core.cache import cache

    cache.clear()
    services.usage_thresholds_check(team_ids={team.pk})
    assert notes.count() == 2


def test_usage_page_of_a_pay_as_you_go_meter(client: Client, settings: Any) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    user = make_user()
    give_metered_plan(user, "starter_monthly")
    client.force_login(user)
    services.usage_record(_team(user), "exports", 3, at=timezone.now() - timedelta(minutes=2))
    html = " ".join(client.get(turl(client, "usage")).content.decode().split())
    overage = html.split("data-usage-overage>", 1)[1].split("</dd>", 1)[0]
    assert overage.strip() == "3 units: $0.15"  # 5 cents each
    assert "100 (refused past it)" in html
    assert 'max="100" value="3"' in html


def test_billing_health_shows_usage_and_its_charges(client: Client) -> None:
    staff = make_user(is_staff=True)
    pro = make_user()
    give_metered_plan(pro, "pro_monthly")
    services.usage_record(_team(pro), "api_calls", 11_000, at=timezone.now() - timedelta(minutes=2))
    client.force_login(staff)
    response = client.get("/staff/billing-health/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-meter="api_calls" data-units="11000"' in html
    assert 'data-usage-overage="200"' in html  # 1,000 calls past 10,000 at $2 per 1,000
