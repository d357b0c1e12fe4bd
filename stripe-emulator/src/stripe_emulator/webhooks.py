"""Webhook delivery: a dispatcher thread plus a small pool of sender threads.

Deliveries live in the `deliveries` table (one row per event x endpoint) so
they survive restarts with a file database. Each attempt is signed afresh
(Stripe-Signature `t=`, `v1=`, fake `v0=`), only 2xx counts, redirects are
failures and are not followed, and failures are retried on the configured
schedule. Every attempt is logged in `delivery_attempts`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .faults import Faults
    from .store import Store

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
EXCERPT_CHARS = 500


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header value for `body` at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    v1 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Stripe adds a scheme-v0 signature to test events; verifiers ignore it.
    v0 = hashlib.sha256(b"v0:" + signed).hexdigest()
    return f"t={timestamp},v1={v1},v0={v0}"


class DeliveryHost(Protocol):
    """What the dispatcher uses of the emulator (`app.Emulator` is one)."""

    config: EmulatorConfig
    store: Store
    faults: Faults


class Dispatcher:
    def __init__(self, app: DeliveryHost) -> None:
        self.app = app
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(
            max_workers=self.app.config.webhook_workers, thread_name_prefix="emu-webhook"
        )
        self._thread = threading.Thread(target=self._run, name="emu-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._pool is not None:
            # Let in-flight attempts finish (bounded by webhook_timeout) before the
            # store closes under them; queued ones stay pending in the database.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._inflight_lock:
            self._inflight.clear()  # cancelled ones are retried after a restart

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- queries -------------------------------------------------------------

    def pending_count(self) -> int:
        rows = self.app.store.execute(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'"
        )
        return int(rows[0]["n"])

    def wait_idle(self, timeout: float) -> bool:
        """Block until no delivery is pending or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending_count() == 0:
                return True
            time.sleep(0.01)
        return self.pending_count() == 0

    def attempts(self, event_id: str | None = None) -> list[JSONDict]:
        sql = "SELECT * FROM delivery_attempts"
        args: tuple[Any, ...] = ()
        if event_id:
            sql += " WHERE event_id = ?"
            args = (event_id,)
        rows = self.app.store.execute(sql + " ORDER BY seq", args)
        return [
            {
                "delivery": r["delivery_id"],
                "event": r["event_id"],
                "event_type": r["event_type"],
                "endpoint": r["endpoint_id"],
                "url": r["url"],
                "attempt": r["attempt"],
                "status_code": r["status_code"],
                "succeeded": bool(r["succeeded"]),
                "error": r["error"],
                "latency_ms": r["latency_ms"],
                "response_excerpt": r["response_excerpt"],
                "at": r["at"],
            }
            for r in rows
        ]

    def resend(self, event_id: str, endpoint_id: str | None = None) -> int:
        """Queue a fresh delivery of a stored event (manual resend)."""
        event = self.app.store.get(event_id)
        if event is None:
            return 0
        endpoints = self.app.store.all("webhook_endpoint")
        count = 0
        now = time.time()
        body = json.dumps(event, indent=2)
        for ep in endpoints:
            if endpoint_id and ep["id"] != endpoint_id:
                continue
            if ep.get("status") != "enabled":
                continue
            self.app.store.execute(
                "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, "
                "next_attempt_at, body, extra_copies, created) "
                "VALUES (?, ?, ?, 'pending', 0, ?, ?, 0, ?)",
                (
                    "whdel_resend_" + str(time.monotonic_ns()) + ep["id"],
                    event_id,
                    ep["id"],
                    now,
                    body,
                    now,
                ),
            )
            count += 1
        self.notify()
        return count

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                next_due = self._dispatch_due()
            except Exception:
                logger.exception("webhook dispatcher iteration failed")
                next_due = 0.5
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(timeout=min(max(next_due, 0.005), 0.25))

    def _dispatch_due(self) -> float:
        now = time.time()
        rows = self.app.store.execute(
            "SELECT id, next_attempt_at FROM deliveries WHERE status = 'pending' "
            "ORDER BY next_attempt_at, created"
        )
        next_due = 0.25
        for row in rows:
            if row["next_attempt_at"] > now:
                next_due = min(next_due, row["next_attempt_at"] - now)
                break
            with self._inflight_lock:
                if row["id"] in self._inflight:
                    continue
                self._inflight.add(row["id"])
            assert self._pool is not None
            self._pool.submit(self._attempt_safely, row["id"])
        return next_due

    def _attempt_safely(self, delivery_id: str) -> None:
        try:
            self._attempt(delivery_id)
        except Exception:
            logger.exception("webhook delivery %s crashed", delivery_id)
        finally:
            with self._inflight_lock:
                self._inflight.discard(delivery_id)
            self.notify()

    def _attempt(self, delivery_id: str) -> None:
        store = self.app.store
        rows = store.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        if not rows or rows[0]["status"] != "pending":
            return
        row = rows[0]
        endpoint = store.get(row["endpoint_id"])
        if endpoint is None or endpoint.get("deleted") or endpoint.get("status") != "enabled":
            # Stripe stops retrying once the endpoint is disabled or deleted.
            store.execute("UPDATE deliveries SET status = 'abandoned' WHERE id = ?", (delivery_id,))
            return
        attempt_no = int(row["attempts"]) + 1
        faults = self.app.faults.delivery
        body = row["body"].encode()
        event_type = json.loads(row["body"]).get("type", "")
        result: tuple[int | None, bool, str | None, float, str]
        if faults.fail_first_attempt and attempt_no == 1:
            result = (None, False, "injected failure (fail_first_attempt)", 0.0, "")
        else:
            result = self._post(endpoint, body)
        status_code, ok, error = result[0], result[1], result[2]
        self._log_attempt(row, endpoint, event_type, attempt_no, result)
        if ok and row["extra_copies"]:
            # Duplicate delivery fault: the same event, same body, sent again.
            dup = self._post(endpoint, body)
            self._log_attempt(row, endpoint, event_type, attempt_no, dup)
        with store.atomic():
            if ok:
                store.execute(
                    "UPDATE deliveries SET status = 'succeeded', attempts = ? WHERE id = ?",
                    (attempt_no, delivery_id),
                )
                event = store.get(row["event_id"])
                if event is not None:
                    event["pending_webhooks"] = max(0, int(event["pending_webhooks"]) - 1)
                    store.put(event)
            else:
                schedule = self.app.config.webhook_retry_schedule
                if attempt_no > len(schedule):
                    store.execute(
                        "UPDATE deliveries SET status = 'failed', attempts = ? WHERE id = ?",
                        (attempt_no, delivery_id),
                    )
                else:
                    store.execute(
                        "UPDATE deliveries SET attempts = ?, next_attempt_at = ? WHERE id = ?",
                        (attempt_no, time.time() + schedule[attempt_no - 1], delivery_id),
                    )
        logger.info(
            "webhook %s %s -> %s attempt %d: %s",
            row["event_id"],
            event_type,
            endpoint["id"],
            attempt_no,
            status_code if status_code is not None else error,
        )

    def _log_attempt(
        self,
        row: Any,
        endpoint: JSONDict,
        event_type: str,
        attempt_no: int,
        result: tuple[int | None, bool, str | None, float, str],
    ) -> None:
        status_code, ok, error, latency_ms, excerpt = result
        self.app.store.execute(
            "INSERT INTO delivery_attempts (delivery_id, event_id, event_type, endpoint_id, url, "
            "attempt, status_code, succeeded, error, latency_ms, response_excerpt, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["event_id"],
                event_type,
                endpoint["id"],
                endpoint["url"],
                attempt_no,
                status_code,
                int(ok),
                error,
                latency_ms,
                excerpt,
                time.time(),
            ),
        )

    def _post(
        self, endpoint: JSONDict, body: bytes
    ) -> tuple[int | None, bool, str | None, float, str]:
        secret = self.app.store.kv_get(f"secret:{endpoint['id']}", "")
        url = urllib.parse.urlsplit(endpoint["url"])
        conn_cls = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        started = time.monotonic()
        conn = conn_cls(url.netloc, timeout=self.app.config.webhook_timeout)
        try:
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(body, secret, int(time.time())),
                "Accept": "*/*; q=0.5, application/xml",
                "Cache-Control": "no-cache",
            }
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            excerpt = resp.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
            latency = (time.monotonic() - started) * 1000
            return resp.status, 200 <= resp.status < 300, None, latency, excerpt
        except (OSError, http.client.HTTPException) as exc:
            latency = (time.monotonic() - started) * 1000
            return None, False, f"{type(exc).__name__}: {exc}", latency, ""
        finally:
            conn.close()
