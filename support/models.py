"""The impersonation audit trail: who worked as whom, from when to when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Impersonation(models.Model):
    # The users may be deleted later; their emails at the time keep the record readable.
    hijacker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("staff member"),
    )
    hijacker_email = models.EmailField(_("staff member's email"))
    hijacked = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("impersonated user"),
    )
    hijacked_email = models.EmailField(_("impersonated user's email"))
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    # Empty while the session goes on (or if it ended by logging out or expiring).
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("impersonation")
        ordering = ["-started_at", "-id"]
        # Superusers may always impersonate; anyone else needs this permission.
        permissions = [("impersonate_user", _("Can impersonate users (support)"))]

    def __str__(self) -> str:
        return f"{self.hijacker_email} as {self.hijacked_email}"
