"""Fuzzing the webhook intake: any body, any headers, any signature.

Two promises hold for every input Hypothesis can think of: the intake never
answers 5xx to bad input (Stripe would retry a 5xx for days, and a 500 pages
someone), and nothing is stored unless it carries a valid signature. A
validly signed body that is not a storable event is a 400, and a stored one is
stored exactly once.

Both the test client (the full middleware stack) and the lean WSGI path that
gunicorn uses (saas/wsgi.py) are driven.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from djstripe.models import WebhookEndpoint, WebhookEventTrigger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saas.wsgi import intake
from subscriptions.models import StripeEvent
from tests.webhook_helpers import signature, webhook_endpoint

pytestmark = pytest.mark.django_db

SECRET = "whsec_fuzz_secret"

# Function-scoped fixtures (the endpoint row, the client) are shared by the
# examples of one test on purpose: each example checks its own before and after.
FUZZ = settings(
    max_examples=int(os.environ.get("WEBHOOK_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)

# Header values reach Django as latin-1 text (PEP 3333).
header_text = st.text(st.characters(max_codepoint=255, exclude_categories=["Cs"]), max_size=200)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)


EVENT_TYPES = ["invoice.paid", "customer.updated"]
timestamps = st.integers(min_value=-(2**70), max_value=2**70) | st.just(int(time.time()))
stripe_objects = st.dictionaries(st.sampled_from(["id", "object", "customer"]), json_values)


@st.composite
def event_like(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly-plausible events with one or more fields bent out of shape."""
    event: dict[str, Any] = {
        "id": draw(st.just("evt_") | st.text(max_size=8)) + draw(st.text(max_size=300)),
        "object": draw(st.just("event") | json_values),
        "type": draw(
            st.sampled_from(["invoice.paid", "customer.updated"]) | st.text() | json_values
        ),
        "created": draw(
            st.integers(min_value=-(2**70), max_value=2**70)
            | st.just(int(time.time()))
            | json_values
        ),
        "livemode": draw(st.just(False) | json_values),
        "api_version": draw(st.just("2026-05-27.dahlia") | json_values),
        "data": draw(
            st.fixed_dictionaries(
                {
                    "object": st.dictionaries(
                        st.sampled_from(["id", "object", "customer"]), json_values
                    )
                }
            )
            | json_values
        ),
    }
    for key in draw(st.sets(st.sampled_from(sorted(event)), max_size=2)):
        del event[key]
    return event


bodies = (
    st.binary(max_size=1024)
    | st.text(max_size=1024).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode())
    | event_like().map(lambda e: json.dumps(e).encode())
)


@st.composite
def forged_signatures(draw: st.DrawFn) -> str:
    """Stripe-Signature headers that do not sign the body with the endpoint's secret."""
    now = int(time.time())
    timestamp = draw(st.integers(min_value=-(2**64), max_value=2**64) | st.just(now) | header_text)
    v1 = draw(st.text("0123456789abcdef", min_size=0, max_size=64) | header_text)
    return draw(
        header_text
        | st.just(f"t={timestamp},v1={v1}")
        | st.just(f"t={timestamp},v1={v1},v0={v1}")
        | st.just(f"v1={v1}")
    )


def counts() -> tuple[int, int]:
    return StripeEvent.objects.count(), WebhookEventTrigger.objects.count()


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return webhook_endpoint(stripe_id="we_fuzz", secret=SECRET)


Deliver = Callable[[bytes, dict[str, Any]], tuple[int, bytes]]


@pytest.fixture(params=["full stack", "wsgi fast path"])
def deliver(
    request: pytest.FixtureRequest,
    endpoint: WebhookEndpoint,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> Deliver:
    """POST one delivery; returns (status, body)."""
    # The fast path's end of request would close the test's transaction-bound connection.
    monkeypatch.setattr("saas.wsgi.release_connections", lambda: None)
    path = f"/stripe/webhook/{endpoint.djstripe_uuid}/"

    def full_stack(body: bytes, headers: dict[str, Any]) -> tuple[int, bytes]:
        response = client.generic("POST", path, body, **headers)
        return response.status_code, response.content

    def fast_path(body: bytes, headers: dict[str, Any]) -> tuple[int, bytes]:
        environ = RequestFactory().generic("POST", path, body, **headers).environ
        started: list[str] = []
        chunks = intake(
            environ, lambda status, _headers: started.append(status), endpoint.djstripe_uuid
        )
        return int(started[0].split()[0]), b"".join(chunks)

    return full_stack if request.param == "full stack" else fast_path


@FUZZ
@given(
    body=bodies,
    stripe_signature=st.none() | forged_signatures(),
    content_type=st.none() | st.sampled_from(["application/json", "text/plain"]) | header_text,
)
def test_unsigned_input_is_a_4xx_and_stores_nothing(
    deliver: Deliver, body: bytes, stripe_signature: str | None, content_type: str | None
) -> None:
    headers = {}
    if stripe_signature is not None:
        headers["HTTP_STRIPE_SIGNATURE"] = stripe_signature
    if content_type is not None:
        headers["CONTENT_TYPE"] = content_type
    before = counts()
    status, content = deliver(body, headers)
    assert 400 <= status < 500, (status, content)
    assert counts() == before


@FUZZ
@given(body=bodies, age=st.sampled_from([0, 0, 0, 301, 10**6]), wrong_secret=st.booleans())
def test_signed_input_is_never_a_5xx_and_stored_only_when_valid(
    deliver: Deliver, body: bytes, age: int, wrong_secret: bool
) -> None:
    secret = "whsec_someone_else" if wrong_secret else SECRET
    header = signature(body, secret, timestamp=int(time.time()) - age)
    before = counts()
    status, content = deliver(body, {"HTTP_STRIPE_SIGNATURE": header})
    assert status < 500, (status, content)
    if wrong_secret or age:
        assert status == 400
    if status != 200:
        assert counts() == before
        return
    event_id = json.loads(content)["id"]
    assert StripeEvent.objects.filter(stripe_id=event_id).count() == 1
    stored_now = counts()[0] - before[0]
    assert stored_now == (0 if json.loads(content)["duplicate"] else 1)


@FUZZ
@given(event=event_like())
def test_signed_events_with_bent_fields_are_stored_once_or_refused(
    deliver: Deliver, event: dict[str, Any]
) -> None:
    body = json.dumps(event)
    before = counts()
    status, content = deliver(body.encode(), {"HTTP_STRIPE_SIGNATURE": signature(body, SECRET)})
    assert status in (200, 400), (status, content)
    if status == 400:
        assert counts() == before
        return
    again, _ = deliver(body.encode(), {"HTTP_STRIPE_SIGNATURE": signature(body, SECRET)})
    assert again == 200
    assert StripeEvent.objects.filter(stripe_id=event["id"]).count() == 1
    assert counts()[0] == before[0] + (0 if json.loads(content)["duplicate"] else 1)


def _signed_event(**fields: Any) -> str:
    event: dict[str, Any] = {
        "id": "evt_edge",
        "object": "event",
        "type": "customer.updated",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "cus_edge", "object": "customer"}},
    }
    event.update(fields)
    return json.dumps(event)


# Inputs the fuzzer found (or that it rarely reaches), each once a 500 or 503.
EDGE_CASES = {
    "data is not an object": _signed_event(data=True),
    "data.object is a list": _signed_event(data={"object": []}),
    "created beyond year 9999": _signed_event(created=10**20),
    "created is text": _signed_event(created="yesterday"),
    "type longer than the column": _signed_event(type="x" * 101),
    "id longer than the column": _signed_event(id="evt_" + "x" * 300),
    "api_version is a number": _signed_event(api_version=3),
}
# Text PostgreSQL cannot keep (SQLite can): a 400 there, never a 503 that Stripe retries.
UNSTORABLE_ON_POSTGRESQL = {
    "a NUL in a value": _signed_event(data={"object": {"id": "cus_1", "name": "a\u0000b"}}),
    "a lone surrogate": _signed_event(data={"object": {"id": "cus_1", "name": "\ud800"}}),
}


@pytest.mark.parametrize("body", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_signed_but_unstorable_events_are_400(deliver: Deliver, body: str) -> None:
    status, content = deliver(body.encode(), {"HTTP_STRIPE_SIGNATURE": signature(body, SECRET)})
    assert status == 400, content
    assert counts() == (0, 0)


def test_a_non_ascii_signature_is_400(deliver: Deliver) -> None:
    body = _signed_event()
    status, _ = deliver(body.encode(), {"HTTP_STRIPE_SIGNATURE": "t=1,v1=é"})
    assert status == 400
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    "body", UNSTORABLE_ON_POSTGRESQL.values(), ids=UNSTORABLE_ON_POSTGRESQL.keys()
)
def test_text_the_database_cannot_keep_is_400_not_503(deliver: Deliver, body: str) -> None:
    status, content = deliver(body.encode(), {"HTTP_STRIPE_SIGNATURE": signature(body, SECRET)})
    if connection.vendor == "postgresql":
        assert status == 400, content
        assert counts() == (0, 0)
    else:
        assert status == 200, content
        assert counts() == (1, 1)
