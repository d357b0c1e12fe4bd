"""Account-side writes that are not allauth's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sites.models import Site
from django.db import connections
from django.utils import timezone

if TYPE_CHECKING:
    from .models import User


def site_sync_from_settings(*, using: str = "default") -> Site:
    """Make the ``SITE_ID`` Site row say ``SITE_NAME`` and the host of ``SITE_URL``.

    allauth puts ``current_site`` (name and domain) into its emails; Django creates
    the row as "example.com". Idempotent: an up-to-date row is not written.
    """
    domain = urlsplit(settings.SITE_URL).netloc or settings.SITE_URL
    name = settings.SITE_NAME
    site = Site.objects.using(using).filter(pk=settings.SITE_ID).first()
    if site is None:
        site = Site(pk=settings.SITE_ID, domain=domain, name=name)
        site.save(using=using)
    elif (site.domain, site.name) != (domain, name):
        site.domain, site.name = domain, name
        site.save(using=using, update_fields=["domain", "name"])
    return site


def site_sync_after_migrate(*, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: every ``migrate`` (and the test database) follows settings."""
    if Site._meta.db_table not in connections[using].introspection.table_names():
        return  # django.contrib.sites is not migrated yet (e.g. `migrate accounts`)
    site_sync_from_settings(using=using)


def onboarding_checklist_hide(*, user: User) -> None:
    """The user hid the dashboard's first-run checklist; it stays hidden (idempotent)."""
    if user.onboarding_dismissed_at is None:
        user.onboarding_dismissed_at = timezone.now()
        user.save(update_fields=["onboarding_dismissed_at"])
