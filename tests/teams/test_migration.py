"""The upgrade of a database made before teams: ``python manage.py migrate`` is enough.

A database is built the old way (``legacy_db.py``: dj-stripe's first migration with the
user as the subscriber, a customer and a trialing subscription created through the
emulator and mirrored by dj-stripe, a project, an API token and a notification). Then
the project's ``migrate`` runs as a kit user would run it, on SQLite and on PostgreSQL
(when one listens on 127.0.0.1:5432), and is reversed and re-applied.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stripe_emulator import EmulatorServer

BASE_DIR = Path(__file__).resolve().parents[2]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def _pg_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
    except OSError:
        return False
    return True


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'before-teams.sqlite3'}"
        return
    if not _pg_listening():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"teams_migration_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args: list[str], *, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _json(output: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return data


def test_migrate_moves_a_pre_teams_database_to_personal_teams_and_back(
    database_url: str,
) -> None:
    emulator = EmulatorServer(port=0, data=":memory:").start()
    try:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "STRIPE_API_BASE": emulator.url,
            "DJANGO_SETTINGS_MODULE": "saas.settings.test",
        }
        legacy = _json(
            _run(
                ["-m", "tests.teams.legacy_db"],
                env={**env, "DJANGO_SETTINGS_MODULE": "tests.teams.legacy_settings"},
            )
        )
        owner = legacy["owner"]
        check = ["-m", "tests.teams.check_db", legacy["customer"]]
        before = _json(_run(check, env=env))
        assert before == {"subscriber_id": owner, "fk": "accounts_user"}

        # What a kit user runs. Django's own migrate stops at InconsistentMigrationHistory.
        output = _run(["manage.py", "migrate", "--no-input"], env=env)
        assert "Applied teams.0001_initial ahead of dj-stripe's" in output

        after = _json(_run(check, env=env))
        team = after["teams"][str(owner)]
        assert team != owner, "team ids differ from user ids here, so a mix-up would show"
        assert after["subscriber_id"] == team
        assert after["fk"] == "teams_team"
        assert str(legacy["bystander"]) in after["teams"]  # every user got a personal team
        assert after["projects"] == {"Launch": team}
        assert after["tokens"] == {"saas_pat_abc": team}
        assert after["notifications"] == {"Welcome": team}
        assert after["access"] == {"plan": "starter", "status": "trialing"}

        # Reversible: back to the user as the subscriber, constraint on the user table.
        _run(["manage.py", "migrate", "teams", "0002", "--no-input"], env=env)
        back = _json(_run(check, env=env))
        assert (back["subscriber_id"], back["fk"]) == (owner, "accounts_user")
        assert back["projects"] == {"Launch": None}

        _run(["manage.py", "migrate", "--no-input"], env=env)
        again = _json(_run(check, env=env))
        assert (again["subscriber_id"], again["fk"]) == (team, "teams_team")
        assert again["projects"] == {"Launch": team}
    finally:
        emulator.stop()
