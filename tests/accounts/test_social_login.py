"""Social login through allauth's GitHub provider, against a local fake GitHub.

The whole OAuth flow runs: the login POST redirects to the provider with a
state, the callback exchanges the code for a token over HTTP and reads the
profile and emails over HTTP; only the addresses point at a server in the test
(no internet). The signup it makes is an ordinary one: a verified email and a
personal team.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from accounts.models import User
from saas.settings.social import social_provider_apps, social_provider_settings
from teams.models import Team
from tests.factories import make_user

pytestmark = pytest.mark.django_db

GITHUB_USER = {"id": 4242, "login": "octo", "name": "Octo Cat", "email": None}
GITHUB_EMAILS = [
    {"email": "octo@example.test", "primary": True, "verified": True},
    {"email": "octo-old@example.test", "primary": False, "verified": False},
]


class _FakeGitHub(BaseHTTPRequestHandler):
    tokens_issued: list[dict[str, list[str]]] = []

    def _json(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # the code-for-token exchange
        length = int(self.headers.get("Content-Length", 0))
        self.tokens_issued.append(parse_qs(self.rfile.read(length).decode()))
        self._json({"access_token": "gho_fake", "token_type": "bearer", "scope": "user:email"})

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "token gho_fake":
            self.send_response(401)
            self.end_headers()
        elif self.path == "/user/emails":
            self._json(GITHUB_EMAILS)
        else:
            self._json(GITHUB_USER)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """GitHub login configured, with GitHub's addresses pointing at a local fake."""
    settings.SOCIALACCOUNT_PROVIDERS = social_provider_settings(
        ["github"], {"SOCIAL_GITHUB_CLIENT_ID": "cid", "SOCIAL_GITHUB_SECRET": "shh"}.__getitem__
    )
    _FakeGitHub.tokens_issued = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(GitHubOAuth2Adapter, "access_token_url", f"{url}/login/oauth/access_token")
    monkeypatch.setattr(GitHubOAuth2Adapter, "profile_url", f"{url}/user")
    monkeypatch.setattr(GitHubOAuth2Adapter, "emails_url", f"{url}/user/emails")
    yield url
    server.shutdown()


def _authorize(client: Client) -> str:
    """Start the login as the button does (a POST); the state GitHub would send back."""
    response = client.post("/accounts/github/login/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("github.com", "/login/oauth/authorize")
    query = parse_qs(target.query)
    assert query["client_id"] == ["cid"]
    return query["state"][0]


def test_the_login_page_offers_github_only_when_configured(client: Client, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "/accounts/github/login/" not in client.get("/accounts/login/").content.decode()
    settings.SOCIALACCOUNT_PROVIDERS = social_provider_settings(
        ["github"], {"SOCIAL_GITHUB_CLIENT_ID": "c", "SOCIAL_GITHUB_SECRET": "s"}.__getitem__
    )
    assert "/accounts/github/login/" in client.get("/accounts/login/").content.decode()


def test_signing_up_with_github_makes_a_verified_account_with_its_personal_team(
    client: Client, github: str
) -> None:
    state = _authorize(client)
    response = client.get("/accounts/github/login/callback/", {"code": "c0de", "state": state})
    assert response.status_code == 302, response.content.decode()[:500]
    assert _FakeGitHub.tokens_issued[0]["code"] == ["c0de"]
    assert _FakeGitHub.tokens_issued[0]["client_secret"] == ["shh"]

    user = User.objects.get(email="octo@example.test")
    assert SocialAccount.objects.get(user=user).uid == "4242"
    assert EmailAddress.objects.get(user=user, email="octo@example.test").verified
    assert Team.objects.filter(personal_for=user).exists()
    # Signed in, and the dashboard opens without an email confirmation step.
    assert client.get(response["Location"], follow=True).context["user"] == user


def test_a_forged_state_signs_nobody_in(client: Client, github: str) -> None:
    _authorize(client)
    response = client.get("/accounts/github/login/callback/", {"code": "c0de", "state": "forged"})
    assert response.status_code == 401  # allauth's "login failed" page
    assert not User.objects.filter(email="octo@example.test").exists()
    assert _FakeGitHub.tokens_issued == []  # the code was never exchanged


def test_github_never_takes_over_an_existing_account_by_email(client: Client, github: str) -> None:
    owner = make_user(email="octo@example.test")
    state = _authorize(client)
    response = client.get(
        "/accounts/github/login/callback/", {"code": "c0de", "state": state}, follow=True
    )
    assert response.context["user"] != owner
    assert not SocialAccount.objects.filter(user=owner).exists()
    assert User.objects.filter(email="octo@example.test").count() == 1


def test_the_environment_names_providers_and_their_credentials() -> None:
    assert social_provider_apps(["github", "google"]) == [
        "allauth.socialaccount.providers.github",
        "allauth.socialaccount.providers.google",
    ]
    with pytest.raises(ImproperlyConfigured, match="not an allauth provider"):
        social_provider_apps(["myspace"])
    with pytest.raises(ImproperlyConfigured, match="not an allauth provider"):
        social_provider_apps(["../etc"])
    credentials = {"SOCIAL_GOOGLE_CLIENT_ID": "x", "SOCIAL_GOOGLE_SECRET": ""}
    with pytest.raises(ImproperlyConfigured, match="needs SOCIAL_GOOGLE_CLIENT_ID and SOCIAL_GO"):
        social_provider_settings(["google"], credentials.__getitem__)
