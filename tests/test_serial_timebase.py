"""The serial driver's session timebase and command history, on plain numbers (no device)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.ticks import TICKS_MAX, ticks_diff
from massager.drivers.serial_history import CommandHistory, resumed
from massager.drivers.serial_timebase import SessionTimebase
from massager.stream import Command


def test_session_time_starts_a_lead_after_start_and_stands_before_it() -> None:
    tb = SessionTimebase()
    assert tb.at(5_000_000.0) == 0.0
    tb.start(1_000_000.0, lead_ms=500)
    assert tb.device_us(0) == 1_500_000.0
    assert tb.at(1_500_000.0) == 0.0
    assert tb.at(2_500_000.0) == 1000.0
    assert tb.now_ms(1_200_000.0) == 0.0  # before session time 0: reported as 0


@given(st.floats(0, 2**31), st.floats(0, 3_600_000))
def test_ticks_are_the_wrapped_device_time_of_a_session_time(start: float, at_ms: float) -> None:
    tb = SessionTimebase()
    tb.start(start, lead_ms=500)
    ticks = tb.ticks(at_ms)
    assert 0 <= ticks <= TICKS_MAX
    assert ticks_diff(ticks, round(tb.device_us(at_ms)) & TICKS_MAX) == 0
    assert abs(tb.at(tb.device_us(at_ms)) - at_ms) < 1e-6 * max(1.0, at_ms)


def test_a_pause_holds_session_time_and_the_device_shift_moves_later_commands() -> None:
    tb = SessionTimebase()
    tb.start(0.0, lead_ms=0)
    tb.pause(2_000_000.0)
    assert tb.paused and tb.at(9_000_000.0) == 2000.0
    tb.resume(3_000_000)  # the device stood 3 s
    assert not tb.paused
    assert tb.at(6_000_000.0) == 3000.0
    assert tb.device_us(3000) == 6_000_000.0


def test_the_device_shift_is_taken_across_its_32_bit_wrap() -> None:
    tb = SessionTimebase()
    tb.start(0.0, lead_ms=0)
    tb.device_shift_is(0xFFFFFF00)
    tb.take_shift(0x00000100)  # 0x200 us later, the counter wrapped
    assert tb.shift_us == 0x200


def test_reported_session_time_never_goes_backwards() -> None:
    tb = SessionTimebase()
    tb.start(0.0, lead_ms=0)
    assert tb.now_ms(5_000_000.0) == 5000.0
    assert tb.now_ms(4_000_000.0) == 5000.0  # a worse clock estimate later


def test_resuming_after_a_recovery_moves_the_anchor() -> None:
    tb = SessionTimebase()
    tb.start(0.0, lead_ms=0)
    tb.now_ms(10_000_000.0)
    tb.resume_at(50_000_000.0, lead_ms=300, t_ms=8000.0)  # resume the program from 8 s
    assert tb.at(50_300_000.0) == 8000.0
    assert tb.now_ms(50_300_000.0) == 8000.0  # the report may step back to the replay point


def test_history_replays_the_command_in_force_then_every_later_one() -> None:
    history = CommandHistory()
    history.add(
        [
            Command(0, "a", "set", level=0.2),
            Command(1000, "a", "ramp", level=0.8, duration_ms=2000),
            Command(4000, "a", "off"),
            Command(500, "b", "set", level=0.5),
        ]
    )
    again = history.replay_from(2000.0)
    assert [(c.at_ms, c.actuator, c.op) for c in again] == [
        (2000, "a", "ramp"),
        (2000, "b", "set"),
        (4000, "a", "off"),
    ]
    assert again[0].duration_ms == 1000  # the rest of the ramp, to the same goal
    history.prune(3500.0)
    assert [c.at_ms for c in history.replay_from(3600.0)] == [3600, 3600, 4000]


def test_a_finished_ramp_resumes_as_a_set_of_its_goal() -> None:
    ramp = Command(0, "a", "ramp", level=0.7, duration_ms=100)
    assert resumed(ramp, 500.0) == Command(500, "a", "set", level=0.7, step=ramp.step)


def test_wire_ids_wrap_at_16_bits_and_name_the_commands_sent() -> None:
    history = CommandHistory()
    history.next_id = 0xFFFF
    first, second = Command(0, "a", "set", level=0.1), Command(5, "a", "off")
    assert history.number(first) == 0xFFFF
    assert history.number(second) == 0
    assert history.command(0xFFFF) is first and history.command(0) is second
    assert history.command(7) is None


def test_the_hold_clock_stands_still_while_held() -> None:
    from massager.clock import HoldClock, SteppedTime, VirtualClock

    time = SteppedTime(VirtualClock(100_000.0))
    clock = HoldClock(time)
    time.sleep(1.0)
    assert clock.now_ms() == 1000.0
    clock.hold()
    time.sleep(3.0)
    assert clock.now_ms() == 1000.0  # a link outage: session time waits
    clock.release()
    time.sleep(1.0)
    assert clock.now_ms() == 2000.0


def test_stepped_time_runs_every_attached_step_at_each_step() -> None:
    from massager.clock import SteppedTime

    time = SteppedTime(step_s=0.01)
    seen: list[float] = []
    time.attach(lambda: seen.append(time.now()))
    time.sleep(0.05)
    assert seen == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    time.sleep(0.0)  # still one step: a wait always lets the world move
    assert len(seen) == 6
