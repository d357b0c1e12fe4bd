"""Production settings refuse to run half-configured; Stripe keys match the mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from subscriptions.checks import stripe_key_matches_mode

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "saas.settings.production",
    "DJANGO_SECRET_KEY": "x7-" + "k2Lq9vP0s8RtY1wZ3uE6aB4nM5cD7fG8hJ0iK" * 2,
    "DJANGO_ALLOWED_HOSTS": "saas.example.com",
    "DATABASE_URL": "sqlite:////tmp/saas-prod-check.sqlite3",
    "SITE_URL": "https://saas.example.com",
    "STRIPE_SECRET_KEY": "sk_test_123456789",
    "REDIS_URL": "redis://127.0.0.1:6399/0",
}
SCRUBBED = ("DJANGO_", "DATABASE_URL", "STRIPE_", "SITE_URL", "REDIS_URL", "SENTRY_")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def without(*names: str, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in PRODUCTION_ENV.items() if k not in names}, **extra}


def test_production_refuses_to_start_without_a_stripe_key() -> None:
    """No key would mean the emulator on 127.0.0.1 with a dummy key: no money, no error."""
    result = manage("check", **without("STRIPE_SECRET_KEY"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: Production settings need STRIPE_SECRET_KEY" in result.stderr
    assert "STRIPE_EMULATOR_IN_PRODUCTION=true" in result.stderr


def test_production_refuses_the_emulator_opt_in_without_its_address() -> None:
    env = without("STRIPE_SECRET_KEY", STRIPE_EMULATOR_IN_PRODUCTION="true")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "Production settings need STRIPE_SECRET_KEY" in result.stderr


def test_production_on_the_emulator_for_staging_says_so_loudly() -> None:
    env = without(
        "STRIPE_SECRET_KEY",
        STRIPE_EMULATOR_IN_PRODUCTION="true",
        STRIPE_API_BASE="http://stripe-emulator:12111",
    )
    result = manage("check", **env)
    assert result.returncode == 0, result.stderr
    # At start-up (every process: gunicorn, the worker, beat) ...
    assert "RuntimeWarning: STRIPE_EMULATOR_IN_PRODUCTION" in result.stderr
    assert "http://stripe-emulator:12111" in result.stderr
    # ... and as a system check warning, which `check --deploy` does not let through.
    assert "(saas.W001) Billing goes to the offline Stripe emulator" in result.stderr
    deploy = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert deploy.returncode != 0
    assert "saas.W001" in deploy.stderr


@pytest.mark.parametrize(
    "site_url", [None, "http://saas.example.com", "saas.example.com", "https://"]
)
def test_production_refuses_a_site_url_that_is_not_https(site_url: str | None) -> None:
    env = without("SITE_URL") if site_url is None else without(SITE_URL=site_url)
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL must be the site's public https:// address" in (
        result.stderr
    )


def test_production_names_every_problem_at_once() -> None:
    result = manage("check", **without("DJANGO_SECRET_KEY", "STRIPE_SECRET_KEY", "SITE_URL"))
    assert result.returncode != 0
    for name in ("DJANGO_SECRET_KEY", "STRIPE_SECRET_KEY", "SITE_URL"):
        assert name in result.stderr


def test_live_key_without_live_mode_fails_system_check() -> None:
    env = {**PRODUCTION_ENV, "STRIPE_SECRET_KEY": "sk_live_abcdef"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "subscriptions.E001" in result.stderr


@pytest.mark.parametrize(
    ("key", "live", "expected"),
    [
        ("sk_test_abc", False, []),
        ("rk_test_abc", False, []),
        ("sk_live_abc", True, []),
        ("rk_live_abc", True, []),
        ("sk_live_abc", False, ["subscriptions.E001"]),
        ("rk_live_abc", False, ["subscriptions.E001"]),
        ("sk_test_abc", True, ["subscriptions.E002"]),
        ("pk_test_abc", False, ["subscriptions.E003"]),
    ],
)
def test_stripe_key_mode_check(
    settings: SettingsWrapper, key: str, live: bool, expected: list[str]
) -> None:
    settings.STRIPE_SECRET_KEY = key
    settings.STRIPE_LIVE_MODE = live
    assert [error.id for error in stripe_key_matches_mode()] == expected


def test_stripe_api_version_is_pinned() -> None:
    import stripe
    from django.conf import settings
    from djstripe.settings import djstripe_settings

    assert settings.STRIPE_API_VERSION == "2026-05-27.dahlia"
    assert djstripe_settings.STRIPE_API_VERSION == "2026-05-27.dahlia"
    assert stripe.api_version == "2026-05-27.dahlia"
