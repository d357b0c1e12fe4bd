"""SQLite-backed state: Stripe objects as JSON documents keyed by id.

One connection guarded by one re-entrant lock. The emulator serialises every
API request on that lock (see `Store.atomic`), which keeps the handlers simple
(read-modify-write with no races) and is far faster than the HTTP layer anyway.
Webhook delivery only takes the lock for its short bookkeeping writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

JSONDict = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type ON objects(type, deleted);
-- Lists read newest first, a page at a time (Store.iter_all).
CREATE INDEX IF NOT EXISTS objects_type_created ON objects(type, deleted, created);
-- A customer's objects (all_where(..., {"customer": ...})): a renewal looks up the
-- customer's subscriptions for its entitlements; without this every renewal of a
-- test clock's advance scanned all subscriptions.
CREATE INDEX IF NOT EXISTS objects_customer
    ON objects(type, json_extract(data, '$.customer'), created) WHERE deleted = 0;
-- A subscription's invoices (a paid invoice looks for the subscription's open ones).
CREATE INDEX IF NOT EXISTS objects_subscription
    ON objects(type, json_extract(data, '$.parent.subscription_details.subscription'), created)
    WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    body TEXT NOT NULL,
    extra_copies INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    succeeded INTEGER NOT NULL,
    error TEXT,
    latency_ms REAL NOT NULL,
    response_excerpt TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_event ON delivery_attempts(event_id);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Store:
    """Object storage. Every public method is thread-safe."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the state lock and run in a transaction; nested blocks are savepoints."""
        with self.lock:
            depth = self._depth
            self._conn.execute("BEGIN" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._depth += 1
            ok = False
            try:
                yield
                ok = True
            finally:
                self._depth -= 1
                if depth == 0:
                    self._conn.execute("COMMIT" if ok else "ROLLBACK")
                elif ok:
                    self._conn.execute(f"RELEASE sp{depth}")
                else:
                    self._conn.execute(f"ROLLBACK TO sp{depth}")
                    self._conn.execute(f"RELEASE sp{depth}")

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self._conn.execute(sql, args))

    def reset(self) -> None:
        with self.lock:
            for table in ("objects", "idempotency", "deliveries", "delivery_attempts", "kv"):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names

    # -- objects -----------------------------------------------------------

    def get(self, object_id: str, *, include_deleted: bool = True) -> JSONDict | None:
        """The stored object with this id, whatever its type."""
        with self.lock:
            row = self._conn.execute(
                "SELECT data, deleted FROM objects WHERE id = ?", (object_id,)
            ).fetchone()
        if row is None or (row["deleted"] and not include_deleted):
            return None
        data: JSONDict = json.loads(row["data"])
        return data

    def get_typed(self, object_type: str, object_id: str) -> JSONDict | None:
        obj = self.get(object_id)
        if obj is None or obj.get("object") != object_type:
            return None
        return obj

    def put(self, obj: JSONDict, *, deleted: bool = False) -> JSONDict:
        """Insert or replace `obj` (must carry `id` and `object`); keeps list order."""
        # `_created` orders objects whose Stripe shape has no `created` field.
        created = int(obj.get("created") or obj.get("_created") or time.time())
        with self.lock:
            self._conn.execute(
                "INSERT INTO objects (id, type, created, deleted, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data, deleted = excluded.deleted",
                (obj["id"], obj["object"], created, int(deleted), json.dumps(obj)),
            )
        return obj

    def remove(self, object_id: str) -> None:
        """Forget an object entirely (retrieve then answers 404)."""
        with self.lock:
            self._conn.execute("DELETE FROM objects WHERE id = ?", (object_id,))

    def all(
        self,
        object_type: str,
        where: Callable[[JSONDict], bool] | None = None,
        *,
        include_deleted: bool = False,
    ) -> list[JSONDict]:
        """Objects of one type, newest first (creation order), optionally filtered."""
        sql = "SELECT data FROM objects WHERE type = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        sql += " ORDER BY created DESC, rowid DESC"
        with self.lock:
            rows = self._conn.execute(sql, (object_type,)).fetchall()
        out = [json.loads(r["data"]) for r in rows]
        if where is not None:
            out = [o for o in out if where(o)]
        return out

    def iter_all(
        self, object_type: str, *, include_deleted: bool = False, batch: int = 100
    ) -> Iterator[JSONDict]:
        """Objects of one type, newest first, read and decoded as they are consumed.

        A page of a long list (``limit=10`` of thousands of events) reads and
        decodes about that many objects instead of all of them. Rows are read in
        batches by keyset (created, rowid), each batch under the lock, so
        writers are not held up while a caller works through the objects.
        """
        where = "type = ?" + ("" if include_deleted else " AND deleted = 0")
        order = " ORDER BY created DESC, rowid DESC LIMIT ?"
        first = f"SELECT rowid, created, data FROM objects WHERE {where}{order}"  # noqa: S608
        after = (
            f"SELECT rowid, created, data FROM objects WHERE {where}"  # noqa: S608 - fixed SQL
            f" AND (created < ? OR (created = ? AND rowid < ?)){order}"
        )
        args: tuple[Any, ...] = (object_type, batch)
        sql = first
        while True:
            with self.lock:
                rows = self._conn.execute(sql, args).fetchall()
            for row in rows:
                yield json.loads(row["data"])
            if len(rows) < batch:
                return
            last = rows[-1]
            sql = after
            args = (object_type, last["created"], last["created"], last["rowid"], batch)

    def all_where(self, object_type: str, equals: dict[str, Any]) -> list[JSONDict]:
        """Objects of one type whose JSON fields equal the given values, newest first.

        Keys are dotted paths (`"parent.subscription_details.subscription"`);
        a None value matches null or absent. The filtering runs in SQLite
        (json_extract), so hot paths avoid decoding every object of the type.
        """
        sql = "SELECT data FROM objects WHERE type = ? AND deleted = 0"
        args: list[Any] = [object_type]
        for path, value in equals.items():
            expr = f"json_extract(data, '$.{path}')"
            if not all(part.isidentifier() for part in path.split(".")):
                raise ValueError(f"bad JSON path {path!r}")
            if value is None:
                sql += f" AND {expr} IS NULL"
            else:
                sql += f" AND {expr} = ?"
                args.append(value)
        sql += " ORDER BY created DESC, rowid DESC"
        with self.lock:
            rows = self._conn.execute(sql, tuple(args)).fetchall()
        return [json.loads(r["data"]) for r in rows]

    # -- small key/value settings -------------------------------------------

    def kv_get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def kv_set(self, key: str, value: Any) -> None:
        with self.lock:
            self._conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
