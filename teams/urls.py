from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.team_list, name="team_list"),
    path("invitations/<str:token>/", views.invitation, name="team_invitation"),
]
