"""Customer sub-resources with the stock SDK: card sources, tax IDs, balance
transactions, cash balance, discount; plus the account and not-modelled lists."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from stripe_emulator import EmulatorServer


def _types(customer: str | None = None) -> list[str]:
    events = stripe.Event.list(limit=100).data
    return [e.type for e in reversed(events)]


def _card(source: Any) -> stripe.Card:
    """A customer source the test created from a card token (the SDK types a union)."""
    assert isinstance(source, stripe.Card)
    return source


def _attrs(event: stripe.Event) -> dict[str, Any]:
    return cast(dict[str, Any], event.data.previous_attributes or {})


def _customer(email: str = "a@example.com") -> stripe.Customer:
    return stripe.Customer.create(email=email)


# -- card sources --------------------------------------------------------------


def test_sources_first_card_becomes_default_and_lists(emulator: EmulatorServer) -> None:
    cus = _customer()
    visa = _card(stripe.Customer.create_source(cus.id, source="tok_visa", metadata={"k": "v"}))
    assert (visa.object, visa.brand, visa.last4, visa.customer) == ("card", "Visa", "4242", cus.id)
    assert visa.metadata is not None
    assert visa.metadata.to_dict() == {"k": "v"}
    master = _card(stripe.Customer.create_source(cus.id, source="tok_mastercard"))
    assert master.brand == "MasterCard"
    assert stripe.Customer.retrieve(cus.id).default_source == visa.id
    listed = stripe.Customer.list_sources(cus.id, object="card")
    assert [c.id for c in listed.data] == [master.id, visa.id]
    assert stripe.Customer.list_sources(cus.id, object="bank_account").data == []
    assert stripe.Customer.retrieve_source(cus.id, visa.id).id == visa.id
    expanded = stripe.Customer.retrieve(cus.id, expand=["sources", "default_source"])
    assert expanded.sources is not None
    assert [c.id for c in expanded.sources.data] == [master.id, visa.id]
    assert _card(expanded.default_source).last4 == "4242"
    assert _types().count("customer.source.created") == 2
    assert "customer.updated" in _types()


def test_sources_update_and_delete_move_the_default(emulator: EmulatorServer) -> None:
    cus = _customer()
    first = _card(stripe.Customer.create_source(cus.id, source="tok_visa"))
    second = _card(stripe.Customer.create_source(cus.id, source="tok_amex"))
    updated = _card(
        stripe.Customer.modify_source(
            cus.id, first.id, exp_month="3", exp_year="2031", name="Jenny Rosen"
        )
    )
    assert (updated.exp_month, updated.exp_year, updated.name) == (3, 2031, "Jenny Rosen")
    event = stripe.Event.list(type="customer.source.updated").data[0]
    assert _attrs(event)["name"] is None
    deleted = _card(stripe.Customer.delete_source(cus.id, first.id))
    assert (deleted.id, deleted.deleted) == (first.id, True)
    assert stripe.Customer.retrieve(cus.id).default_source == second.id
    stripe.Customer.delete_source(cus.id, second.id)
    assert stripe.Customer.retrieve(cus.id).default_source is None
    assert _types().count("customer.source.deleted") == 2
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Customer.retrieve_source(cus.id, first.id)
    assert exc.value.http_status == 404


def test_sources_errors(emulator: EmulatorServer) -> None:
    alice, bob = _customer(), _customer("b@example.com")
    bobs = stripe.Customer.create_source(bob.id, source="tok_visa")
    with pytest.raises(stripe.CardError) as declined:
        stripe.Customer.create_source(alice.id, source="tok_chargeDeclined")
    assert declined.value.code == "card_declined"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe.Customer.create_source(alice.id, source="tok_nonsense")
    assert (unknown.value.http_status, unknown.value.param) == (404, "source")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Customer.create_source(alice.id)
    assert (missing.value.http_status, missing.value.param) == (400, "source")
    for call in (
        lambda: stripe.Customer.retrieve_source(alice.id, bobs.id),
        lambda: stripe.Customer.delete_source(alice.id, bobs.id),
        lambda: stripe.Customer.modify_source(alice.id, bobs.id, name="x"),
        lambda: stripe.Customer.list_sources("cus_missing"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            call()
        assert exc.value.http_status == 404
    assert stripe.Customer.list_sources(alice.id).data == []


# -- tax IDs ------------------------------------------------------------------


def test_tax_ids_create_list_retrieve_delete(emulator: EmulatorServer) -> None:
    cus = _customer()
    vat = stripe.Customer.create_tax_id(cus.id, type="eu_vat", value="DE123456789")
    assert vat.owner is not None
    assert vat.verification is not None
    assert (vat.country, vat.customer, vat.owner.type) == ("DE", cus.id, "customer")
    assert vat.verification.status == "pending"
    gb = stripe.Customer.create_tax_id(cus.id, type="gb_vat", value="GB123456789")
    assert gb.country == "GB"
    ein = stripe.Customer.create_tax_id(cus.id, type="us_ein", value="12-3456789")
    assert (ein.country, ein.verification) == ("US", None)
    greek = stripe.Customer.create_tax_id(cus.id, type="eu_vat", value="EL123456789")
    assert greek.country == "GR"
    listed = stripe.Customer.list_tax_ids(cus.id)
    assert [t.id for t in listed.data] == [greek.id, ein.id, gb.id, vat.id]
    assert stripe.Customer.retrieve_tax_id(cus.id, vat.id).value == "DE123456789"
    assert stripe.TaxId.retrieve(vat.id).customer == cus.id
    owned = stripe.TaxId.list(owner={"type": "customer", "customer": cus.id})
    assert len(owned.data) == 4
    assert stripe.TaxId.list().data == []  # owner[type]=self: the account's own
    with pytest.raises(stripe.InvalidRequestError) as unknown_owner:
        stripe.TaxId.list(owner={"type": "customer", "customer": "cus_missing"})
    assert (unknown_owner.value.http_status, unknown_owner.value.param) == (404, "owner[customer]")
    expanded = stripe.Customer.retrieve(cus.id, expand=["tax_ids"])
    assert expanded.tax_ids is not None
    assert len(expanded.tax_ids.data) == 4
    deleted = stripe.Customer.delete_tax_id(cus.id, vat.id)
    assert (deleted.id, deleted.deleted) == (vat.id, True)
    assert _types().count("customer.tax_id.created") == 4
    assert _types().count("customer.tax_id.deleted") == 1
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Customer.retrieve_tax_id(cus.id, vat.id)
    assert exc.value.http_status == 404


@pytest.mark.parametrize(
    ("tax_type", "value"),
    [
        ("eu_vat", "DE12345678"),  # one digit short
        ("eu_vat", "XX123456789"),  # not a member state
        ("eu_vat", "123456789"),  # no country prefix
        ("gb_vat", "GB12345"),
        ("us_ein", "123-456789"),
        ("us_ein", ""),
    ],
)
def test_tax_ids_invalid_values(emulator: EmulatorServer, tax_type: str, value: str) -> None:
    cus = _customer()
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Customer.create_tax_id(cus.id, type=tax_type, value=value)
    assert (exc.value.code, exc.value.param) == ("tax_id_invalid", "value")
    assert stripe.Customer.list_tax_ids(cus.id).data == []


def test_tax_ids_type_and_ownership_errors(emulator: EmulatorServer) -> None:
    alice, bob = _customer(), _customer("b@example.com")
    with pytest.raises(stripe.InvalidRequestError) as bad_type:
        stripe.Customer.create_tax_id(alice.id, type="xx_vat", value="1")
    assert bad_type.value.param == "type"
    bobs = stripe.Customer.create_tax_id(bob.id, type="eu_vat", value="FRAB123456789")
    with pytest.raises(stripe.InvalidRequestError) as other:
        stripe.Customer.retrieve_tax_id(alice.id, bobs.id)
    assert other.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe.Customer.create_tax_id("cus_missing", type="eu_vat", value="DE123456789")
    assert gone.value.http_status == 404


# -- balance transactions -----------------------------------------------------


def test_balance_transactions_move_the_balance(emulator: EmulatorServer) -> None:
    cus = _customer()
    credit = stripe.Customer.create_balance_transaction(
        cus.id, amount=-500, currency="usd", description="Goodwill"
    )
    assert (credit.type, credit.ending_balance, credit.customer) == ("adjustment", -500, cus.id)
    debit = stripe.Customer.create_balance_transaction(cus.id, amount=200, currency="usd")
    assert debit.ending_balance == -300
    after = stripe.Customer.retrieve(cus.id)
    assert (after.balance, after.currency) == (-300, "usd")
    updated_events = stripe.Event.list(type="customer.updated").data
    assert _attrs(updated_events[0])["balance"] == -500
    listed = stripe.Customer.list_balance_transactions(cus.id)
    assert [t.id for t in listed.data] == [debit.id, credit.id]
    assert stripe.Customer.retrieve_balance_transaction(cus.id, credit.id).amount == -500
    changed = stripe.Customer.modify_balance_transaction(
        cus.id, credit.id, description="Apology", metadata={"ticket": "42"}
    )
    assert changed.metadata is not None
    assert (changed.description, changed.metadata.to_dict(), changed.amount) == (
        "Apology",
        {"ticket": "42"},
        -500,
    )


def test_balance_transactions_errors(emulator: EmulatorServer) -> None:
    alice, bob = _customer(), _customer("b@example.com")
    bobs = stripe.Customer.create_balance_transaction(bob.id, amount=-100, currency="usd")
    with pytest.raises(stripe.InvalidRequestError) as other:
        stripe.Customer.retrieve_balance_transaction(alice.id, bobs.id)
    assert other.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Customer.create_balance_transaction(alice.id, currency="usd")
    assert missing.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as currency:
        stripe.Customer.create_balance_transaction(bob.id, amount=100, currency="eur")
    assert currency.value.param == "currency"
    assert stripe.Customer.retrieve(bob.id).balance == -100


# -- cash balance and discount ------------------------------------------------


def test_cash_balance_settings(emulator: EmulatorServer) -> None:
    cus = _customer()
    cash = stripe.Customer.retrieve_cash_balance(cus.id)
    assert (cash.object, cash.customer, cash.available) == ("cash_balance", cus.id, None)
    assert cash.settings.using_merchant_default is True
    manual = stripe.Customer.modify_cash_balance(cus.id, settings={"reconciliation_mode": "manual"})
    assert (manual.settings.reconciliation_mode, manual.settings.using_merchant_default) == (
        "manual",
        False,
    )
    assert stripe.Customer.retrieve_cash_balance(cus.id).settings.reconciliation_mode == "manual"
    back = stripe.Customer.modify_cash_balance(
        cus.id, settings={"reconciliation_mode": "merchant_default"}
    )
    assert back.settings.using_merchant_default is True
    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe.Customer.modify_cash_balance(
            cus.id,
            settings={"reconciliation_mode": "sometimes"},
        )
    assert bad.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe.Customer.retrieve_cash_balance("cus_missing")
    assert gone.value.http_status == 404


def test_customer_discount_delete_without_discount(emulator: EmulatorServer) -> None:
    cus = _customer()
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Customer.delete_discount(cus.id)
    assert exc.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe.Customer.delete_discount("cus_missing")
    assert gone.value.http_status == 404


# -- accounts and features the emulator does not model ------------------------


def test_accounts_list_is_empty_and_only_own_account_exists(emulator: EmulatorServer) -> None:
    own = stripe.Account.retrieve()
    assert stripe.Account.list().data == []
    assert stripe.Account.retrieve(own.id).id == own.id
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe.Account.retrieve("acct_someoneelse")
    assert exc.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe.Account.list(limit=0)
    assert bad.value.param == "limit"


@pytest.mark.parametrize(
    ("resource", "missing_id"),
    [
        (stripe.Payout, "po_missing"),
        (stripe.Transfer, "tr_missing"),
        (stripe.Dispute, "dp_missing"),
        (stripe.TaxRate, "txr_missing"),
        (stripe.TaxCode, "txcd_99999999"),
        (stripe.SubscriptionSchedule, "sub_sched_missing"),
        (stripe.issuing.Card, "ic_missing"),
        (stripe.radar.EarlyFraudWarning, "issfr_missing"),
        (stripe.identity.VerificationSession, "vs_missing"),
    ],
)
def test_not_modelled_features_list_empty(
    emulator: EmulatorServer, resource: type[stripe.ListableAPIResource], missing_id: str
) -> None:
    assert resource.list(limit=3).data == []
    with pytest.raises(stripe.InvalidRequestError) as exc:
        resource.retrieve(missing_id)
    assert exc.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        resource.list(colour="blue")
    assert unknown.value.param == "colour"
