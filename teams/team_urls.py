"""A team's own pages, mounted under /t/<slug:team_slug>/ (members only: 404 otherwise)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("settings/", views.team_settings, name="team_settings"),
    path("settings/update/", views.team_update, name="team_update"),
    path("settings/leave/", views.team_leave, name="team_leave"),
    path("settings/transfer/", views.team_transfer, name="team_transfer"),
    path("settings/delete/", views.team_delete, name="team_delete"),
    path("members/<int:pk>/role/", views.member_role, name="team_member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="team_member_remove"),
    path("invitations/", views.invitation_create, name="team_invitation_create"),
    path("invitations/<int:pk>/resend/", views.invitation_resend, name="team_invitation_resend"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="team_invitation_revoke"),
]
