from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

import projects.urls
import subscriptions.urls
from saas import health, views

# The admin login goes through allauth: one login page, with its rate limits and MFA.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]


def _legacy(prefix: str, routes: list[tuple[str, str]]) -> list[URLPattern]:
    """Team-less URLs from before teams, named as the team pages they redirect to."""
    return [
        path(f"{prefix}{route}", views.current_team_redirect, {"to": name}, name=name)
        for route, name in routes
    ]


urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    # A team's pages: the team middleware answers 404 to anyone who is not a member.
    path("t/<slug:team_slug>/", include("teams.team_urls")),
    path("t/<slug:team_slug>/", include(subscriptions.urls.team_urlpatterns)),
    path("t/<slug:team_slug>/app/", include(projects.urls.urlpatterns)),
    path("t/<slug:team_slug>/usage/", include("usage.urls")),
    path("t/<slug:team_slug>/credits/", include("usage.credit_urls")),
    path("app/", include(projects.urls.api_urlpatterns)),
    path("teams/", include("teams.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("subscriptions.urls")),
    *_legacy("", subscriptions.urls.legacy_routes),
    *_legacy("app/", projects.urls.legacy_routes),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("support.account_urls")),
    path("accounts/", include("allauth.urls")),
    path("staff/", include("support.staff_urls")),
    # django-hijack's start/stop (POST + CSRF); who may is support.permissions.
    path("hijack/", include("hijack.urls")),
    path("admin/", admin.site.urls),
    path("stripe/", include("subscriptions.webhooks.urls", namespace="djstripe")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
