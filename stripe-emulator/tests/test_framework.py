"""Wire behaviour of the emulator framework, through the real stripe SDK."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_emulator import DEFAULT_API_VERSION, EmulatorServer


def _raw(
    emulator: EmulatorServer,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    req = urllib.request.Request(emulator.url + path, data=body, method=method)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), json.loads(exc.read())


def test_unknown_parameter_is_rejected_with_param(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.create(email="a@example.com", favourite_colour="blue")
    assert info.value.http_status == 400
    assert info.value.param == "favourite_colour"
    assert "Received unknown parameter: favourite_colour" in str(info.value.user_message)


def test_nested_unknown_parameter_names_the_full_path(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.create(invoice_settings={"colour": "red"})
    assert info.value.param == "invoice_settings[colour]"


def test_missing_required_parameter(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.WebhookEndpoint.create(url="http://127.0.0.1:1/x")
    assert info.value.param == "enabled_events"
    assert "Missing required param: enabled_events" in str(info.value.user_message)


def test_bad_enum_value(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.create(tax_exempt="sometimes")
    assert info.value.param == "tax_exempt"
    assert "must be one of exempt, none, or reverse" in str(info.value.user_message)


def test_bad_integer(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.create(balance="lots")
    assert info.value.param == "balance"


def test_missing_api_key_gives_401(emulator: EmulatorServer) -> None:
    status, headers, body = _raw(emulator, "GET", "/v1/customers")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in body["error"]["message"]
    assert headers["Request-Id"].startswith("req_")


def test_live_or_malformed_key_raises_authentication_error(emulator: EmulatorServer) -> None:
    for key in ("sk_live_abcdefghijklmnop", "pk_test_abc", "garbage"):
        with pytest.raises(stripe.AuthenticationError):
            stripe.Customer.list(api_key=key)


def test_basic_auth_with_key_as_username_is_accepted(emulator: EmulatorServer) -> None:
    import base64

    token = base64.b64encode(b"sk_test_basic:").decode()
    status, _, body = _raw(
        emulator, "GET", "/v1/customers", headers={"Authorization": f"Basic {token}"}
    )
    assert status == 200
    assert body["object"] == "list"


def test_unknown_api_version_is_refused_and_absent_header_means_default(
    emulator: EmulatorServer,
) -> None:
    # Every released version is accepted (test_versions.py); others are not.
    stripe.Customer.list(stripe_version="2026-08-26.dahlia")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.list(stripe_version="2026-13-01.dahlia")
    assert str(info.value.user_message) == "Invalid Stripe API version: 2026-13-01.dahlia"
    status, headers, _ = _raw(
        emulator, "GET", "/v1/customers", headers={"Authorization": "Bearer sk_test_x"}
    )
    assert status == 200
    assert headers["Stripe-Version"] == DEFAULT_API_VERSION


def test_unknown_id_is_404_resource_missing(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.retrieve("cus_doesnotexist")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"
    assert info.value.param == "id"
    assert "No such customer: 'cus_doesnotexist'" in str(info.value.user_message)


def test_unknown_route_is_404(emulator: EmulatorServer) -> None:
    status, _, body = _raw(
        emulator, "GET", "/v1/nothing_here", headers={"Authorization": "Bearer sk_test_x"}
    )
    assert status == 404
    assert "Unrecognized request URL" in body["error"]["message"]


def test_idempotent_replay_returns_the_saved_response(emulator: EmulatorServer) -> None:
    first = stripe.Customer.create(email="once@example.com", idempotency_key="key-1")
    again = stripe.Customer.create(email="once@example.com", idempotency_key="key-1")
    assert again.id == first.id
    assert len(stripe.Customer.list().data) == 1
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"


def test_idempotency_key_with_other_params_is_an_idempotency_error(
    emulator: EmulatorServer,
) -> None:
    stripe.Customer.create(email="a@example.com", idempotency_key="key-2")
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="b@example.com", idempotency_key="key-2")


def test_idempotent_replay_includes_saved_errors(emulator: EmulatorServer) -> None:
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe.Customer.modify("cus_missing", name="x", idempotency_key="key-3")
        assert info.value.http_status == 404
    assert info.value.headers is not None
    assert info.value.headers.get("Idempotent-Replayed") == "true"


def test_request_id_and_version_headers_on_every_response(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create()
    assert cus.last_response is not None
    assert cus.last_response.request_id is not None
    assert cus.last_response.request_id.startswith("req_")
    assert cus.last_response.headers["Stripe-Version"] == DEFAULT_API_VERSION


def test_pagination_newest_first_with_cursors(emulator: EmulatorServer) -> None:
    ids = [stripe.Customer.create(name=f"c{i}").id for i in range(5)]
    newest_first = list(reversed(ids))
    page1 = stripe.Customer.list(limit=2)
    assert [c.id for c in page1.data] == newest_first[:2]
    assert page1.has_more is True
    assert page1.url == "/v1/customers"
    page2 = stripe.Customer.list(limit=2, starting_after=page1.data[-1].id)
    assert [c.id for c in page2.data] == newest_first[2:4]
    page3 = stripe.Customer.list(limit=2, starting_after=page2.data[-1].id)
    assert [c.id for c in page3.data] == newest_first[4:]
    assert page3.has_more is False
    back = stripe.Customer.list(limit=2, ending_before=newest_first[4])
    assert [c.id for c in back.data] == newest_first[2:4]
    assert back.has_more is True
    assert [c.id for c in stripe.Customer.list(limit=2).auto_paging_iter()] == newest_first


def test_limit_out_of_range(emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.list(limit=101)
    assert info.value.param == "limit"


def test_search_by_email_metadata_and_and(emulator: EmulatorServer) -> None:
    a = stripe.Customer.create(email="a@example.com", metadata={"plan": "pro"})
    stripe.Customer.create(email="b@example.com", metadata={"plan": "pro"})
    stripe.Customer.create(email="a2@example.com", metadata={"plan": "free"})
    assert [c.id for c in stripe.Customer.search(query="email:'a@example.com'").data] == [a.id]
    pro = stripe.Customer.search(query="metadata['plan']:'pro'")
    assert getattr(pro, "object", None) == "search_result"
    assert len(pro.data) == 2
    both = stripe.Customer.search(query="metadata['plan']:'pro' AND email:'a@example.com'")
    assert [c.id for c in both.data] == [a.id]
    paged = stripe.Customer.search(query="metadata['plan']:'pro'", limit=1)
    assert paged.has_more is True
    nxt = stripe.Customer.search(query="metadata['plan']:'pro'", limit=1, page=paged.next_page)
    assert nxt.data[0].id != paged.data[0].id
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Customer.search(query="colour:'red'")


def test_metadata_update_semantics(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(metadata={"a": "1", "b": "2"})
    cus = stripe.Customer.modify(cus.id, metadata={"a": "", "c": "3"})
    assert cus.metadata is not None
    assert cus.metadata.to_dict() == {"b": "2", "c": "3"}
    cus = stripe.Customer.modify(cus.id, metadata="")
    assert cus.metadata is not None
    assert cus.metadata.to_dict() == {}


def test_expand_on_retrieve_and_list(emulator: EmulatorServer) -> None:
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_700_000_000)
    cus = stripe.Customer.create(test_clock=clock.id)
    got = stripe.Customer.retrieve(cus.id, expand=["test_clock"])
    assert got.test_clock is not None
    assert not isinstance(got.test_clock, str)
    assert got.test_clock.frozen_time == 1_700_000_000
    listed = stripe.Customer.list(expand=["data.test_clock"])
    assert listed.data[0].test_clock.id == clock.id  # type: ignore[union-attr]
    assert cus.created == 1_700_000_000  # business time follows the clock
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe.Customer.retrieve(cus.id, expand=["invoice_prefix"])
    assert info.value.param == "expand"


def test_events_record_request_and_previous_attributes(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(email="old@example.com", idempotency_key="evt-key")
    stripe.Customer.modify(cus.id, email="new@example.com")
    events = stripe.Event.list(type="customer.*")
    assert [e.type for e in events.data] == ["customer.updated", "customer.created"]
    created = events.data[1].to_dict()
    assert created["request"]["idempotency_key"] == "evt-key"
    assert created["request"]["id"].startswith("req_")
    assert created["data"]["object"]["email"] == "old@example.com"
    updated = events.data[0].to_dict()
    assert updated["data"]["previous_attributes"] == {"email": "old@example.com"}
    assert updated["data"]["object"]["email"] == "new@example.com"
    assert updated["api_version"] == DEFAULT_API_VERSION
    assert updated["livemode"] is False
    one = stripe.Event.retrieve(updated["id"])
    assert one.type == "customer.updated"
    assert [e.type for e in stripe.Event.list(types=["customer.created"]).data] == [
        "customer.created"
    ]
    assert stripe.Event.list(created={"gt": updated["created"] + 10}).data == []


def test_deleted_customer_is_a_tombstone(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(email="gone@example.com")
    deleted = stripe.Customer.delete(cus.id)
    assert deleted.deleted is True
    again = stripe.Customer.retrieve(cus.id)
    assert again.deleted is True
    assert stripe.Customer.list().data == []
    assert stripe.Event.list().data[0].type == "customer.deleted"


def test_stripe_client_style_works(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(params={"email": "client@example.com"})
    got = client.v1.customers.retrieve(cus.id)
    assert got.email == "client@example.com"


def test_dj_stripe_style_customer_retrieve_expands_sources(emulator: EmulatorServer) -> None:
    cus = stripe.Customer.create(email="dj@example.com")
    got = stripe.Customer.retrieve(cus.id, expand=["default_source", "sources"])
    assert got.default_source is None
    assert got.sources is not None
    assert got.sources.data == []
    plain = stripe.Customer.retrieve(cus.id).to_dict()
    assert "sources" not in plain
    assert "subscriptions" not in plain


def test_account_by_id(emulator: EmulatorServer) -> None:
    account = stripe.Account.retrieve()
    assert stripe.Account.retrieve(account.id).id == account.id
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Account.retrieve("acct_other")
