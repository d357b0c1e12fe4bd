"""The usage tests that buy credits use the billing fixtures (emulator bootstrapped)."""

from __future__ import annotations

from tests.subscriptions.conftest import billing, live_billing  # noqa: F401
