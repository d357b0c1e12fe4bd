"""Small helpers the browser journeys share."""

from __future__ import annotations

import time
from typing import Any


def reload_until(page: Any, url: str, text: str, timeout: float = 45) -> None:
    """Reload ``url`` until ``text`` shows up (webhooks are processed in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if text in page.content():
            return
        assert time.monotonic() < deadline, f"{text!r} never appeared on {url}"
        time.sleep(1)
