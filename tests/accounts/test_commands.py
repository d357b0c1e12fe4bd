from __future__ import annotations

import io

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_ensure_dev_admin_creates_once_and_prints_password(settings: SettingsWrapper) -> None:
    settings.DEBUG = True
    out = io.StringIO()
    call_command("ensure_dev_admin", stdout=out)
    password = out.getvalue().split("password:")[1].split()[0]
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password)
    assert EmailAddress.objects.get(user=admin).verified

    again = io.StringIO()
    call_command("ensure_dev_admin", stdout=again)
    assert "already exists" in again.getvalue()
    assert User.objects.filter(is_superuser=True).count() == 1


def test_ensure_dev_admin_refuses_without_debug(settings: SettingsWrapper) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("ensure_dev_admin")
    assert not User.objects.exists()
