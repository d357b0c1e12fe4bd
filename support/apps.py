from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    """Account and support tools.

    What a user does with the whole account (download the data, delete the account)
    and what staff do for a customer (the customer page, impersonation). It reads
    every other app, so it sits at the top of the import order, beside the project.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "support"
    verbose_name = _("Support")

    def ready(self) -> None:
        from hijack import signals

        from . import receivers

        signals.hijack_started.connect(
            receivers.on_impersonation_started, dispatch_uid="support.impersonation_started"
        )
        signals.hijack_ended.connect(
            receivers.on_impersonation_ended, dispatch_uid="support.impersonation_ended"
        )
