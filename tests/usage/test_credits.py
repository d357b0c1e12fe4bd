"""Prepaid credits: the ledger's services on the real database (no Stripe needed here).

Session and charge dicts have the shape Stripe sends in ``checkout.session.completed``
and ``charge.refunded`` (the pipeline passes the event's object as it came); the
flows through the emulator and the worker are in test_credits_flow.py.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from django.db import connection, connections

from teams.models import Team
from tests.billing_helpers import personal_team
from tests.factories import make_user
from usage import credits
from usage.credit_selectors import credit_balance, credits_health
from usage.models import CreditBalance, CreditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> Team:
    return personal_team(make_user())


def paid_session(
    team: Team, *, sid: str = "cs_test_a", credits_: int = 1000, **extra: Any
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_{sid}",
        "amount_total": 1000,
        "currency": "usd",
        "customer": "cus_x",
        "metadata": {
            "kind": "credit_pack",
            "team_id": str(team.pk),
            "credit_pack": "credits_1000",
            "credits": str(credits_),
        },
        **extra,
    }


def refunded_charge(sid: str, refunded: int, amount: int = 1000) -> dict[str, Any]:
    return {
        "id": f"ch_{sid}",
        "object": "charge",
        "payment_intent": f"pi_{sid}",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "refunded": refunded >= amount,
    }


def ledger_sum(team: Team) -> int:
    return sum(CreditEntry.objects.filter(team=team).values_list("credits", flat=True))


# --- Grants -------------------------------------------------------------------------------


def test_credits_grant_adds_the_pack_once(team: Team) -> None:
    session = paid_session(team)
    entry = credits.credits_grant(team_id=team.pk, session=session, stripe_event_id="evt_1")
    assert entry is not None
    assert (entry.kind, entry.credits, entry.balance_after) == ("purchase", 1000, 1000)
    assert (entry.pack, entry.payment_intent, entry.amount_paid) == (
        "credits_1000",
        "pi_cs_test_a",
        1000,
    )
    # The webhook's redelivery, the other event type and the return page: nothing more.
    assert credits.credits_grant(team_id=team.pk, session=session, stripe_event_id="evt_2") is None
    assert credits.credits_grant(team_id=team.pk, session=session) is None
    assert credit_balance(team_id=team.pk) == 1000
    assert CreditEntry.objects.filter(team=team).count() == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"payment_status": "unpaid"}, "a delayed payment not settled yet"),
        ({"mode": "subscription"}, "a subscription checkout"),
        ({"metadata": {"kind": "other", "credits": "1000"}}, "not a credit purchase"),
    ],
)
def test_credits_grant_ignores_what_is_not_a_paid_purchase(
    team: Team, change: dict[str, Any], why: str
) -> None:
    assert (
        credits.credits_grant(team_id=team.pk, session={**paid_session(team), **change}) is None
    ), why
    assert credit_balance(team_id=team.pk) == 0


def test_credits_grant_refuses_a_session_naming_another_team(team: Team) -> None:
    other = personal_team(make_user())
    session = paid_session(other)  # metadata says `other`, the customer is `team`'s
    assert credits.credits_grant(team_id=team.pk, session=session) is None
    assert credit_balance(team_id=team.pk) == 0
    assert credit_balance(team_id=other.pk) == 0


def test_async_payment_succeeded_grants_after_an_unpaid_completion(team: Team) -> None:
    """Delayed methods: completed with payment_status unpaid, then async_payment_succeeded."""
    unpaid = paid_session(team, payment_status="unpaid")
    credits.on_billing_event_processed(
        team_id=team.pk,
        stripe_event_id="evt_c",
        event_type="checkout.session.completed",
        obj=unpaid,
    )
    assert credit_balance(team_id=team.pk) == 0
    credits.on_billing_event_processed(
        team_id=team.pk,
        stripe_event_id="evt_s",
        event_type="checkout.session.async_payment_succeeded",
        obj=paid_session(team),
    )
    assert credit_balance(team_id=team.pk) == 1000


# --- Spends -------------------------------------------------------------------------------


def test_credits_spend_takes_from_the_balance_and_never_below_zero(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team, credits_=25))
    entry = credits.credits_spend(team, 10, "export", "k1")
    assert (entry.credits, entry.balance_after, entry.description) == (-10, 15, "export")
    with pytest.raises(credits.InsufficientCredits) as refused:
        credits.credits_spend(team, 20, "export", "k2")
    assert "needs 20 credits and your team has 15" in refused.value.user_message
    assert credit_balance(team_id=team.pk) == 15
    assert not CreditEntry.objects.filter(source="k2").exists()


def test_credits_spend_is_idempotent_per_key(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team, credits_=100))
    first = credits.credits_spend(team, 30, "export", "same-key")
    again = credits.credits_spend(team.pk, 30, "export", "same-key")
    assert again.pk == first.pk
    assert credit_balance(team_id=team.pk) == 70


@pytest.mark.parametrize(("n", "key"), [(0, "k"), (-5, "k"), (5, ""), (5, "x" * 256)])
def test_credits_spend_rejects_bad_input(team: Team, n: int, key: str) -> None:
    with pytest.raises(ValueError, match=r"positive|idempotency"):
        credits.credits_spend(team, n, "export", key)


def test_a_team_without_credits_cannot_spend(team: Team) -> None:
    with pytest.raises(credits.InsufficientCredits):
        credits.credits_spend(team, 1, "export", "k")
    assert CreditBalance.objects.get(team=team).credits == 0


# --- Refunds ------------------------------------------------------------------------------


def test_partial_then_full_refund_reverses_each_share_once(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team))
    half = credits.credits_refund_reverse(team_id=team.pk, charge=refunded_charge("cs_test_a", 500))
    assert half is not None
    assert (half.kind, half.credits, half.balance_after) == ("refund", -500, 500)
    # Redelivered: the same refund state counts once.
    assert (
        credits.credits_refund_reverse(team_id=team.pk, charge=refunded_charge("cs_test_a", 500))
        is None
    )
    full = credits.credits_refund_reverse(
        team_id=team.pk, charge=refunded_charge("cs_test_a", 1000)
    )
    assert full is not None
    assert full.credits == -500
    assert credit_balance(team_id=team.pk) == 0


def test_refund_events_out_of_order_reverse_the_total_once(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team))
    credits.credits_refund_reverse(team_id=team.pk, charge=refunded_charge("cs_test_a", 1000))
    # The older state (first refund, half) arrives last: already covered.
    assert (
        credits.credits_refund_reverse(team_id=team.pk, charge=refunded_charge("cs_test_a", 500))
        is None
    )
    assert credit_balance(team_id=team.pk) == 0
    assert CreditEntry.objects.filter(team=team, kind="refund").count() == 1


def test_refund_reverses_only_unspent_credits(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team))
    credits.credits_spend(team, 800, "exports", "spent")
    entry = credits.credits_refund_reverse(
        team_id=team.pk, charge=refunded_charge("cs_test_a", 1000)
    )
    assert entry is not None
    assert (entry.credits, entry.balance_after) == (-200, 0)


def test_refund_of_a_payment_that_is_not_a_credit_purchase_changes_nothing(team: Team) -> None:
    credits.credits_grant(team_id=team.pk, session=paid_session(team))
    assert (
        credits.credits_refund_reverse(team_id=team.pk, charge=refunded_charge("other", 500))
        is None
    )
    assert credit_balance(team_id=team.pk) == 1000


def test_shuffled_and_repeated_events_reach_the_same_ledger(team: Team) -> None:
    """After the first grant, redeliveries and two partial refunds (each sent twice) in
    any order: the same ledger. (A refund processed before its grant is applied by the
    grant from dj-stripe's charge mirror: test_credits_flow.py covers that.)"""
    rest = [
        ("checkout.session.completed", paid_session(team)),
        ("checkout.session.async_payment_succeeded", paid_session(team)),
        ("charge.refunded", refunded_charge("cs_test_a", 250)),
        ("charge.refunded", refunded_charge("cs_test_a", 500)),
    ] * 2
    rng = random.Random(14)
    for _ in range(5):
        CreditEntry.objects.filter(team=team).delete()
        CreditBalance.objects.filter(team=team).delete()
        rng.shuffle(rest)
        first = ("checkout.session.completed", paid_session(team))
        for i, (event_type, obj) in enumerate([first, *rest]):
            credits.on_billing_event_processed(
                team_id=team.pk, stripe_event_id=f"evt_{i}", event_type=event_type, obj=obj
            )
        assert CreditEntry.objects.filter(team=team, kind="purchase").count() == 1
        assert credit_balance(team_id=team.pk) == 500
        assert ledger_sum(team) == 500


# --- The ledger ---------------------------------------------------------------------------


def test_ledger_entries_are_never_changed_or_deleted(team: Team) -> None:
    entry = credits.credits_grant(team_id=team.pk, session=paid_session(team))
    assert entry is not None
    entry.credits = 5000
    with pytest.raises(ValueError, match="never changed"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()
    assert CreditEntry.objects.get(pk=entry.pk).credits == 1000


def test_staff_adjustment_records_who_and_why(team: Team) -> None:
    staff = make_user(is_staff=True)
    up = credits.credits_adjust(team=team, credits=50, reason="goodwill", staff_user=staff)
    down = credits.credits_adjust(team=team, credits=-20, reason="correction", staff_user=staff)
    assert (up.kind, up.created_by, up.description, down.balance_after) == (
        "adjustment",
        staff,
        "goodwill",
        30,
    )
    with pytest.raises(credits.InsufficientCredits):
        credits.credits_adjust(team=team, credits=-31, reason="too much", staff_user=staff)
    with pytest.raises(ValueError, match="reason"):
        credits.credits_adjust(team=team, credits=5, reason="  ", staff_user=staff)
    assert ledger_sum(team) == credit_balance(team_id=team.pk) == 30


def test_credits_health_totals(team: Team) -> None:
    other = personal_team(make_user())
    credits.credits_grant(team_id=team.pk, session=paid_session(team))
    credits.credits_grant(
        team_id=other.pk,
        session=paid_session(other, sid="cs_test_b", credits_=5000, amount_total=4000),
    )
    credits.credits_spend(other, 5000, "all of it", "k")
    health = credits_health()
    assert (health.sold, health.revenue, health.outstanding, health.teams) == (6000, 5000, 1000, 1)


# --- Concurrency --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_never_overdraw() -> None:
    """Threads (own connections) spend at once; the balance never goes below zero.

    On PostgreSQL the conditional UPDATE's row lock serialises them; SQLite runs one
    write transaction at a time (IMMEDIATE), so the same holds there.
    """
    team = personal_team(make_user())
    credits.credits_grant(team_id=team.pk, session=paid_session(team, credits_=1000))
    threads, results = 12, []
    start = threading.Barrier(threads)
    lock = threading.Lock()

    def spend(i: int) -> None:
        try:
            start.wait(timeout=10)
            credits.credits_spend(team.pk, 100, "race", f"race-{i}")
            outcome = "ok"
        except credits.InsufficientCredits:
            outcome = "refused"
        except Exception as exc:  # SQLite may answer "database is locked" under the race
            outcome = f"error: {exc}"
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=spend, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    ok = results.count("ok")
    balance = credit_balance(team_id=team.pk)
    assert balance >= 0
    assert balance == 1000 - 100 * ok == ledger_sum(team)
    if connection.vendor == "postgresql":
        # Every spend ran: exactly ten fit, the other two were refused.
        assert sorted(results) == ["ok"] * 10 + ["refused"] * 2
    else:
        assert ok <= 10
