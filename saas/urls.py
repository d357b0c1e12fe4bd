from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from saas import health, views

# The admin login goes through allauth: one login page, with its rate limits and MFA.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("app/", include("projects.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("subscriptions.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("stripe/", include("subscriptions.webhook_urls", namespace="djstripe")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
