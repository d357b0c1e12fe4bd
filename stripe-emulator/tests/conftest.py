"""Fixtures for emulator tests: an in-process emulator and a webhook receiver.

The emulator runs in threads on a free port with in-memory state; the real
stripe SDK talks to it over HTTP. No Django database is involved.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_emulator import DEFAULT_API_VERSION, EmulatorConfig, EmulatorServer
from stripe_emulator.conformance import ConformanceCollector
from stripe_emulator.snapshots import VersionedCollector

API_KEY = "sk_test_emulator_tests"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(webhook_retry_schedule=(0.2, 0.4, 0.8), webhook_timeout=5)
    server = EmulatorServer(port=0, data=":memory:", config=config).start()
    yield server
    server.stop()


# Field coverage against fixtures3.json, summed over the session (see
# pytest_terminal_summary below).
SESSION_COVERAGE = ConformanceCollector()

# "stripe-python 16.1.0 (2026-10-28.endive)": the stock SDKs whose lifecycle run
# passed (test_sdk_lifecycle.py, test_node_sdk.py), named in the summary.
SDK_RUNS: list[str] = []


@pytest.fixture
def conformance(emulator_server: EmulatorServer) -> Iterator[ConformanceCollector]:
    """Checks every object the emulator returns in the test against its version's schema.

    Covers every HTTP response, in the API version it was rendered in, and,
    at teardown, every Event recorded during the test in its `api_version`
    (so objects only seen in webhooks are checked too), against the schema
    snapshot of the stripe-python release pinned to that version
    (stripe_emulator/schemas/). The yielded collector keeps the field
    coverage tally against fixtures3.json.
    """
    collector = ConformanceCollector()
    versioned = VersionedCollector()
    emu = emulator_server.emulator
    emu.response_hooks.append(collector.hook)
    emu.versioned_response_hooks.append(versioned.hook)
    yield collector
    emu.response_hooks.remove(collector.hook)
    emu.versioned_response_hooks.remove(versioned.hook)
    for event in emu.store.all("event"):
        versioned.hook("EVENT", str(event["type"]), 200, event, str(event["api_version"]))
    SESSION_COVERAGE.merge(collector)
    problems = versioned.violations()
    assert not problems, "conformance violations:\n" + "\n".join(problems[:50])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SDK_RUNS:
        terminalreporter.write_line(
            "stripe emulator: subscription lifecycle with " + ", ".join(dict.fromkeys(SDK_RUNS))
        )
    if not SESSION_COVERAGE.seen:
        return
    report = SESSION_COVERAGE.report()
    out = Path(__file__).resolve().parents[1] / "var" / "stripe_emulator_coverage.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report + "\n")
    terminalreporter.write_line(
        f"stripe emulator: {len(SESSION_COVERAGE.seen)} object types conform to the SDK; "
        f"field coverage vs fixtures3.json in {out}"
    )
    if os.environ.get("STRIPE_EMULATOR_COVERAGE_REPORT"):
        terminalreporter.write_line(report)


@pytest.fixture
def emulator(
    emulator_server: EmulatorServer, conformance: ConformanceCollector
) -> Iterator[EmulatorServer]:
    """A clean emulator (state, faults, retry schedule) with module-level stripe aimed at it."""
    emu = emulator_server.emulator
    emu.dispatcher.wait_idle(5)
    emu.reset()
    emu.config.webhook_retry_schedule = (0.2, 0.4, 0.8)
    saved = (stripe.api_key, stripe.api_base, stripe.api_version, stripe.max_network_retries)
    stripe.api_key = API_KEY
    stripe.api_base = emulator_server.url
    stripe.api_version = DEFAULT_API_VERSION
    stripe.max_network_retries = 2
    yield emulator_server
    stripe.api_key, stripe.api_base, stripe.api_version, stripe.max_network_retries = saved
    emu.faults.clear()


@pytest.fixture
def client(emulator: EmulatorServer) -> stripe.StripeClient:
    """A StripeClient aimed at the emulator (the style new code should use)."""
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": emulator.url},
        stripe_version=DEFAULT_API_VERSION,
        max_network_retries=2,
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class WebhookReceiver:
    """A tiny HTTP server that records deliveries and answers scripted statuses."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    # statuses to answer, consumed in order; then `default_status`
    script: list[int] = field(default_factory=list)
    default_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        with self.lock:
            return list(self.received)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, dict(self.headers.items()), body, time.time())
                )
                status = receiver.script.pop(0) if receiver.script else receiver.default_status
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            payload = b'{"received": true}'
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield receiver
    httpd.shutdown()
    httpd.server_close()
