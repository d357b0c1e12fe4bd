from __future__ import annotations

from django.urls import path

from . import views

# Mounted under /accounts/ beside allauth's own pages.
urlpatterns = [
    path("profile/", views.profile, name="account_profile"),
]
