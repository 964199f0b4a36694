"""Traces that never lie (issue 8, item 4): a write failure at any time is its own error.

A failing trace never becomes a device fault: the writer keeps the first failure and
drops later writes, the session ramps down and ends with `TraceError` (exit 3, "trace FILE
could not be written: ..."), a failure in the final flush included. Rows reach the disk at
least every second. The pre-check refuses a read-only or full target up front (exit 2).
Real full and read-only file systems are small tmpfs mounts (the tests run as root, as CI
does).
"""

from __future__ import annotations

import errno
import io
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from massager import api, trace
from massager.cli import run as cli
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.errors import TraceError
from massager.runtime.events import Fault, Finished, Recorder
from massager.runtime.session import Session
from massager.trace import TraceWriter

LAG_NOTE = "note: this machine could not keep up with --speed"
"""How `run` on the simulator says a busy host slowed its clock (printed only under load)."""
ENOSPC = "No space left on device"


class _FailingFile(io.StringIO):
    """A text file that takes `room` characters, then fails like a full disk."""

    def __init__(self, room: int, *, fail_on_close: bool = False) -> None:
        super().__init__()
        self.room = room
        self.fail_on_close = fail_on_close
        self.name = "full.csv"

    def write(self, text: str) -> int:
        if self.tell() + len(text) > self.room:
            raise OSError(errno.ENOSPC, ENOSPC)
        return super().write(text)

    def close(self) -> None:
        if self.fail_on_close:
            raise OSError(errno.ENOSPC, ENOSPC)
        super().close()


def test_a_writer_that_runs_out_of_room_keeps_the_failure_and_never_raises() -> None:
    out = _FailingFile(room=200)
    writer = TraceWriter(out, [("a", ""), ("b", "")])
    for i in range(100):
        writer.sample(0, i * 10.0, (i % 7) / 7)  # corners: rows every sample
        writer.sample(1, i * 10.0, (i % 3) / 3)
    assert writer.failure is not None
    assert str(writer.failure) == f"trace full.csv could not be written: {ENOSPC}"
    assert writer.failure.exit_code == 3
    first = writer.failure
    writer.close()  # never raises, keeps the first failure
    assert writer.failure is first
    assert len(out.getvalue()) <= 200


def test_rows_reach_the_file_within_a_second(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    now = [1000.0]
    monkeypatch.setattr(trace.time, "monotonic", lambda: now[0])
    path = tmp_path / "t.csv"
    writer = TraceWriter(path, [("a", "")])
    writer.sample(0, 0.0, 0.0)
    writer.sample(0, 10.0, 0.5)
    writer.sample(0, 20.0, 0.0)  # a corner: the row at 10 ms is written (to the buffer)
    writer.flush_due()
    assert path.read_text() == ""  # under a second: still buffered
    now[0] += trace.FLUSH_S
    writer.flush_due()
    assert path.read_text().splitlines()[1:] == ["0.0,a,0.000,,,", "10.0,a,0.500,,,"]
    writer.close()


def test_the_simulator_flushes_its_trace_on_a_poll_after_a_second(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rig = api.load_rig()
    driver = SimDriver(rig, DriverOptions(trace=path))  # a real clock
    driver.open()
    driver.start()
    driver.poll()
    before = path.stat().st_size
    import time

    time.sleep(trace.FLUSH_S + 0.1)
    driver.poll()
    after = path.read_text()
    driver.close()
    assert before == 0
    assert after.startswith("t_ms,actuator,level") and len(after.splitlines()) > len(rig.actuators)


def _session(path: Path) -> tuple[Session, SimDriver, Recorder]:
    rig = api.load_rig()
    stream = api.compile_stream(api.load_profile("quick"), rig)
    driver = SimDriver(rig, DriverOptions(virtual=True, trace=path))
    session = Session(stream, driver)
    return session, driver, Recorder(session.bus)


def test_a_trace_on_a_full_device_ends_the_session_with_a_trace_error(tmp_path: Path) -> None:
    session, driver, events = _session(Path("/dev/full"))
    with pytest.raises(TraceError) as info:
        session.run()
    assert str(info.value) == f"trace /dev/full could not be written: {ENOSPC}"
    assert info.value.exit_code == 3
    assert set(driver.levels().values()) == {0.0}
    faults = events.of(Fault)
    assert [f.kind for f in faults] == ["output"]  # not a device fault, not "hal"
    finished = events.of(Finished)
    assert len(finished) == 1 and finished[0].exit_code == 3


def test_a_failure_in_the_final_flush_is_reported_not_swallowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_open = open

    def open_full_at_close(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("t.csv"):
            return _FailingFile(room=10**9, fail_on_close=True)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(trace, "open", open_full_at_close, raising=False)
    target = tmp_path / "t.csv"
    assert cli(["simulate", "quick", "--trace", str(target)]) == 3
    err = capsys.readouterr().err
    assert err.strip().endswith(f"trace {target} could not be written: {ENOSPC}")


# -- real file systems ------------------------------------------------------------------


@pytest.fixture
def small_fs() -> Iterator[Path]:
    """A 64 KiB tmpfs (16 pages), mounted for the test and unmounted after."""
    yield from _mount("size=64k")


@pytest.fixture
def read_only_fs() -> Iterator[Path]:
    """A read-only tmpfs."""
    yield from _mount("size=64k,ro")


def _mount(options: str) -> Iterator[Path]:
    point = Path(tempfile.mkdtemp(prefix="mfs-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
        point.rmdir()


def _fill(folder: Path, leave_pages: int = 0) -> None:
    """Fill `folder`'s file system, leaving `leave_pages` pages of 4 KiB free."""
    blob = folder / "blob"
    with open(blob, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    if leave_pages:
        size = blob.stat().st_size
        with open(blob, "r+b") as f:
            f.truncate(max(0, size - leave_pages * 4096))


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_is_a_trace_error(
    small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = small_fs / "t.csv"
    assert cli(["simulate", "classic", "--trace", str(target)]) == 3  # ~900 KB of trace
    err = capsys.readouterr().err
    assert f"trace {target} could not be written: {ENOSPC}" in err
    assert "hal" not in err and "Traceback" not in err
    assert target.stat().st_size > 0  # what fitted is there, up to the failure


@pytest.mark.slow
def test_a_run_whose_trace_fills_the_disk_ramps_down_and_exits_3(
    small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = small_fs / "t.csv"
    assert cli(["run", "quick", "--speed", "10", "--trace", str(target)]) == 3
    captured = capsys.readouterr()
    # the error, once; a starved host may also be told the simulator slowed its clock
    lines = [line for line in captured.err.splitlines() if not line.startswith(LAG_NOTE)]
    assert lines == [f"trace {target} could not be written: {ENOSPC}"]
    assert f"fault (output): trace {target} could not be written" in captured.out
    assert "finished, error" in captured.out
    assert target.read_text().startswith("t_ms,actuator,level")  # what fitted, then the cut


@pytest.mark.slow
def test_a_full_disk_is_refused_before_anything_starts(
    small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(small_fs)
    target = small_fs / "t.csv"
    for command in (["run", "quick"], ["simulate", "quick"]):
        assert cli([*command, "--trace", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"--trace cannot write {str(target)!r}: {ENOSPC}"
        assert not target.exists()
    assert cli(["plot", "quick", "-o", str(small_fs / "p.png")]) == 2
    assert ENOSPC in capsys.readouterr().err


@pytest.mark.slow
def test_a_read_only_file_system_is_refused_before_anything_starts(
    read_only_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ["run", "quick", "--trace", str(read_only_fs / "t.csv")],
        ["simulate", "quick", "--trace", str(read_only_fs / "t.csv")],
        ["plot", "quick", "-o", str(read_only_fs / "p.png")],
        ["simulate", "quick", "--plot", str(read_only_fs / "p.png")],
    ):
        assert cli(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.endswith(": Read-only file system"), err


@pytest.mark.slow
def test_a_picture_that_does_not_fit_is_an_output_error(
    small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(small_fs, leave_pages=1)  # room for the pre-check's line, not for a picture
    target = small_fs / "p.png"
    assert cli(["plot", "classic", "-o", str(target)]) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"plot {target} could not be written: {ENOSPC}", err
