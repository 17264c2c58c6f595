"""A deployment: one database, its deployed app (replaceable by ``redeploy``), the admin key, and the
mutation dedup table.

Who may call it: the server modules and the command line. Thread-safe: function calls come from the
server's thread pool; ``redeploy`` swaps the app atomically (calls already running finish on the old
one) and tells every listener (sync sessions) to re-run their queries.

Mutation dedup (``run_mutation_once``): a mutation sent by a session is recorded in the system table
``_session_requests`` in the same transaction as its writes, keyed by ``(sessionId, requestId)``; a
re-send (npm re-sends in-flight mutations after a reconnect, possibly to a restarted server) returns
the stored result without running it again. Records older than ``dedup_ttl_ms`` are dropped at start.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

from engine.model.values import from_json, to_json

DEDUP_TABLE = "_session_requests"


class Deployment:
    def __init__(self, db: Any, app_dir: str | os.PathLike, *, host: str = "reference", config: Any = None,
                 admin_key: str | None = None, dedup_ttl_ms: float = 10 * 60 * 1000) -> None:
        self.db = db
        self.app_dir = str(app_dir)
        self.host = host
        self.config = config
        self.admin_key = admin_key or self._load_admin_key()
        self._lock = threading.Lock()
        self._listeners: set[Callable[[], None]] = set()
        self._dedup: dict[tuple[str, int], str] = {}
        self._dedup_lock = threading.Lock()
        self.dedup_ttl_ms = dedup_ttl_ms
        self.app = db.deploy(self.app_dir, host=host, config=config)
        self._load_dedup()
        self.deploys = 1

    # ---- admin key -------------------------------------------------------------------------------

    def _load_admin_key(self) -> str:
        """Persisted beside the data (``<data>/admin_key``) so clients keep working across restarts."""
        if self.db.path is None:
            return secrets.token_hex(24)
        path = Path(self.db.path) / "admin_key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_hex(24)
        path.write_text(key + "\n")
        os.chmod(path, 0o600)
        return key

    def is_admin(self, key: str | None) -> bool:
        return bool(key) and secrets.compare_digest(str(key), self.admin_key)

    # ---- app lifecycle ---------------------------------------------------------------------------

    def redeploy(self) -> Any:
        """Load the app folder again (a build on a cache miss) and swap it in; raises on a broken app,
        leaving the running one in place."""
        new = self.db.deploy(self.app_dir, host=self.host, config=self.config)
        with self._lock:
            old, self.app = self.app, new
            self.deploys += 1
            listeners = list(self._listeners)
        old.close()
        for notify in listeners:
            notify()
        return new

    def add_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.add(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.discard(fn)

    def close(self) -> None:
        self.app.close()

    # ---- mutations, deduplicated -----------------------------------------------------------------

    def _load_dedup(self) -> None:
        """Load unexpired dedup records and delete expired ones (so the table stays bounded)."""
        horizon = float(self.db.physical_ms()) - self.dedup_ttl_ms

        def load(tx: Any) -> list[dict]:
            keep = []
            for row in tx.query(DEDUP_TABLE).collect():
                if row["_creationTime"] >= horizon:
                    keep.append(row)
                else:
                    tx.system_delete(row["_id"])
            return keep

        for row in self.db.mutate(load, name="session request cleanup"):
            self._dedup[(row["sessionId"], int(row["requestId"]))] = row["result"]

    def run_mutation_once(self, session_id: str | None, request_id: int | None, path: str, args: dict, *,
                          internal: bool = False) -> tuple[Any, int, list[str], bool]:
        """(value, commit ts, log lines, was_duplicate). Function errors propagate as exceptions.
        *internal*: the caller is an admin and may call internal mutations."""
        key = (session_id, int(request_id)) if session_id is not None and request_id is not None else None
        if key is not None:
            with self._dedup_lock:
                stored = self._dedup.get(key)
            if stored is not None:
                return from_json(json.loads(stored)), self.db.latest_ts(), [], True
        app = self.app
        if key is None:
            r = app.run(path, args, internal=internal, expect_kind="mutation")
            return r.value, r.ts, r.logs, False

        def after(tx: Any, value: Any) -> None:
            tx.system_insert(DEDUP_TABLE, {"sessionId": key[0], "requestId": float(key[1]),
                                           "result": json.dumps(to_json(value))})

        r = app.run_mutation_with(path, args, after=after, internal=internal)
        with self._dedup_lock:
            self._dedup[key] = json.dumps(to_json(r.value))
        return r.value, r.ts, r.logs, False


__all__ = ["Deployment", "DEDUP_TABLE"]
