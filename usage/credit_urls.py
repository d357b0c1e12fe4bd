"""The team's credits page, mounted under /t/<slug:team_slug>/credits/ by saas/urls.py."""

from __future__ import annotations

from django.urls import path

from . import views_credits

urlpatterns = [
    path("", views_credits.credits_page, name="credits"),
    path("buy/", views_credits.credits_buy, name="credits_buy"),
]
