"""Two invitations (or two acceptances) at the same moment cannot pass a per-seat plan's
maximum: each counts and adds under a lock on the team row.

Real threads, each with its own database connection, on PostgreSQL (the row lock is
what is tested). The seat check of each thread waits for the other at a barrier after
counting: without the lock both would count the one free seat there and both be added;
with it the second thread is still waiting for the lock, so the first's wait times out,
it commits, and the second counts after it and is refused.

SQLite is skipped: it has no row locks (``select_for_update`` is ignored), and its
transactions here are ``IMMEDIATE`` (settings), so the whole count-then-add transaction
already runs one writer at a time; the in-memory test database that pytest-django
shares between threads does not wait for that lock but fails at once, so the race
cannot be run there as it runs in production.
"""

from __future__ import annotations

import contextlib
import threading
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from subscriptions.catalog import CATALOG_PATH, parse_catalog
from subscriptions.changes import seats
from teams import services
from teams.models import Invitation, Membership, Team
from tests.billing_helpers import give_plan
from tests.factories import make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks: PostgreSQL (see the docstring)"
    ),
]

# Long enough for the other thread to reach its count when nothing holds it back.
MEET_SECONDS = 1.0


def _four_seats_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    data = tomllib.loads(CATALOG_PATH.read_text())
    team_plan = next(p for p in data["plans"] if p["key"] == "team")
    team_plan["seats"] = {"minimum": 2, "maximum": 4}
    small = parse_catalog(data)
    monkeypatch.setattr(seats, "get_catalog", lambda: small)


def _meet_after(check: Callable[..., None], barrier: threading.Barrier) -> Callable[..., None]:
    def counted_then_wait(**kwargs: Any) -> None:
        check(**kwargs)
        # Broken: the other thread is waiting for the lock (or was refused).
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=MEET_SECONDS)

    return counted_then_wait


def _at_once(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread (own connection); each one's result or exception."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        try:
            start.wait(timeout=10)
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def seat_syncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The seat syncs queued after commit, kept here instead of sent to the broker: no
    worker of another test may run them against this test's rows."""
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(
        seats, "_enqueue", lambda team_id, version: queued.append((team_id, version))
    )
    return queued


def _team_of_three_on_the_team_plan() -> tuple[Team, Membership]:
    owner = make_user()
    team = services.team_create(owner=owner, name="Race Co")
    for _ in range(2):
        Membership.objects.create(team=team, user=make_user(), role=Membership.Role.MEMBER)
    give_plan(team, lookup_key="team_monthly", quantity=3)
    return team, Membership.objects.get(team=team, user=owner)


def test_two_invitations_for_the_last_seat_at_once_only_one_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team, owner = _team_of_three_on_the_team_plan()
    _four_seats_at_most(monkeypatch)
    barrier = threading.Barrier(2)
    monkeypatch.setattr(
        seats, "seats_invitation_check", _meet_after(seats.seats_invitation_check, barrier)
    )

    results = _at_once(
        lambda: services.invitation_create(actor=owner, email="fourth@example.com"),
        lambda: services.invitation_create(actor=owner, email="fifth@example.com"),
    )

    made = [r for r in results if isinstance(r, services.IssuedInvitation)]
    refused = [r for r in results if isinstance(r, services.TeamError)]
    assert (len(made), len(refused)) == (1, 1), results
    assert "at most 4 seats" in str(refused[0])
    assert "3 members plus 1 open invitations" in str(refused[0])
    assert Invitation.objects.filter(team=team).count() == 1


def test_two_acceptances_for_the_last_seat_at_once_only_one_joins(
    monkeypatch: pytest.MonkeyPatch, seat_syncs: list[tuple[int, int]]
) -> None:
    team, owner = _team_of_three_on_the_team_plan()
    # Both invitations were made while the plan allowed 25 seats; it now allows 4.
    joiners = [make_user(email=f"joiner{i}@example.com") for i in range(2)]
    tokens = [services.invitation_create(actor=owner, email=user.email).token for user in joiners]
    _four_seats_at_most(monkeypatch)
    barrier = threading.Barrier(2)
    monkeypatch.setattr(seats, "seats_join_check", _meet_after(seats.seats_join_check, barrier))

    results = _at_once(
        *(
            (lambda u=user, t=token: services.invitation_accept(user=u, token=t))
            for user, token in zip(joiners, tokens, strict=True)
        )
    )

    joined = [r for r in results if isinstance(r, Membership)]
    refused = [r for r in results if isinstance(r, services.TeamError)]
    assert (len(joined), len(refused)) == (1, 1), results
    assert "at most 4 seats and its 4 members take them all" in str(refused[0])
    assert Membership.objects.filter(team=team).count() == 4
    assert [team_id for team_id, _ in seat_syncs] == [team.pk]  # one seat added, one sync
    # The refused invitation stays open: it can be accepted once a seat is free.
    assert Invitation.objects.filter(team=team, accepted_at__isnull=True).count() == 1
