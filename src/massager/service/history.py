"""Session history in SQLite (standard library): profile, start, duration, outcome, faults.

`add` only queues a session (no disk access, so the service reports a session's end
without waiting for the disk); `flush()` writes the queue, and `list()` and `close()`
write whatever is still queued first, so an added session is never missing from a
listing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger("massager.service")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    faults TEXT NOT NULL DEFAULT '[]'
)
"""
_INSERT = (
    "INSERT INTO sessions (profile, started_at, duration_ms, outcome, message, faults)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class History:
    """The sessions the service played, newest first; safe to use from any thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
        self._queued: deque[tuple[str, str, int, str, str, str]] = deque()
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def add(
        self,
        *,
        profile: str,
        started_at: str,
        duration_ms: int,
        outcome: str,
        message: str = "",
        faults: list[str] | None = None,
    ) -> None:
        """Add one finished session: queued, without disk access, for the next `flush()`
        (`list()` and `close()` write it first, so a listing always has it)."""
        row = (profile, started_at, duration_ms, outcome, message, json.dumps(faults or []))
        self._queued.append(row)

    def flush(self) -> None:
        """Write every queued session; a failure is logged (those sessions are lost), not
        raised."""
        with self._lock:
            self._write_queued()

    def _write_queued(self) -> None:
        """Write the queued sessions in one transaction (the caller holds the lock)."""
        rows = []
        while self._queued:
            rows.append(self._queued.popleft())
        if not rows:
            return
        try:
            with self._db:
                self._db.executemany(_INSERT, rows)
        except sqlite3.Error:
            log.exception("could not record %d session(s) in the history", len(rows))

    def list(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest `limit` sessions, newest first, as the API's history records."""
        with self._lock:
            self._write_queued()
            rows = self._db.execute(
                "SELECT id, profile, started_at, duration_ms, outcome, message, faults"
                " FROM sessions ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {
                "id": row[0],
                "profile": row[1],
                "started_at": row[2],
                "duration_ms": row[3],
                "outcome": row[4],
                "message": row[5],
                "faults": json.loads(row[6]),
            }
            for row in rows
        ]

    def close(self) -> None:
        """Write what is queued, then close the database (idempotent)."""
        with self._lock:
            self._write_queued()  # nothing queued after the first close
            self._db.close()
