"""Access from the mirror, its cache, and the gating decorators, mixins and template filters."""

from __future__ import annotations

import time

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.views import View
from pytest_django.fixtures import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from subscriptions.access import access as access_module
from subscriptions.access.access import (
    _cache_key,
    _LocalCache,
    access_for,
    access_invalidate,
    access_local_clear,
    free_access,
)
from subscriptions.access.gating import (
    AccessMiddleware,
    FeatureRequiredMixin,
    feature_required,
    subscription_required,
)
from subscriptions.catalog import get_catalog
from teams.models import Team
from tests.billing_helpers import give_plan, personal_team
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@feature_required("api_access")
def _api_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("api ok")


@subscription_required
def _paid_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("paid ok")


class _ExportView(FeatureRequiredMixin, View):
    required_feature = "exports"

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("export ok")


def _request(user: object, accept: str = "text/html") -> HttpRequest:
    request = RequestFactory().get("/x", HTTP_ACCEPT=accept)
    request.user = user  # type: ignore[assignment]
    # What the team middleware gives a page: the current team (here the personal one).
    team = personal_team(user) if isinstance(user, User) else None
    request.team_current = lambda: team  # type: ignore[attr-defined]
    request.session = {}  # type: ignore[assignment]
    from django.contrib.messages.storage.fallback import FallbackStorage

    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    AccessMiddleware(lambda r: HttpResponse())(request)
    return request


def test_free_user_is_redirected_to_pricing_naming_the_plan() -> None:
    user = make_user()
    request = _request(user)
    response = _api_view(request)
    assert response.status_code == 302
    assert response["Location"] == "/pricing/"
    texts = [str(m) for m in get_messages(request)]
    assert texts == ["API access is part of the Pro plan. Upgrade to unlock it."]


def test_json_clients_get_403_with_the_plan() -> None:
    response = _api_view(_request(make_user(), accept="application/json"))
    assert response.status_code == 403
    assert b'"plan": "pro"' in response.content
    assert b'"error": "upgrade_required"' in response.content


def test_plan_features_open_views() -> None:
    user = make_user()
    give_plan(user, lookup_key="starter_monthly", status="trialing")
    assert _ExportView.as_view()(_request(user)).status_code == 200
    assert _paid_view(_request(user)).status_code == 200
    assert _api_view(_request(user)).status_code == 302  # Starter has no API access


def test_anonymous_is_sent_to_login() -> None:
    from django.contrib.auth.models import AnonymousUser

    response = _paid_view(_request(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_past_due_in_grace_keeps_access_then_loses_it(settings: SettingsWrapper) -> None:
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    user = make_user()
    now = int(time.time())
    give_plan(user, status="past_due", period_start=now - 2 * 86400)
    access = access_for(personal_team(user))
    assert access.has_access
    assert access.in_grace

    other = make_user()
    give_plan(other, status="past_due", period_start=now - 8 * 86400)
    assert not access_for(personal_team(other)).has_access
    assert access_for(personal_team(other)).plan_key == "free"


@pytest.mark.parametrize(
    "status", ["incomplete", "incomplete_expired", "unpaid", "canceled", "paused"]
)
def test_statuses_without_access_fall_back_to_free(status: str) -> None:
    user = make_user()
    give_plan(user, status=status)
    access = access_for(personal_team(user))
    assert access.plan_key == "free"
    assert access.features == frozenset(get_catalog().free_plan.features)
    assert access.quota("projects") == 1


def test_warm_cache_costs_no_query(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    user = make_user()
    give_plan(user, lookup_key="pro_monthly")
    team = personal_team(user)  # loaded by the request (the team is in the URL)
    access_for(team)  # warm
    with django_assert_num_queries(0):
        assert access_for(team).has("api_access")


def test_invalidate_recomputes(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    team = personal_team(make_user())
    assert access_for(team).plan_key == "free"
    give_plan(team, lookup_key="pro_yearly")  # invalidates, as the webhook pipeline will
    team.refresh_from_db()
    assert access_for(team).plan_key == "pro"
    version = team.billing_version
    access_invalidate(team_id=team.pk)
    team.refresh_from_db()
    assert team.billing_version == version + 1
    with CaptureQueriesContext(connection) as recompute:
        assert access_for(team).plan_key == "pro"
    assert len(recompute) > 0, "a new version must be computed from the mirror"


def test_two_layers_process_memory_then_redis(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    user = make_user()
    give_plan(user, lookup_key="starter_monthly")
    team = personal_team(user)
    key = _cache_key(team.pk, team.billing_version)
    assert cache.get(key) is None
    assert access_for(team).plan_key == "starter"
    assert cache.get(key) == access_for(team)  # shared with the other processes
    cache.clear()
    with django_assert_num_queries(0):
        assert access_for(team).plan_key == "starter"  # this process's memory
    assert cache.get(key) is None, "a memory hit must not touch Redis"
    access_local_clear()
    cache.set(key, access_for(team))  # recomputed, and shared again
    access_local_clear()
    with django_assert_num_queries(0):
        assert access_for(team).plan_key == "starter"  # from Redis, as another process would


def test_a_change_made_elsewhere_is_seen_by_the_next_request(client: Client) -> None:
    """The mirror changes and the version is bumped without this process being told
    (as by a worker); its memory still holds the old answer, but the next request
    loads the team row (its URL names it), sees the new version and recomputes."""
    user = make_user()
    team = personal_team(user)
    exports = f"/t/{team.slug}/app/exports/"
    client.force_login(user)
    assert client.get(exports).status_code == 302  # free: warms this process's memory
    subscription = give_plan(user, lookup_key="pro_monthly")
    assert client.get(exports).status_code == 200
    subscription.delete()
    # No version bump, no change: the cached answer stands (what invalidation is for).
    assert client.get(exports).status_code == 200
    Team.objects.filter(pk=team.pk).update(billing_version=F("billing_version") + 1)
    assert client.get(exports).status_code == 302


def test_an_answer_computed_before_a_change_never_serves_the_new_version() -> None:
    """The race a delete-based cache has: a request computes from the old mirror
    while a webhook commits and invalidates, then stores the old answer."""
    user = make_user()
    stale = personal_team(user)  # loaded by a request before the webhook
    give_plan(user, lookup_key="pro_monthly")  # the webhook: new mirror, new version
    assert access_for(stale).plan_key in ("free", "pro")  # whatever that request saw
    assert access_for(personal_team(user)).plan_key == "pro"


def test_local_layer_expires_and_stays_bounded() -> None:
    local = _LocalCache(max_entries=20)
    access = free_access()
    local.set((1, 0), access, ttl=0.05)
    assert local.get((1, 0)) is access
    time.sleep(0.06)
    assert local.get((1, 0)) is None
    for i in range(100):
        local.set((i, 0), access, ttl=60)
    assert len(local) <= 20
    assert local.get((99, 0)) is access, "the newest entries survive eviction"
    assert local.get((0, 0)) is None


def test_local_layer_expires_at_the_next_boundary() -> None:
    """A trial ending in two seconds is cached in memory for about two seconds, not an hour."""
    user = make_user()
    give_plan(user, lookup_key="starter_monthly", status="trialing", trial_end=int(time.time()) + 2)
    team = personal_team(user)
    assert access_for(team).status == "trialing"
    expires, _ = access_module._local._entries[(team.pk, team.billing_version)]
    assert 0 < expires - time.monotonic() <= 3.5


def test_gated_view_with_warm_cache_makes_no_access_query(client: Client) -> None:
    user = make_user()
    give_plan(user, lookup_key="pro_monthly")
    client.force_login(user)
    exports = f"/t/{personal_team(user).slug}/app/exports/"
    assert client.get(exports).status_code == 200  # warms the access cache
    with CaptureQueriesContext(connection) as queries:
        response = client.get(exports)
    assert response.status_code == 200
    access_tables = ("djstripe_", "subscriptions_")
    touched = [
        q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in access_tables)
    ]
    assert touched == []
    assert len(queries.captured_queries) >= 1  # the session, user and membership are read


def test_template_filters() -> None:
    user = make_user()
    give_plan(user, lookup_key="starter_monthly")
    template = Template(
        '{% load billing %}{% if access|has_feature:"exports" %}E{% endif %}'
        '{% if access|has_feature:"api_access" %}A{% endif %}-{{ access|quota:"projects" }}'
        '-{{ 2900|money:"usd" }}-{{ 999|money:"eur" }}-{{ 500|money:"jpy" }}'
    )
    access = access_for(personal_team(user))
    assert template.render(Context({"access": access})) == "E-5-$29-€9.99-¥500"
