"""The session history: a session's end is reported before its disk write, and never missed.

`History.add` only queues; `flush()` writes; `list()` and `close()` write what is queued
first. The service reports a session's end (idle) before the history's disk write, so
the write is off the path to idle, and a listing in between still has the session.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from massager.service.core import CoreOptions, ServiceCore
from massager.service.history import History
from massager.service.rpc import Client


def _rows_on_disk(path: Path) -> int:
    """How many sessions another connection reads in the database file."""
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


def _add(history: History, profile: str) -> None:
    history.add(
        profile=profile,
        started_at="2026-12-01T16:00:00Z",
        duration_ms=1234,
        outcome="stopped",
        message="",
        faults=["heater"],
    )


def test_an_added_session_is_listed_before_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    history = History(path)
    _add(history, "quick")
    assert _rows_on_disk(path) == 0  # queued: no disk access yet
    listed = history.list()
    assert [(r["profile"], r["duration_ms"], r["faults"]) for r in listed] == [
        ("quick", 1234, ["heater"])
    ]
    assert _rows_on_disk(path) == 1
    history.flush()  # nothing queued: nothing written twice
    assert _rows_on_disk(path) == 1
    history.close()


def test_flush_writes_and_close_writes_what_is_still_queued(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    history = History(path)
    _add(history, "first")
    history.flush()
    assert _rows_on_disk(path) == 1
    _add(history, "second")
    history.close()
    history.close()  # idempotent
    again = History(path)
    assert [r["profile"] for r in again.list()] == ["second", "first"]
    again.close()


def test_a_failed_write_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.sqlite"
    history = History(path)
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE sessions")
    _add(history, "quick")
    with caplog.at_level(logging.ERROR, logger="massager.service"):
        history.flush()
    assert "could not record 1 session(s) in the history" in caplog.text
    history.close()


def test_the_service_reports_idle_before_the_history_write(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    history = History(path)
    core = ServiceCore(CoreOptions(speed=50.0, deadman_s=None), history)
    seen: list[tuple[str, int]] = []

    def listener() -> None:  # the session thread's own report of the end (not the stop's)
        run = core.run
        if run is not None and threading.current_thread() is run.thread and core.state == "idle":
            seen.append((core.state, _rows_on_disk(path)))

    core.add_listener(listener)
    phone = Client("ws-1", "phone")
    core.connect(phone)
    core.start(phone, core.compile(profile="quick"))
    core.stop()
    assert core.wait_idle(30)
    run = core.run
    assert run is not None and run.thread is not None
    run.thread.join(10)
    assert not run.thread.is_alive()
    assert seen == [("idle", 0)]  # idle went out while the session was only queued
    assert _rows_on_disk(path) == 1  # then the session thread wrote it
    assert [r["profile"] for r in history.list()] == ["quick"]
    history.close()
