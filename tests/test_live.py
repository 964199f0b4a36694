"""The live view, plain line output and the key reader (on a pseudo-terminal)."""

from __future__ import annotations

import io
import os
import re
import termios
import time
from typing import Any

from fake_driver import FakeDriver, stream
from rich.console import Console

from massager.clock import MonotonicClock
from massager.runtime.session import Session
from massager.ui.live import KeyReader, LiveView, clock_text, play


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_clock_text() -> None:
    assert clock_text(0) == "0:00"
    assert clock_text(61_999) == "1:01"
    assert clock_text(3_725_000) == "1:02:05"


def test_plain_output_has_a_line_per_step_and_event() -> None:
    session = Session(stream(3000), FakeDriver(), intensity=0.5)
    session.bus.subscribe(lambda e: session.change_intensity(0.1) if e.t_ms >= 1000 else None)
    out = io.StringIO()
    result = play(session, out=out)
    assert result.reason == "done"
    lines = out.getvalue().splitlines()
    assert lines[0] == "[0:00] fake on fake (device fake): 0:03, 2 steps, intensity 0.5"
    assert lines[1] == "[0:00] step 1/2 warm (rub) on sole"
    assert "[0:01] step 2/2 press (heel_press) on heel" in lines
    assert any(line.endswith("intensity 0.5 -> 0.6") for line in lines)
    assert lines[-1] == "[0:03] finished, done"
    assert "\x1b" not in out.getvalue()  # no terminal control codes in a pipe


def test_live_view_shows_profile_step_bars_and_time() -> None:
    session = Session(stream(60_000), FakeDriver(), intensity=0.6)
    out = Tty()
    console = Console(file=out, force_terminal=True, width=110, color_system=None)
    frames: list[str] = []
    view = LiveView(session, console, kinds={"roller_l": "roller", "vib_l": "vibration"}, speed=60)

    def capture(event: Any) -> None:
        if 40_000 <= event.t_ms < 40_100:
            other = Console(file=io.StringIO(), width=110, color_system=None)
            other.print(view.render())
            frames.append(other.file.getvalue())  # type: ignore[attr-defined]

    session.bus.subscribe(capture)
    with view:
        session.run()
    frame = frames[0]
    assert "fake on fake · device fake · ×60" in frame
    assert "step 2/2 press (heel_press) on heel" in frame
    assert "roller_l" in frame and "roller" in frame and "vib_l" in frame
    roller = re.search(r"roller_l\s+roller\s.*?([+-]\d\.\d\d)", frame)
    assert roller and 0.12 <= float(roller.group(1)) <= 0.48  # the wave x intensity 0.6
    vib = re.search(r"vib_l\s+vibration\s.*?(\d\.\d\d)", frame)
    assert vib and float(vib.group(1)) == 0.48
    assert "elapsed 0:40" in frame and "remaining 0:20" in frame and "67%" in frame
    assert "intensity 0.6" in frame
    assert "space pause/resume" in frame
    final = out.getvalue()
    assert "[ended]" in final and "remaining 0:00" in final


class Controls:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def toggle_pause(self) -> None:
        self.calls.append("toggle")

    def change_intensity(self, delta: float) -> float:
        self.calls.append(f"{delta:+.1f}")
        return 0.0

    def stop(self) -> None:
        self.calls.append("stop")


def test_key_reader_uses_cbreak_mode_maps_keys_and_restores_the_terminal() -> None:
    master, slave = os.openpty()
    stdin = open(slave, encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        before = termios.tcgetattr(slave)
        controls = Controls()
        with KeyReader(controls, stdin):  # type: ignore[arg-type]
            during = termios.tcgetattr(slave)
            assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
            assert during[3] & termios.ISIG  # Ctrl-C still signals
            os.write(master, b" +-=_qx")
            deadline = time.monotonic() + 5
            while len(controls.calls) < 6 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert controls.calls == ["toggle", "+0.1", "-0.1", "+0.1", "-0.1", "stop"]
        assert termios.tcgetattr(slave) == before
    finally:
        stdin.close()
        os.close(master)


def test_key_reader_restores_the_terminal_when_the_session_fails() -> None:
    master, slave = os.openpty()
    stdin = open(slave, encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        before = termios.tcgetattr(slave)
        try:
            with KeyReader(Controls(), stdin):  # type: ignore[arg-type]
                raise RuntimeError("device gone")
        except RuntimeError:
            pass
        assert termios.tcgetattr(slave) == before
    finally:
        stdin.close()
        os.close(master)


def test_q_key_stops_a_running_session() -> None:
    master, slave = os.openpty()
    stdin = open(slave, encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        session = Session(stream(4000), FakeDriver(clock=MonotonicClock(speed=10.0)))
        session.bus.subscribe(lambda e: os.write(master, b"q") if 1000 <= e.t_ms < 1100 else None)
        with KeyReader(session, stdin):
            result = session.run()
        assert result.reason == "stopped"
        assert 1000 <= result.session_ms < 2500
    finally:
        stdin.close()
        os.close(master)
