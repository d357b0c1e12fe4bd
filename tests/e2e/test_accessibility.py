"""The accessibility check itself: axe-core runs under the site's strict CSP and reports.

A page that passes could mean the engine never ran, so these tests serve fixture
pages (through Playwright's router, with the site's CSP header) and check what axe
says about them: a page with known serious and critical faults fails, the same
page with them fixed passes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.axe import axe_violations
from tests.e2e.conftest import CHROMIUM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
# As strict as the site's: scripts from the page's own origin only, nothing inline.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
BAD_PAGE = """<!DOCTYPE html>
<html><head><title>Bad</title></head><body>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<form><input type="text" name="q"><button></button></form>
<p class="faint">Barely readable</p>
<script>window.inlineRan = true;</script>
</body></html>"""
GOOD_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Good</title></head><body>
<main><h1>Search</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="A dot">
<form><label for="q">Query</label><input id="q" type="text" name="q">
<button type="submit">Search</button></form>
<p>Readable</p></main>
</body></html>"""


def _serve(page: Any, body: str) -> None:
    def fulfil(route: Any) -> None:
        route.fulfill(
            status=200,
            body=body,
            headers={"Content-Type": "text/html", "Content-Security-Policy": CSP},
        )

    page.route("http://a11y.test/**", fulfil)


def test_axe_reports_known_faults_under_strict_csp(browser: Any) -> None:
    page = browser.new_page()
    csp_reports: list[str] = []
    page.on("console", lambda m: csp_reports.append(m.text))
    _serve(page, BAD_PAGE.replace('class="faint"', 'class="faint" hidden'))
    page.goto("http://a11y.test/bad")

    # The CSP is in force: the page's own inline script was refused...
    assert page.evaluate("() => window.inlineRan") is None
    assert any("Content Security Policy" in text for text in csp_reports), csp_reports
    # ...and axe still ran and found the faults.
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert found.get("image-alt") == "critical", found
    assert found.get("label") == "critical", found
    assert found.get("button-name") == "critical", found
    assert found.get("html-has-lang") == "serious", found
    page.close()


def test_axe_reports_low_contrast_as_serious(browser: Any) -> None:
    page = browser.new_page()
    _serve(page, GOOD_PAGE)
    page.goto("http://a11y.test/good")
    assert axe_violations(page) == []
    # Grey on white at 1.6:1 (a script change, as a stylesheet would: no inline style).
    page.evaluate("() => { document.querySelector('p').style.color = '#ccc'; }")
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert found == {"color-contrast": "serious"}, found
    page.close()
