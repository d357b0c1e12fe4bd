from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import Project
from tests.billing_helpers import turl
from tests.projects.helpers import change_plan, make_projects, new_user
from tests.test_templates import assert_every_input_is_labelled, assert_page_is_self_contained

pytestmark = pytest.mark.django_db


def login(client: Client, lookup_key: str | None = None, **fields: Any) -> Any:
    user = new_user(**fields)
    if lookup_key:
        change_plan(user, lookup_key)
    client.force_login(user)
    return user


def html_of(response: Any) -> str:
    return " ".join(response.content.decode().split())


@pytest.mark.parametrize(
    "name", ["app_home", "project_list", "project_create", "exports", "api_access"]
)
def test_pages_need_a_login(client: Client, name: str) -> None:
    response = client.get(turl(new_user(), name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_pages_need_a_verified_email(client: Client) -> None:
    user = new_user(verified=False)
    client.force_login(user)
    response = client.get(turl(user, "project_list"))
    assert "projects/list.html" not in [t.name for t in response.templates]
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "name", ["app_home", "project_list", "project_create", "exports", "api_access"]
)
def test_pages_render_labelled_and_self_contained(client: Client, name: str) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 2)
    response = client.get(turl(client, name))
    assert response.status_code == 200
    assert_page_is_self_contained(response.content.decode())
    assert_every_input_is_labelled(response.content.decode())


def test_dashboard_shows_plan_usage_and_links(client: Client) -> None:
    user = login(client, email="dana@example.com")
    make_projects(user, 1)
    html = html_of(client.get(turl(user, "app_home")))
    assert "dana@example.com" in html
    assert "Free" in html
    assert "1 of 1 project used" in html
    for name in ("project_list", "exports", "api_access", "billing"):
        assert f'href="{turl(client, name)}"' in html
    assert f'href="{reverse("pricing")}"' in html
    assert "Upgrade to Starter" in html


def test_dashboard_on_pro_shows_unlimited_and_open_features(client: Client) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 3)
    html = html_of(client.get(turl(user, "app_home")))
    assert "3 projects · unlimited" in html
    assert "Open exports" in html
    assert "Manage API token" in html
    assert "Upgrade your plan" not in html


def test_list_shows_usage_and_an_upgrade_button_at_quota(client: Client) -> None:
    user = login(client)
    html = html_of(client.get(turl(user, "project_list")))
    assert "0 of 1 project used" in html
    assert "No projects yet" in html
    assert f'href="{turl(user, "project_create")}"' in html

    make_projects(user, 1)
    html = html_of(client.get(turl(user, "project_list")))
    assert "1 of 1 project used" in html
    assert "Upgrade to Starter for more projects" in html
    assert f'href="{reverse("pricing")}"' in html


def test_list_on_pro_says_unlimited(client: Client) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 2)
    html = html_of(client.get(turl(user, "project_list")))
    assert "2 projects · unlimited" in html
    assert "Read-only" not in html


def test_create_within_quota_creates_the_project(client: Client) -> None:
    user = login(client, "starter_monthly")
    response = client.post(
        turl(user, "project_create"), {"name": "Launch site", "description": "Landing page"}
    )
    assert response.status_code == 302
    assert response["Location"] == turl(user, "project_list")
    project = Project.objects.get(team__personal_for=user)
    assert (project.name, project.description) == ("Launch site", "Landing page")
    assert "Launch site" in html_of(client.get(turl(user, "project_list")))


@pytest.mark.parametrize(("lookup_key", "limit"), [(None, 1), ("starter_monthly", 5)])
def test_create_past_quota_shows_the_limit_and_creates_nothing(
    client: Client, lookup_key: str | None, limit: int
) -> None:
    user = login(client, lookup_key)
    make_projects(user, limit)

    page = html_of(client.get(turl(user, "project_create")))
    assert "You have reached your project limit" in page
    assert 'name="name"' not in page

    response = client.post(turl(user, "project_create"), {"name": "One more"})
    html = html_of(response)
    assert response.status_code == 200
    assert "You have reached your project limit" in html
    assert f"includes {limit} project" in html
    assert f'href="{reverse("pricing")}">Upgrade</a>' in html
    assert Project.objects.filter(team__personal_for=user).count() == limit
    assert not Project.objects.filter(name="One more").exists()


def test_create_on_pro_is_never_limited(client: Client) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 30)
    response = client.post(turl(user, "project_create"), {"name": "Number 31"})
    assert response.status_code == 302
    assert Project.objects.filter(team__personal_for=user).count() == 31


def test_create_shows_field_errors(client: Client) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 1)
    response = client.post(turl(user, "project_create"), {"name": "project 1"})
    html = html_of(response)
    assert response.status_code == 200
    assert "This team already has a project called" in html
    assert "is-invalid" in html
    response = client.post(turl(user, "project_create"), {"name": ""})
    assert "This field is required." in html_of(response)
    assert Project.objects.filter(team__personal_for=user).count() == 1


def test_create_enforces_csrf() -> None:
    client = Client(enforce_csrf_checks=True)
    login(client)
    response = client.post(turl(client, "project_create"), {"name": "Forged"})
    assert response.status_code == 403
    assert not Project.objects.exists()

    page = client.get(turl(client, "project_create"))
    token = page.context["csrf_token"]
    response = client.post(
        turl(client, "project_create"), {"name": "Real", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    assert Project.objects.filter(name="Real").exists()


def test_downgrade_marks_extras_read_only_and_keeps_them(client: Client) -> None:
    user = login(client, "starter_monthly")
    for i in range(1, 6):
        client.post(turl(user, "project_create"), {"name": f"Project {i}"})
    assert Project.objects.filter(team__personal_for=user).count() == 5

    change_plan(user, None)

    html = html_of(client.get(turl(user, "project_list")))
    assert "5 of 1 project used" in html
    assert html.count("Read-only</span>") == 4
    assert "Some projects are read-only" in html
    assert Project.objects.filter(team__personal_for=user).count() == 5

    oldest, locked = Project.objects.filter(team__personal_for=user)[:2]
    assert client.get(turl(user, "project_edit", pk=oldest.pk)).status_code == 200
    response = client.get(turl(user, "project_edit", pk=locked.pk))
    assert response.status_code == 403
    assert "This project is read-only" in html_of(response)
    response = client.post(turl(user, "project_edit", pk=locked.pk), {"name": "Changed"})
    assert response.status_code == 403
    locked.refresh_from_db()
    assert locked.name == "Project 2"


def test_upgrade_unlocks_read_only_projects(client: Client) -> None:
    user = login(client)
    projects = make_projects(user, 3)
    assert client.get(turl(client, "project_edit", pk=projects[2].pk)).status_code == 403
    change_plan(user, "starter_monthly")
    response = client.post(turl(client, "project_edit", pk=projects[2].pk), {"name": "Unlocked"})
    assert response.status_code == 302
    projects[2].refresh_from_db()
    assert projects[2].name == "Unlocked"


def test_edit_saves_changes(client: Client) -> None:
    user = login(client)
    (project,) = make_projects(user, 1)
    page = html_of(client.get(turl(user, "project_edit", pk=project.pk)))
    assert 'value="Project 1"' in page
    response = client.post(
        turl(user, "project_edit", pk=project.pk), {"name": "Renamed", "description": "Notes"}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "Notes")


def test_delete_asks_for_confirmation_then_deletes_even_read_only(client: Client) -> None:
    user = login(client)
    _first, second = make_projects(user, 2)
    url = turl(user, "project_delete", pk=second.pk)

    page = client.get(url)
    assert page.status_code == 200
    assert "Delete “Project 2”?" in html_of(page)
    assert Project.objects.filter(pk=second.pk).exists()

    response = client.post(url)
    assert response.status_code == 302
    assert not Project.objects.filter(pk=second.pk).exists()
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Project “Project 2” deleted." in messages
    assert "1 of 1 project used" in html_of(client.get(turl(user, "project_list")))


def test_other_users_projects_are_not_found(client: Client) -> None:
    owner = new_user()
    (project,) = make_projects(owner, 1, prefix="Secret")
    login(client, "pro_monthly")
    for name in ("project_edit", "project_delete"):
        url = turl(client, name, pk=project.pk)
        assert client.get(url).status_code == 404
        assert client.post(url, {"name": "Hijacked"}).status_code == 404
    project.refresh_from_db()
    assert project.name == "Secret 1"
    assert "Secret 1" not in html_of(client.get(turl(client, "project_list")))


def test_project_list_queries_do_not_grow_with_projects(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    user = login(client, "pro_monthly")
    make_projects(user, 2)
    client.get(turl(user, "project_list"))  # warm the access cache
    with CaptureQueriesContext(connection) as few:
        client.get(turl(user, "project_list"))
    make_projects(user, 20, prefix="More")
    with django_assert_max_num_queries(9), CaptureQueriesContext(connection) as many:
        response = client.get(turl(user, "project_list"))
    assert response.status_code == 200, [q["sql"][:90] for q in many.captured_queries]
    assert len(many.captured_queries) == len(few.captured_queries)


def test_dashboard_marks_read_only_recent_projects(client: Client) -> None:
    user = login(client)
    make_projects(user, 4)
    html = html_of(client.get(turl(user, "app_home")))
    assert "4 of 1 project used" in html
    assert html.count("Read-only</span>") == 3
    assert "Project 4" in html
    assert "Project 1" not in html  # only the three most recent are listed


@pytest.mark.parametrize(
    ("lookup_key", "projects", "expected"),
    [
        (None, 0, "0 of 1 project used"),
        (None, 1, "1 of 1 project used"),
        ("starter_monthly", 1, "1 of 5 projects used"),
        ("starter_monthly", 2, "2 of 5 projects used"),
    ],
)
def test_project_usage_agrees_with_the_limit(
    client: Client, lookup_key: str | None, projects: int, expected: str
) -> None:
    user = login(client, lookup_key)
    make_projects(user, projects)
    for name in ("app_home", "project_list"):
        page = html_of(client.get(turl(client, name)))
        assert re.search(rf">\s*{expected}\s*</p>", page), name  # the meter's text
        assert f'aria-label="{expected}"' in page, name  # and its label
