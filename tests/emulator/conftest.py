"""The app's checks that dj-stripe accepts what the emulator produces.

The emulator's own tests live in its package (stripe-emulator/tests); these
need Django and dj-stripe, so they stay with the app. They use the session's
in-process emulator (tests/conftest.py) with module-level `stripe` aimed at
it, and check every response and event against the SDK's resource classes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
from stripe_emulator import DEFAULT_API_VERSION, EmulatorServer
from stripe_emulator.conformance import ConformanceCollector

API_KEY = "sk_test_emulator_tests"


@pytest.fixture
def emulator(stripe_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """A clean emulator with module-level stripe aimed at it; conformance checked."""
    emu = stripe_emulator.emulator
    emu.dispatcher.wait_idle(5)
    emu.reset()
    collector = ConformanceCollector()
    emu.response_hooks.append(collector.hook)
    saved = (stripe.api_key, stripe.api_base, stripe.api_version, stripe.max_network_retries)
    stripe.api_key = API_KEY
    stripe.api_base = stripe_emulator.url
    stripe.api_version = DEFAULT_API_VERSION
    stripe.max_network_retries = 2
    yield stripe_emulator
    stripe.api_key, stripe.api_base, stripe.api_version, stripe.max_network_retries = saved
    emu.response_hooks.remove(collector.hook)
    for event in emu.store.all("event"):
        collector.hook("EVENT", str(event["type"]), 200, event)
    problems = collector.violations()
    assert not problems, "conformance violations:\n" + "\n".join(problems[:50])
