"""The session on the simulator: each control and each way out, seen in the trace it leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from session_support import script
from sim_support import PROGRAM, RIG, simulate, slew_reference, stream

from massager.drivers.sim import SimDriver
from massager.errors import SafetyStop
from massager.runtime.events import Fault, Finished, Paused, Progress, Recorder, Resumed
from massager.runtime.session import Session
from massager.stream import Command
from massager.trace import LEVEL_TOLERANCE, Trace, read_trace

TICK_MS = SimDriver.TICK_US / 1000
TOL = LEVEL_TOLERANCE + 1e-3
MOVING = ("roller", "vib", "bladder")  # the heater follows its own loop


def levels_between(trace: Trace, actuator: str, t0: float, t1: float) -> list[float]:
    """The applied level every tick from `t0` to `t1` (to the trace's end at most)."""
    end = min(t1, trace.end_ms)
    return [
        trace.level_at(actuator, t0 + k * TICK_MS) for k in range(int((end - t0) / TICK_MS) + 1)
    ]


def play(tmp_path: Path, **kwargs: object) -> tuple[SimDriver, Session, Recorder, Path]:
    path = tmp_path / "trace.csv"
    driver, session = simulate(PROGRAM, trace=path)
    if kwargs:
        session = Session(PROGRAM, driver, **kwargs)  # type: ignore[arg-type]
    return driver, session, Recorder(session.bus), path


def test_pause_ramps_down_within_a_second_holds_then_resume_ramps_back(tmp_path: Path) -> None:
    _, session, rec, path = play(tmp_path)
    script(session, {2000: session.pause, 4000: session.resume})
    result = session.run()
    assert result.reason == "done" and result.session_ms == PROGRAM.duration_ms
    # the 2 s pause, then the ramp-down after the program's end
    assert PROGRAM.duration_ms + 2000 <= result.wall_ms <= PROGRAM.duration_ms + 2000 + 1000
    assert [type(e) for e in rec.events if isinstance(e, Paused | Resumed)] == [Paused, Resumed]
    trace = read_trace(path)
    assert trace.level_at("vib", 1950) > 0.05
    for actuator in MOVING:
        # zero within 1 s of the pause, and held there until the resume
        assert all(level == 0.0 for level in levels_between(trace, actuator, 3000, 4000))
        assert trace.level_at(actuator, 3000) == 0.0
    # after the resume the program carries on 2 s later than on the stream's clock
    reference = slew_reference(PROGRAM, RIG, TICK_MS)
    for t in range(5500, 8000, 170):
        k = round((t - 2000) / TICK_MS)
        assert trace.level_at("vib", t) == pytest.approx(reference["vib"][k], abs=TOL), t
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}


def test_intensity_down_then_up_scales_the_applied_levels(tmp_path: Path) -> None:
    _, session, _, path = play(tmp_path)
    script(
        session,
        {4200: lambda: session.set_intensity(0.5), 6000: lambda: session.change_intensity(0.3)},
    )
    session.run()
    trace = read_trace(path)
    assert trace.level_at("vib", 4100) == pytest.approx(0.3, abs=TOL)  # set 0.3 at 4 s
    assert trace.level_at("vib", 4800) == pytest.approx(0.15, abs=TOL)  # x 0.5
    assert trace.level_at("vib", 6800) == pytest.approx(0.24, abs=TOL)  # x 0.8
    # the change went through the slew limit (5/s), not in one jump
    falling = levels_between(trace, "vib", 4150, 4400)
    assert any(0.16 < level < 0.29 for level in falling)


def test_intensity_never_lifts_a_level_past_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    full = stream([Command(0, "roller", "set", level=0.9)], 3000)  # at the rig's max_level
    driver, session = simulate(full, trace=path)
    session = Session(full, driver, intensity=0.5)
    script(session, {1000: lambda: session.set_intensity(7.0)})
    session.run()
    levels = [r.level for r in read_trace(path).rows("roller")]
    assert max(levels) == pytest.approx(0.9, abs=1e-9)
    assert read_trace(path).level_at("roller", 900) == pytest.approx(0.45, abs=TOL)


def test_the_device_itself_never_lets_an_intensity_above_1_lift_a_level(tmp_path: Path) -> None:
    # the session clamps what it asks for; here the driver is asked directly, past the session
    path = tmp_path / "t.csv"
    full = stream([Command(0, "roller", "set", level=0.9)], 3000)  # at the rig's max_level
    driver, session = simulate(full, trace=path)
    session = Session(full, driver, intensity=0.5)
    script(session, {1000: lambda: driver.set_intensity(7.0)})
    assert session.run().reason == "done"
    trace = read_trace(path)
    assert max(r.level for r in trace.rows("roller")) <= 0.9 + 1e-9
    assert trace.level_at("roller", 900) == pytest.approx(0.45, abs=TOL)
    assert trace.level_at("roller", 2500) == pytest.approx(0.9, abs=TOL)  # scale 1, not 7


def test_stop_ramps_every_output_down_and_ends_early(tmp_path: Path) -> None:
    _, session, _, path = play(tmp_path)
    script(session, {2500: session.stop})
    result = session.run()
    assert result.reason == "stopped"
    trace = read_trace(path)
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}
    assert trace.end_ms < 4000
    # ramped at the slew limit (roller: 3/s), not cut at once
    roller = levels_between(trace, "roller", 2500, 3000)
    assert any(0.0 < abs(level) < 0.5 for level in roller)


@pytest.mark.parametrize("level", [0.6, 0.45, -0.87, 0.01])
def test_a_stopped_session_ends_at_the_tick_its_last_output_reaches_zero(
    tmp_path: Path, level: float
) -> None:
    # the roller alone (3 level/s, 0.03 a tick): the ramp down ends on the device's tick grid
    path = tmp_path / "trace.csv"
    the_stream = stream([Command(0, "roller", "set", level=level)], 5000)
    driver, session = simulate(the_stream, trace=path)
    script(session, {1000: session.stop})
    result = session.run()
    assert result.reason == "stopped"
    trace = read_trace(path)
    steps = abs(level) / (3.0 * TICK_MS / 1000)
    # the ramp's own end, to a float step: the stop asked for at the poll at 1000 ms is
    # applied at the next (1100 ms), and the ramp steps from the tick after it
    end = result.wall_ms
    assert 1100 + steps * TICK_MS - 1e-9 <= end <= 1100 + (steps + 1) * TICK_MS + 1e-9
    # and the session looked again at the very tick the roller reached zero, not later
    assert trace.level_at("roller", end) == 0.0
    assert abs(trace.level_at("roller", end - TICK_MS)) > LEVEL_TOLERANCE
    assert driver.ramp_down_ms({"roller": 0.0}) == 0.0


def test_the_session_cap_stops_a_long_stream(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    driver, session = simulate(PROGRAM, trace=path)
    session = Session(PROGRAM, driver, cap_ms=3000)
    rec = Recorder(session.bus)
    with pytest.raises(SafetyStop, match="session limit") as info:
        session.run()
    assert info.value.exit_code == 4
    trace = read_trace(path)
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}
    assert 3000 <= trace.end_ms < 4500
    assert rec.of(Finished)[0].reason == "cap"


def test_a_host_that_goes_silent_trips_the_device_watchdog(tmp_path: Path) -> None:
    driver, session, rec, path = play(tmp_path)
    frozen = [False]

    def freeze(event: Progress) -> None:
        if event.t_ms >= 2000 and not frozen[0]:
            frozen[0] = True  # the host hangs for a second without a word to the device
            driver.clock.sleep_until(driver.clock.now_ms() + 1000)

    session.bus.subscribe(freeze, Progress)
    with pytest.raises(SafetyStop, match="watchdog") as info:
        session.run()
    assert info.value.exit_code == 4
    trace = read_trace(path)
    # everything dropped to zero when the watchdog expired (250 ms), not when the host woke
    for actuator in MOVING:
        assert all(level == 0.0 for level in levels_between(trace, actuator, 2270, 1e9))
    assert trace.level_at("vib", 2200) != 0.0
    assert driver.status().faults == ("watchdog",)
    assert rec.of(Fault)[0].faults == ("watchdog",)


def test_a_latched_overtemperature_ends_with_a_safety_stop(tmp_path: Path) -> None:
    driver, session, rec, path = play(tmp_path)
    script(session, {3000: lambda: setattr(driver.sensors["pad"], "bias_c", 30.0)})
    with pytest.raises(SafetyStop, match="overtemp"):
        session.run()
    trace = read_trace(path)
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}
    assert 3000 <= trace.end_ms < 3300
    assert rec.of(Finished)[0].reason == "fault" and rec.of(Finished)[0].exit_code == 4
