"""A counting pass-through in front of the Stripe emulator (tests and bench only).

Every request the app makes to "Stripe" goes through it when its base URL is
the app's Stripe base, from any process (web, Celery workers). It forwards
each request unchanged to the emulator and counts them, by method and path,
and the 429s the emulator answered. Loopback only.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers are the proxy's own, not forwarded.
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


class StripeCounter:
    """Counts of what passed through: requests by 'METHOD /path', and 429 answers."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.requests: Counter[str] = Counter()
        self.rate_limited = 0
        self._lock = threading.Lock()
        self.url = ""

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            if path.startswith("/v1/") or path.startswith("/v2/"):
                self.requests[f"{method} {path.split('?')[0]}"] += 1
            if status == 429:
                self.rate_limited += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.rate_limited = 0


def _handler(counter: StripeCounter) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            upstream = http.client.HTTPConnection(
                counter.upstream_host, counter.upstream_port, timeout=120
            )
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
            finally:
                upstream.close()
            counter.record(self.command, self.path, response.status)
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_HEADERS and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the counts are the output

    return Forward


@contextmanager
def stripe_counter(upstream: str) -> Iterator[StripeCounter]:
    """Serve a counting pass-through to ``upstream`` on a free loopback port."""
    counter = StripeCounter(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(counter))
    server.daemon_threads = True
    counter.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="stripe-counter", daemon=True)
    thread.start()
    try:
        yield counter
    finally:
        server.shutdown()
        server.server_close()
