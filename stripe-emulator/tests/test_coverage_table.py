"""The README's per-family coverage table is generated from the installed SDK's
services and the emulator's routes; it must match both."""

from __future__ import annotations

from pathlib import Path

from stripe_emulator.tools import coverage

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_coverage_table_is_current() -> None:
    assert coverage.main(["--check", str(README)]) == 0, (
        "run: python -m stripe_emulator.tools.coverage --write README.md"
    )


def test_coverage_counts_answered_placeholder_and_missing_endpoints() -> None:
    families = {f.name: f for f in coverage.coverage()}
    # Fully emulated, placeholder-only and absent families are told apart.
    assert families["v1/products"].answered == families["v1/products"].total > 0
    assert families["v1/country_specs"].answered == 0
    assert families["v1/country_specs"].placeholders == families["v1/country_specs"].total
    assert families["v1/quotes"].answered == 0
    assert families["v1/quotes"].missing
    # Test helpers count with the resource they help.
    assert "v1/test_clocks" in families
    assert "v1/test_helpers" not in families


def test_family_names() -> None:
    assert coverage.family_of("/v1/customers/{customer}/tax_ids") == "v1/customers"
    assert coverage.family_of("/v1/billing/meters/{id}") == "v1/billing/meters"
    assert coverage.family_of("/v1/test_helpers/test_clocks/{test_clock}") == "v1/test_clocks"
    assert coverage.family_of("/v2/core/accounts") == "v2/core/accounts"
