from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from projects.exports import csv_safe
from projects.models import Project
from tests.billing_helpers import personal_team, turl
from tests.projects.helpers import change_plan, make_projects, new_user

pytestmark = pytest.mark.django_db


def login(client: Client, lookup_key: str | None = None) -> Any:
    user = new_user()
    if lookup_key:
        change_plan(user, lookup_key)
    client.force_login(user)
    return user


@pytest.mark.parametrize("name", ["exports", "export_projects_csv"])
def test_free_users_are_sent_to_pricing_with_the_plan_to_choose(client: Client, name: str) -> None:
    login(client)
    response = client.get(turl(client, name))
    assert response.status_code == 302
    assert response["Location"] == reverse("pricing")
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("the Starter plan" in text for text in texts), texts


def test_json_clients_get_403_naming_the_plan(client: Client) -> None:
    login(client)
    response = client.get(turl(client, "export_projects_csv"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "upgrade_required"
    assert body["plan"] == "starter"
    assert "Starter" in body["message"]


def test_exports_page_links_to_the_download(client: Client) -> None:
    user = login(client, "starter_monthly")
    make_projects(user, 2)
    response = client.get(turl(user, "exports"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{turl(user, "export_projects_csv")}"' in html
    assert "2 projects" in html


def test_csv_download_lists_only_your_projects(client: Client) -> None:
    user = login(client, "pro_monthly")
    Project.objects.create(
        team=personal_team(user), created_by=user, name="Alpha", description="First, with a comma"
    )
    Project.objects.create(
        team=personal_team(user), created_by=user, name="Beta", description='Quote " and\nnewline'
    )
    Project.objects.create(team=personal_team(new_user()), name="Someone else's")

    response = client.get(turl(user, "export_projects_csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="projects.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["id", "name", "description", "created_at", "updated_at", "read_only"]
    assert [(r[1], r[2], r[5]) for r in rows[1:]] == [
        ("Alpha", "First, with a comma", "no"),
        ("Beta", 'Quote " and\nnewline', "no"),
    ]


def test_csv_download_marks_read_only_projects(client: Client) -> None:
    user = login(client, "starter_monthly")
    make_projects(user, 7)
    response = client.get(turl(user, "export_projects_csv"))
    rows = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert [r[5] for r in rows] == ["no"] * 5 + ["yes"] * 2


def test_csv_download_neutralises_formulas(client: Client) -> None:
    user = login(client, "starter_monthly")
    for name in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"):
        Project.objects.create(
            team=personal_team(user), created_by=user, name=name, description="=cmd|' /C calc'!A0"
        )
    response = client.get(turl(user, "export_projects_csv"))
    rows = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert [r[1] for r in rows] == ['\'=HYPERLINK("http://x")', "'+1", "'-2+3", "'@SUM(A1)"]
    assert {r[2] for r in rows} == {"'=cmd|' /C calc'!A0"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@a", "'@a"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_safe(value: str, expected: str) -> None:
    assert csv_safe(value) == expected
