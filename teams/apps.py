from __future__ import annotations

from django.apps import AppConfig


class TeamsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        from allauth.account.signals import email_confirmed, user_signed_up

        from . import receivers

        user_signed_up.connect(receivers.on_user_signed_up, dispatch_uid="teams_personal_team")
        email_confirmed.connect(
            receivers.on_email_confirmed, dispatch_uid="teams_invitation_after_verification"
        )
