"""The team billing tests use the emulator fixture of the billing tests."""

from __future__ import annotations

from tests.subscriptions.conftest import billing, live_billing  # noqa: F401
