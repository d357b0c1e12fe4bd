"""The Site row allauth reads (``current_site``) follows SITE_URL and SITE_NAME."""

from __future__ import annotations

import pytest
from django.contrib.sites.models import Site
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.services import site_sync_from_settings

pytestmark = pytest.mark.django_db


def test_site_row_follows_settings_after_migrate(settings: SettingsWrapper) -> None:
    # The test database was built by `migrate`: the post_migrate step already ran.
    site = Site.objects.get_current()
    assert site.domain == "127.0.0.1:8000"
    assert site.name == settings.SITE_NAME
    assert "example.com" not in (site.domain, site.name)


def test_site_sync_from_settings_updates_and_is_idempotent(settings: SettingsWrapper) -> None:
    Site.objects.filter(pk=settings.SITE_ID).update(domain="example.com", name="example.com")
    settings.SITE_URL = "https://app.example.org"
    settings.SITE_NAME = "Renamed"

    site_sync_from_settings()
    site = Site.objects.get(pk=settings.SITE_ID)
    assert (site.domain, site.name) == ("app.example.org", "Renamed")
    # get_current() is cached per SITE_ID; saving the row clears that cache.
    assert Site.objects.get_current().name == "Renamed"

    with CaptureQueriesContext(connection) as queries:
        site_sync_from_settings()
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert Site.objects.count() == 1


def test_site_sync_creates_a_missing_row(settings: SettingsWrapper) -> None:
    Site.objects.all().delete()
    site_sync_from_settings()
    site = Site.objects.get(pk=settings.SITE_ID)
    assert (site.domain, site.name) == ("127.0.0.1:8000", settings.SITE_NAME)


def test_migrate_again_resets_a_stale_site_row(settings: SettingsWrapper) -> None:
    Site.objects.filter(pk=settings.SITE_ID).update(domain="example.com", name="example.com")
    call_command("migrate", verbosity=0)
    site = Site.objects.get(pk=settings.SITE_ID)
    assert (site.domain, site.name) == ("127.0.0.1:8000", settings.SITE_NAME)
