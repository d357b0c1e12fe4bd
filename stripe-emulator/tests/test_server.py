"""The server process: CLI, file-backed state across restarts, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import stripe

from stripe_emulator import DEFAULT_API_VERSION, EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]


def _client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_server", base_addresses={"api": url}, stripe_version=DEFAULT_API_VERSION
    )


def test_file_state_survives_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "emu.sqlite3")
    with EmulatorServer(port=0, data=data) as first:
        cus = _client(first.url).v1.customers.create(params={"email": "keep@example.com"})
    with EmulatorServer(port=0, data=data) as second:
        again = _client(second.url).v1.customers.retrieve(cus.id)
        assert again.email == "keep@example.com"
        events = _client(second.url).v1.events.list()
        assert [e.type for e in events.data] == ["customer.created"]


def test_cli_prints_url_serves_and_reset_wipes(tmp_path: Path) -> None:
    data = tmp_path / "cli.sqlite3"

    def run(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stripe_emulator",
                "--port",
                "0",
                "--data",
                str(data),
                "--log-level",
                "WARNING",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        return proc, proc.stdout.readline().decode().strip()

    proc, url = run()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/_emulator/health", timeout=10) as resp:
            assert json.loads(resp.read())["ok"] is True
        _client(url).v1.customers.create(params={"name": "before reset"})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, url = run("--reset", "--business-name", "Acme SaaS")
    try:
        assert _client(url).v1.customers.list().data == []
        account = _client(url).v1.accounts.retrieve_current()
        assert account.business_profile is not None
        assert account.business_profile.name == "Acme SaaS"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_webhook_handler_can_call_the_api_during_delivery() -> None:
    """dj-stripe re-fetches objects while handling a webhook: no deadlock."""
    config = EmulatorConfig(webhook_retry_schedule=(0.2,), webhook_timeout=5)
    with EmulatorServer(port=0, config=config) as server:
        client = _client(server.url)
        fetched: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                obj = client.v1.customers.retrieve(event["data"]["object"]["id"])
                fetched.append(obj.id)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        try:
            client.v1.webhook_endpoints.create(
                params={
                    "url": f"http://127.0.0.1:{receiver.server_address[1]}/",
                    "enabled_events": ["customer.created"],
                }
            )
            ids = [client.v1.customers.create().id for _ in range(5)]
            assert server.emulator.dispatcher.wait_idle(10)
            assert sorted(fetched) == sorted(ids)
            attempts = server.emulator.dispatcher.attempts()
            assert all(a["succeeded"] for a in attempts)
        finally:
            receiver.shutdown()
            receiver.server_close()


def test_concurrent_clients_while_webhooks_deliver() -> None:
    config = EmulatorConfig(webhook_retry_schedule=(0.2,), webhook_timeout=5)
    with EmulatorServer(port=0, config=config) as server:
        received: list[bytes] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        errors: list[BaseException] = []
        try:
            _client(server.url).v1.webhook_endpoints.create(
                params={
                    "url": f"http://127.0.0.1:{receiver.server_address[1]}/",
                    "enabled_events": ["*"],
                }
            )

            def work(n: int) -> None:
                client = _client(server.url)
                try:
                    for i in range(20):
                        cus = client.v1.customers.create(params={"name": f"{n}-{i}"})
                        client.v1.customers.update(cus.id, params={"metadata": {"n": str(n)}})
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert errors == []
            assert server.emulator.dispatcher.wait_idle(20)
            assert len(server.emulator.store.all("customer")) == 160
            assert len(server.emulator.store.all("event")) == 320
            event_ids = {json.loads(b)["id"] for b in received}
            assert len(event_ids) == 320
        finally:
            receiver.shutdown()
            receiver.server_close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_helpers_refuse_what_a_page_on_another_site_can_send() -> None:
    with EmulatorServer(port=0) as server:
        client = _client(server.url)
        cus = client.v1.customers.create(params={"email": "kept@example.com"})
        reset = f"{server.url}/_emulator/reset"

        # What a cross-site form or no-cors fetch() sends without a CORS preflight.
        for body, headers in [
            (b"{}", {"Content-Type": "text/plain"}),
            (b"x=1", {"Content-Type": "application/x-www-form-urlencoded"}),
            (b"", {}),
        ]:
            status, answer = _post(reset, body, headers)
            assert status == 415, (headers, answer)
            assert "Content-Type: application/json" in answer["error"]["message"]
        # JSON, but the browser says it comes from another site.
        for foreign in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},  # another port on localhost
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
        ):
            status, answer = _post(reset, b"{}", {"Content-Type": "application/json", **foreign})
            assert status == 403, (foreign, answer)
            assert "cross-site" in answer["error"]["message"]
        assert client.v1.customers.retrieve(cus.id).email == "kept@example.com"

        # Programs and the emulator's own pages get through.
        status, answer = _post(
            f"{server.url}/_emulator/webhooks/wait",
            b'{"timeout": 1}',
            {"Content-Type": "application/json; charset=utf-8", "Origin": server.url},
        )
        assert status == 200, answer
        status, answer = _post(reset, b"", {"Content-Type": "application/json"})
        assert status == 200, answer
        assert client.v1.customers.list().data == []
        delete = urllib.request.Request(f"{server.url}/_emulator/faults", method="DELETE")
        with urllib.request.urlopen(delete, timeout=10) as response:
            assert response.status == 200
