"""Session history in SQLite (standard library): profile, start, duration, outcome, faults."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

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


class History:
    """The sessions the service played, newest first; safe to use from any thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
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
    ) -> int:
        """Record one finished session; returns its id."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO sessions (profile, started_at, duration_ms, outcome, message, faults)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (profile, started_at, duration_ms, outcome, message, json.dumps(faults or [])),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest `limit` sessions, newest first, as the API's history records."""
        with self._lock:
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
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()
