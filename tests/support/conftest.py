"""The support tests use the emulator fixture of the billing tests."""

from __future__ import annotations

from tests.subscriptions.conftest import billing  # noqa: F401
