from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from projects.models import ApiToken
from tests.billing_helpers import turl
from tests.projects.helpers import change_plan, make_projects, new_user

pytestmark = pytest.mark.django_db


def login(client: Client, lookup_key: str | None = None) -> Any:
    user = new_user()
    if lookup_key:
        change_plan(user, lookup_key)
    client.force_login(user)
    return user


def generate(client: Client) -> str:
    response = client.post(turl(client, "api_access"), {"action": "generate"})
    assert response.status_code == 200
    secret: str = response.context["new_secret"]
    return secret


@pytest.mark.parametrize("lookup_key", [None, "starter_monthly"])
def test_api_page_needs_pro(client: Client, lookup_key: str | None) -> None:
    login(client, lookup_key)
    response = client.get(turl(client, "api_access"))
    assert response.status_code == 302
    assert response["Location"] == reverse("pricing")
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("the Pro plan" in text for text in texts), texts
    assert client.post(turl(client, "api_access"), {"action": "generate"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_api_page_json_denial_is_403(client: Client) -> None:
    login(client, "starter_monthly")
    response = client.get(turl(client, "api_access"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["plan"] == "pro"


def test_token_is_shown_once_and_only_its_hash_is_stored(client: Client) -> None:
    user = login(client, "pro_monthly")
    page = client.get(turl(user, "api_access"))
    assert page.status_code == 200
    assert "Generate API token" in page.content.decode()

    response = client.post(turl(user, "api_access"), {"action": "generate"})
    secret = response.context["new_secret"]
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    token = ApiToken.objects.get(team__personal_for=user)
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in " ".join(str(v) for v in ApiToken.objects.values_list().get())

    again = client.get(turl(user, "api_access")).content.decode()
    assert secret not in again
    assert token.prefix in again
    assert "Revoke token" in again


def test_bearer_token_lists_your_projects(client: Client) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 2)
    make_projects(new_user(), 1, prefix="Other")
    secret = generate(client)

    api = Client()
    response = api.get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200
    body = response.json()
    assert [p["name"] for p in body["projects"]] == ["Project 1", "Project 2"]
    assert body["usage"] == {"used": 2, "limit": None}
    assert all(p["read_only"] is False for p in body["projects"])
    assert ApiToken.objects.get(team__personal_for=user).last_used_at is not None


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer saas_pat_wrong", "Basic dXNlcjpwYXNz", "Token abc"]
)
def test_api_refuses_missing_or_wrong_tokens(client: Client, header: str | None) -> None:
    login(client, "pro_monthly")
    generate(client)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get(reverse("api_projects"), **extra)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_api_answers_403_after_a_downgrade(client: Client) -> None:
    user = login(client, "pro_monthly")
    secret = generate(client)
    change_plan(user, "starter_monthly")
    response = Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    body = response.json()
    assert (body["error"], body["plan"]) == ("upgrade_required", "pro")
    assert "Pro" in body["message"]


def test_revoked_token_stops_working(client: Client) -> None:
    login(client, "pro_monthly")
    secret = generate(client)
    response = client.post(turl(client, "api_access"), {"action": "revoke"})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert "The team's API token was revoked." in [
        str(m) for m in get_messages(response.wsgi_request)
    ]
    api = Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 401


def test_regenerating_replaces_the_old_token(client: Client) -> None:
    login(client, "pro_monthly")
    old = generate(client)
    new = generate(client)
    assert old != new
    assert ApiToken.objects.count() == 1
    assert (
        Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    )
    assert (
        Client().get(reverse("api_projects"), HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200
    )


def test_api_page_enforces_csrf() -> None:
    client = Client(enforce_csrf_checks=True)
    login(client, "pro_monthly")
    assert client.post(turl(client, "api_access"), {"action": "generate"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_unknown_action_is_a_bad_request(client: Client) -> None:
    login(client, "pro_monthly")
    assert client.post(turl(client, "api_access"), {"action": "explode"}).status_code == 400
