"""allauth's login rate limit counts clients, not the proxy in front of them.

Behind the TLS proxy every request comes from the proxy's address. allauth allows
10 failed logins a minute per address (ACCOUNT_RATE_LIMITS' default "login_failed"):
keyed on REMOTE_ADDR, one attacker would lock every user out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.factories import make_user
from tests.saas.test_settings import PRODUCTION_ENV, SCRUBBED

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"  # REMOTE_ADDR of every request: the TLS proxy
ATTACKER = "203.0.113.7"
USER = "198.51.100.9"


def outcome(response: _MonkeyPatchedWSGIResponse) -> str:
    """What the visitor sees after posting allauth's login form."""
    if response.status_code == 302:
        assert response["Location"] == reverse("app_home")
        return "logged in"
    assert response.status_code == 200, response.status_code
    if "Too many failed login attempts" in response.content.decode():
        return "blocked"
    return "wrong password"


def login(email: str, password: str, **headers: str) -> str:
    """Post the login form through the proxy (REMOTE_ADDR is the proxy)."""
    environ: dict[str, Any] = {"REMOTE_ADDR": PROXY, **headers}
    client = Client(**environ)
    return outcome(client.post(reverse("account_login"), {"login": email, "password": password}))


def fail_until_blocked(client_ips: list[str], header: str = "HTTP_X_FORWARDED_FOR") -> int:
    """Wrong passwords (each for another account, so only the per-client limit counts)
    until allauth refuses to check any more; how many were let through."""
    for attempt, client_ip in enumerate(client_ips):
        seen = login(f"victim{attempt}@example.com", "wrong password", **{header: client_ip})
        if seen == "blocked":
            return attempt
        assert seen == "wrong password"
    pytest.fail(f"{len(client_ips)} failed logins were never rate limited")


def client_ip_settings(**environment: str) -> tuple[int, str | None]:
    """ALLAUTH_TRUSTED_PROXY_COUNT and ALLAUTH_TRUSTED_CLIENT_IP_HEADER as production
    settings read them from this environment (in a fresh interpreter)."""
    probe = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.ALLAUTH_TRUSTED_PROXY_COUNT, s.ALLAUTH_TRUSTED_CLIENT_IP_HEADER]))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith((*SCRUBBED, "ALLAUTH_"))}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env={**base, **PRODUCTION_ENV, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    count, header = json.loads(result.stdout.strip().splitlines()[-1])
    return count, header


def configure_from_environment(settings: SettingsWrapper, **environment: str) -> None:
    count, header = client_ip_settings(**environment)
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = count
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = header


def test_one_client_behind_the_proxy_does_not_lock_out_another(
    settings: SettingsWrapper,
) -> None:
    configure_from_environment(settings, ALLAUTH_TRUSTED_PROXY_COUNT="1")
    user = make_user(email="dana@example.com")

    assert fail_until_blocked([ATTACKER] * 30) == 10
    assert login(user.email, PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER) == "blocked"
    # The proxy appends the address it saw to whatever the client sent: the
    # attacker cannot forge his way out, and the user gets in.
    assert login(user.email, PASSWORD, HTTP_X_FORWARDED_FOR=f"{USER}, {ATTACKER}") == "blocked"
    assert login(user.email, PASSWORD, HTTP_X_FORWARDED_FOR=f"{ATTACKER}, {USER}") == "logged in"


def test_forged_x_forwarded_for_is_ignored_without_a_trusted_proxy(
    settings: SettingsWrapper,
) -> None:
    configure_from_environment(settings)  # neither variable set
    assert (settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER) == (
        0,
        None,
    )
    user = make_user(email="lee@example.com")
    # A new made-up address on every attempt buys no new attempts...
    assert fail_until_blocked([f"192.0.2.{n}" for n in range(1, 31)]) == 10
    # ... and the address is REMOTE_ADDR, whatever the header says.
    assert login(user.email, PASSWORD, HTTP_X_FORWARDED_FOR=USER) == "blocked"


def test_trusted_client_ip_header_names_the_client(settings: SettingsWrapper) -> None:
    configure_from_environment(settings, ALLAUTH_TRUSTED_CLIENT_IP_HEADER="X-Real-IP")
    user = make_user(email="sam@example.com")

    assert fail_until_blocked([ATTACKER] * 30, header="HTTP_X_REAL_IP") == 10
    assert login(user.email, PASSWORD, HTTP_X_REAL_IP=ATTACKER) == "blocked"
    assert login(user.email, PASSWORD, HTTP_X_REAL_IP=USER) == "logged in"
