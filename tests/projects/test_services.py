from __future__ import annotations

import hashlib

import pytest

from projects import selectors, services
from projects.models import ApiToken, Project
from subscriptions.access.access import access_for
from tests.billing_helpers import personal_team
from tests.projects.helpers import change_plan, make_projects, new_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("lookup_key", "limit"), [(None, 1), ("starter_monthly", 5), ("starter_yearly", 5)]
)
def test_project_create_stops_at_the_plan_quota(lookup_key: str | None, limit: int) -> None:
    user = new_user()
    access = change_plan(user, lookup_key)
    for i in range(limit):
        services.project_create(team=personal_team(user), user=user, access=access, name=f"P{i}")
    with pytest.raises(services.QuotaExceeded) as excinfo:
        services.project_create(
            team=personal_team(user), user=user, access=access, name="One too many"
        )
    assert excinfo.value.limit == limit
    assert excinfo.value.used == limit
    assert Project.objects.filter(team__personal_for=user).count() == limit
    assert not Project.objects.filter(name="One too many").exists()


def test_project_create_is_unlimited_on_pro() -> None:
    user = new_user()
    access = change_plan(user, "pro_monthly")
    for i in range(25):
        services.project_create(team=personal_team(user), user=user, access=access, name=f"P{i}")
    assert Project.objects.filter(team__personal_for=user).count() == 25


def test_quota_exceeded_message_names_plan_and_limit() -> None:
    user = new_user()
    access = access_for(personal_team(user))
    services.project_create(team=personal_team(user), user=user, access=access, name="First")
    with pytest.raises(
        services.QuotaExceeded, match=r"^Your Free plan includes 1 project and you have 1\.$"
    ):
        services.project_create(team=personal_team(user), user=user, access=access, name="Second")
    many = services.QuotaExceeded(limit=5, used=5, plan_name="Starter")
    assert str(many) == "Your Starter plan includes 5 projects and you have 5."


def test_project_create_refuses_a_name_the_user_already_has_in_any_case() -> None:
    user, other = new_user(), new_user()
    access = change_plan(user, "pro_monthly")
    services.project_create(team=personal_team(user), user=user, access=access, name="Website")
    with pytest.raises(services.ProjectNameTaken):
        services.project_create(
            team=personal_team(user), user=user, access=access, name="  website "
        )
    # Names are per user.
    services.project_create(
        team=personal_team(other),
        user=other,
        access=access_for(personal_team(other)),
        name="Website",
    )
    assert Project.objects.filter(name__iexact="website").count() == 2


def test_downgrade_makes_projects_beyond_the_quota_read_only_and_deletes_nothing() -> None:
    user = new_user()
    access = change_plan(user, "starter_monthly")
    projects = [
        services.project_create(team=personal_team(user), user=user, access=access, name=f"P{i}")
        for i in range(5)
    ]

    free = change_plan(user, None)

    assert Project.objects.filter(team__personal_for=user).count() == 5
    assert selectors.project_editable_ids(team=personal_team(user), access=free) == {projects[0].pk}
    usage = selectors.project_usage(team=personal_team(user), access=free)
    assert (usage.used, usage.limit, usage.locked, usage.over_limit) == (5, 1, 4, True)
    with pytest.raises(services.QuotaExceeded):
        services.project_create(team=personal_team(user), user=user, access=free, name="New")


def test_editable_projects_are_the_oldest_within_quota_and_follow_deletes() -> None:
    user = new_user()
    projects = make_projects(user, 7)
    starter = change_plan(user, "starter_monthly")
    assert selectors.project_editable_ids(team=personal_team(user), access=starter) == {
        p.pk for p in projects[:5]
    }

    # Deleting an editable project lets the next oldest one be edited.
    services.project_delete(project=projects[0])
    assert selectors.project_editable_ids(team=personal_team(user), access=starter) == {
        p.pk for p in projects[1:6]
    }

    # Upgrading unlocks everything.
    pro = change_plan(user, "pro_monthly")
    assert selectors.project_editable_ids(team=personal_team(user), access=pro) == {
        p.pk for p in projects[1:]
    }


def test_project_update_refuses_a_read_only_project() -> None:
    user = new_user()
    first, second = make_projects(user, 2)
    free = change_plan(user, None)
    with pytest.raises(services.ProjectLocked):
        services.project_update(project=second, access=free, name="Renamed", description="")
    second.refresh_from_db()
    assert second.name == "Project 2"

    services.project_update(project=first, access=free, name="Renamed", description="New")
    first.refresh_from_db()
    assert (first.name, first.description) == ("Renamed", "New")


def test_project_update_refuses_a_name_taken_by_another_project() -> None:
    user = new_user()
    first, _second = make_projects(user, 2)
    pro = change_plan(user, "pro_monthly")
    with pytest.raises(services.ProjectNameTaken):
        services.project_update(project=first, access=pro, name="PROJECT 2", description="")
    # Keeping its own name (in another case) is fine.
    services.project_update(project=first, access=pro, name="project 1", description="")


def test_project_delete_works_on_a_read_only_project() -> None:
    user = new_user()
    _first, second, third = make_projects(user, 3)
    free = change_plan(user, None)
    assert second.pk not in selectors.project_editable_ids(team=personal_team(user), access=free)
    services.project_delete(project=second)
    assert list(Project.objects.filter(team__personal_for=user).values_list("name", flat=True)) == [
        "Project 1",
        "Project 3",
    ]
    assert third.pk not in selectors.project_editable_ids(team=personal_team(user), access=free)


def test_api_token_stores_only_a_hash_and_replaces_the_previous_one() -> None:
    user = new_user()
    first = services.api_token_generate(team=personal_team(user), user=user)
    second = services.api_token_generate(team=personal_team(user), user=user)

    token = ApiToken.objects.get(team__personal_for=user)
    assert token.pk == second.token.pk
    assert token.key_hash == hashlib.sha256(second.secret.encode()).hexdigest()
    assert second.secret.startswith(token.prefix)
    stored = " ".join(str(v) for v in ApiToken.objects.values_list().get())
    assert second.secret not in stored
    assert services.api_token_authenticate(secret=first.secret) is None
    assert services.api_token_authenticate(secret=second.secret) == token


def test_api_token_authenticate_notes_last_use_and_ignores_inactive_owners() -> None:
    user = new_user()
    issued = services.api_token_generate(team=personal_team(user), user=user)
    assert issued.token.last_used_at is None
    services.api_token_authenticate(secret=issued.secret)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None

    user.is_active = False
    user.save(update_fields=["is_active"])
    assert services.api_token_authenticate(secret=issued.secret) is None
    assert services.api_token_authenticate(secret="saas_pat_not-a-token") is None
    assert services.api_token_authenticate(secret="") is None
