"""The live view, plain line output and the key reader (on a pseudo-terminal)."""

from __future__ import annotations

import io
import os
import re
import termios
import time
from typing import Any

import pytest
from fake_driver import FakeDriver, stream
from rich.console import Console

from massager.clock import MonotonicClock
from massager.errors import DeviceError
from massager.runtime.session import Session
from massager.ui.keys import KeyReader
from massager.ui.lanes import ActuatorInfo
from massager.ui.live import LiveView, play
from massager.units import clock_text

KINDS = {
    "roller_l": ActuatorInfo("roller", "left", ("sole",)),
    "vib_l": ActuatorInfo("vibration", "left", ("heel",)),
}


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


def _text(renderable: Any, width: int = 110) -> str:
    other = Console(file=io.StringIO(), width=width, color_system=None)
    other.print(renderable)
    return other.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_live_view_shows_profile_step_time_left_next_step_levels_and_time() -> None:
    session = Session(stream(60_000), FakeDriver(), intensity=0.6)
    out = Tty()
    console = Console(file=out, force_terminal=True, width=110, height=30, color_system=None)
    frames: dict[int, str] = {}
    view = LiveView(session, console, actuators=KINDS, speed=60, by="actuator", keys=True)

    def capture(event: Any) -> None:
        for at in (10_000, 40_000):
            if at <= event.t_ms < at + 100 and at not in frames:
                frames[at] = _text(view.render())

    session.bus.subscribe(capture)
    with view:
        session.run()
    early, frame = frames[10_000], frames[40_000]
    assert "step 1/2 warm (rub) on sole · 0:20 left" in early
    assert "next 2/2 press (heel_press) on heel in 0:20" in early
    assert "fake on fake · device fake · ×60   [playing]" in frame
    assert "step 2/2 press (heel_press) on heel · 0:20 left" in frame
    assert "next: the end" in frame
    roller = re.search(r"roller_l\s+roller\s.*?([+-]\d\.\d\d)", frame)
    assert roller and 0.12 <= float(roller.group(1)) <= 0.48  # the wave x intensity 0.6
    vib = re.search(r"vib_l\s+vibration\s.*?(\d\.\d\d)", frame)
    assert vib and float(vib.group(1)) == 0.48
    assert "elapsed 0:40" in frame and "remaining 0:20" in frame and "67%" in frame
    assert "intensity 0.6" in frame
    assert "space pause/resume" in frame
    final = _text(view.render())
    assert "[done]" in final and "remaining 0:00" in final


def test_the_last_frame_shows_every_output_at_zero_after_a_stop() -> None:
    """q while the outputs still move: the session ramps them down and off, and the last
    frame shows what it left (every level 0.00), not the last heartbeat's levels."""
    session = Session(stream(60_000), FakeDriver(), intensity=1.0)
    out = Tty()
    console = Console(file=out, force_terminal=True, width=100, height=24, color_system=None)
    moving: list[str] = []
    view = LiveView(session, console, actuators=KINDS, keys=True)

    def stop_at_30_s(event: Any) -> None:
        if event.t_ms >= 30_000 and not moving:
            moving.append(_text(view.render(), 100))
            session.stop()

    session.bus.subscribe(stop_at_30_s)
    with view:
        result = session.run()
    assert result.reason == "stopped"
    assert re.search(r"sole\s+roller\s.*[+-]0\.[1-9]\d", moving[0])  # it was moving
    final = _text(view.render(), 100)
    assert "[stopped]" in final
    values = re.findall(r"[+ -]\d\.\d\d\b", final.split("\n\n")[1])
    assert values == [" 0.00", " 0.00"], final
    assert "-0.00" not in final
    assert "space pause" not in final  # no keys are read any more
    assert "[stopped]" in out.getvalue().rsplit("fake on fake", 1)[-1]  # drawn last


def test_one_intensity_on_the_screen_after_a_change() -> None:
    session = Session(stream(60_000), FakeDriver(), intensity=1.0)
    console = Console(file=Tty(), force_terminal=True, width=100, height=24, color_system=None)
    seen: list[str] = []
    view = LiveView(session, console, actuators=KINDS, keys=True)

    def lower(event: Any) -> None:
        if event.t_ms >= 10_000 and not seen:
            session.change_intensity(-0.1)
            seen.append("")
        elif event.t_ms >= 20_000 and len(seen) == 1:
            seen.append(_text(view.render(), 100))

    session.bus.subscribe(lower)
    with view:
        session.run()
    assert len(re.findall(r"intensity \d\.\d", seen[1])) == 1
    assert "intensity 0.9" in seen[1]


def test_nothing_is_drawn_when_the_device_does_not_open() -> None:
    session = Session(stream(60_000), FakeDriver(fail_at_ms=0, fail_on="open"))
    out = Tty()
    console = Console(file=out, force_terminal=True, width=100, height=24, color_system=None)
    with pytest.raises(DeviceError), LiveView(session, console, actuators=KINDS, keys=True):
        session.run()
    assert out.getvalue() == ""  # not a dashboard of zeros, not even a cursor code


def test_no_key_help_when_stdin_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(stream(20_000), FakeDriver(clock=MonotonicClock(speed=50.0)))
    out = Tty()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # keys cannot be read
    assert play(session, out=out, actuators=KINDS).reason == "done"
    assert "roller" in out.getvalue() and "elapsed" in out.getvalue()
    assert "q stop" not in out.getvalue() and "space" not in out.getvalue()


def test_a_failure_is_written_once_in_plain_lines() -> None:
    session = Session(stream(3000), FakeDriver(fail_at_ms=1000))
    out = io.StringIO()
    with pytest.raises(DeviceError) as failure:
        play(session, out=out)
    text = out.getvalue()
    assert text.count(str(failure.value)) == 1, text
    assert text.splitlines()[-1].endswith("finished, error")


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
        session = Session(stream(60_000), FakeDriver(clock=MonotonicClock(speed=10.0)))
        typed: list[float] = []

        def type_q(event: Any) -> None:
            if event.t_ms >= 1000 and not typed:  # once, whenever the first poll past 1 s comes
                typed.append(event.t_ms)
                os.write(master, b"q")

        session.bus.subscribe(type_q)
        with KeyReader(session, stdin):
            result = session.run()
        assert result.reason == "stopped"
        assert typed[0] <= result.session_ms < 60_000  # stopped by the key, not the end
    finally:
        stdin.close()
        os.close(master)


@pytest.mark.parametrize(
    ("keys", "notice"),
    [(True, "intensity 1.0  paused: space resumes"), (False, "intensity 1.0  paused")],
)
def test_a_pause_shows_in_the_head_and_says_how_to_resume_when_keys_are_read(
    keys: bool, notice: str
) -> None:
    session = Session(stream(60_000), FakeDriver(), intensity=1.0)
    console = Console(file=Tty(), force_terminal=True, width=100, height=24, color_system=None)
    view = LiveView(session, console, actuators=KINDS, keys=keys)
    seen: list[str] = []

    def pause_then_stop(event: Any) -> None:
        if event.t_ms >= 10_000 and not seen:
            seen.append("")
            session.pause()
        elif getattr(event, "paused", False) and len(seen) == 1:
            seen.append(_text(view.render(), 100))
            session.stop()

    session.bus.subscribe(pause_then_stop)
    with view:
        session.run()
    assert "[PAUSED]" in seen[1]
    assert seen[1].splitlines()[-2 if keys else -1] == notice


def test_the_view_says_stopping_while_the_outputs_ramp_down() -> None:
    states: list[str] = []

    class Ramping(FakeDriver):
        def poll(self) -> Any:
            if self.stopped and not self.is_off:
                states.append(view.frame().state)
            return super().poll()

    session = Session(stream(60_000), Ramping())
    console = Console(file=Tty(), force_terminal=True, width=100, height=24, color_system=None)
    view = LiveView(session, console, actuators=KINDS, keys=True)
    session.bus.subscribe(lambda e: session.stop() if e.t_ms >= 5000 else None)
    with view:
        session.run()
    assert states and set(states) == {"stopping"}
    assert view.frame().state == "stopped"
