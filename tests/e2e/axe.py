"""axe-core in the browser tests: injected into a page, run, its serious and critical findings.

axe-core is the npm release pinned in ``tests/e2e/axe/package-lock.json``; ``make
node-axe`` (part of ``make test``) installs it into ``tests/e2e/axe/node_modules``,
and ``axe_script()`` runs ``npm ci`` itself when that copy is missing or is not the
pinned release. Without npm the accessibility checks are skipped, saying why (a
pytest warning; ``test_accessibility.py`` is skipped), and the journeys still run.

The pages run under a strict CSP (no inline script), so the engine cannot be added
as a ``<script>`` with inline content: Playwright's ``evaluate`` runs its source
through the DevTools protocol, which the page's CSP does not govern.
``test_accessibility.py`` proves on a known-bad page under the same CSP that the
engine really runs and reports.

axe runs with ``preload: false``: its CSS preload re-creates each ``@import`` of a
stylesheet (Django admin's forms.css has one) as an inline ``<style>``, which the
CSP refuses and ``test_csp.py`` would report as the page's violation. The preload
only serves ``css-orientation-lock``; the site's CSS has no orientation query.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE_DIR = Path(__file__).with_name("axe")
# Violations at these impacts fail a page (axe's scale: minor, moderate, serious, critical).
FAILING_IMPACTS = ("serious", "critical")


def _pinned() -> str:
    version: str = json.loads((AXE_DIR / "package.json").read_text())["dependencies"]["axe-core"]
    return version


def _installed() -> str | None:
    manifest = AXE_DIR / "node_modules" / "axe-core" / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


NO_NPM = "npm is not installed: axe-core (tests/e2e/axe) cannot be installed"


@cache
def _axe_source() -> str | None:
    """The pinned axe-core's source, installed on first use; None without npm."""
    if _installed() != _pinned():
        npm = shutil.which("npm")
        if npm is None:
            return None
        subprocess.run(
            [npm, "ci", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--silent"],
            check=True,
            timeout=300,
        )
    return (AXE_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text()


def axe_script() -> str:
    """The pinned axe-core's source; skips the calling test when npm is missing."""
    source = _axe_source()
    if source is None:
        pytest.skip(NO_NPM)
    return source


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe on the page as it is now; its serious and critical violations, summarised."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The source ends in an expression; `;0` keeps the evaluation's value small.
        page.evaluate(axe_script() + "\n;0")
    found: list[dict[str, Any]] = page.evaluate(
        """async (impacts) => {
            const options = {resultTypes: ["violations"], preload: false};
            const result = await window.axe.run(document, options);
            return result.violations
              .filter((v) => impacts.includes(v.impact))
              .map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.slice(0, 5).map(
                  (n) => n.target.join(" ") + " :: " + n.failureSummary
                ),
              }));
        }""",
        list(FAILING_IMPACTS),
    )
    return found


class AxeWatch:
    """Collects each visited page's serious and critical violations, to assert on once."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.checked: list[str] = []
        self.violations: list[str] = []

    def check(self, name: str) -> None:
        # Without npm the journeys still run; only their accessibility checks are left
        # out, with a warning in pytest's summary (test_accessibility.py skips).
        if _axe_source() is None:
            warnings.warn(f"{NO_NPM}: {name} was not checked for accessibility", stacklevel=2)
            return
        for violation in axe_violations(self.page):
            self.violations.append(
                f"{name} ({self.page.url}): {violation['id']} [{violation['impact']}] "
                f"{violation['help']}\n    " + "\n    ".join(violation["nodes"])
            )
        self.checked.append(name)

    def report(self) -> str:
        return "\n".join(self.violations)
