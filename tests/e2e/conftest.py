"""The e2e journeys use the billing fixtures (emulator bootstrapped, live server)."""

from tests.subscriptions.conftest import billing, live_billing  # noqa: F401
