"""HTTP front end (stdlib ThreadingHTTPServer) and the in-process server for tests."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .app import Emulator
from .config import EmulatorConfig

logger = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
    # Headers and body go out in two writes; without TCP_NODELAY the body waits
    # for the client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            resp = self.server.emulator.handle(self.command, parts.path, parts.query, headers, body)
        except Exception:
            logger.exception("unhandled error for %s %s", self.command, parts.path)
            self.send_error(500)
            return
        if resp.drop_connection:
            # Simulates a connection reset: no status line, socket closed.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class EmulatorServer:
    """The emulator on a port, in background threads (tests, `python -m`).

    `EmulatorServer(port=0)` picks a free port; `data=":memory:"` keeps state
    in memory, a path keeps it in a SQLite file across restarts.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data: str = ":memory:",
        config: EmulatorConfig | None = None,
    ) -> None:
        self.emulator = Emulator(data, config)
        self._httpd = _Server((host, port), self.emulator)
        self._thread: threading.Thread | None = None
        host_, port_ = self._httpd.server_address[:2]
        self.host = str(host_)
        self.port = int(port_)
        if not self.emulator.config.public_url:
            shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            self.emulator.config.public_url = f"http://{shown}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        self.emulator.start_background()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="emu-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.emulator.start_background()
        try:
            self._httpd.serve_forever()
        finally:
            self.emulator.stop_background()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.emulator.stop_background()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.emulator.store.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
