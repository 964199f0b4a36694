"""The simulated device: plays streams like the firmware, with physics, faults and a trace."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sim_support import PROGRAM, RIG, actuator, rig, simulate, slew_reference, stream

from firmware_bridge import codes
from firmware_bridge.ticks import TICKS_PERIOD
from massager.clock import MonotonicClock, VirtualClock
from massager.drivers.base import DriverOptions, fault_advice, refusal_error
from massager.drivers.physics import AirBladder, Heater, Roller
from massager.drivers.sim import SimDriver
from massager.errors import DeviceError, SafetyError, SafetyStop, UsageError
from massager.runtime.events import Progress
from massager.stream import Command
from massager.trace import LEVEL_TOLERANCE, read_trace

TICK_MS = SimDriver.TICK_US / 1000


def opened(the_rig=RIG, **options) -> SimDriver:  # type: ignore[no-untyped-def]
    driver = SimDriver(the_rig, DriverOptions(virtual=True, **options))
    driver.open()
    return driver


def advance(driver: SimDriver, ms: float, poll_every: float = 100.0) -> None:
    """Let `ms` of virtual time pass, polling like a session does."""
    clock = driver.clock
    end = clock.now_ms() + ms
    while clock.now_ms() < end:
        clock.sleep_until(min(end, clock.now_ms() + poll_every))
        driver.poll()


# -- playing a stream ---------------------------------------------------------------------


def test_the_trace_follows_the_stream_through_the_slew_limits(tmp_path: Path) -> None:
    driver, session = simulate(PROGRAM, trace=tmp_path / "t.csv")
    result = session.run()
    assert result.reason == "done"
    trace = read_trace(tmp_path / "t.csv")
    reference = slew_reference(PROGRAM, RIG, TICK_MS)
    for actuator_id, levels in reference.items():
        for k in range(0, int(PROGRAM.duration_ms / TICK_MS), 7):
            got = trace.level_at(actuator_id, k * TICK_MS)
            assert got == pytest.approx(levels[k], abs=LEVEL_TOLERANCE + 6e-4), (actuator_id, k)
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}
    assert driver.levels() == {a: 0.0 for a in PROGRAM.actuators}


def test_a_session_across_the_device_clock_wrap_writes_the_same_trace(tmp_path: Path) -> None:
    plain, wrapped = tmp_path / "plain.csv", tmp_path / "wrapped.csv"
    simulate(PROGRAM, trace=plain)[1].run()
    driver, session = simulate(PROGRAM, trace=wrapped, clock_start_us=TICKS_PERIOD - 3_000_000)
    session.run()
    assert driver.hal.now_dev < 3_000_000 + 10_000_000  # it did wrap
    assert plain.read_text() == wrapped.read_text()
    assert len(plain.read_text().splitlines()) > 50


def test_status_reports_levels_temperatures_and_session_time() -> None:
    driver = opened()
    driver.send(
        [Command(0, "vib", "set", level=0.5), Command(0, "pad", "heat", level=0.5, target_c=35)]
    )
    driver.start()
    advance(driver, 1000)
    status = driver.poll()
    assert status.session_ms == pytest.approx(1000.0)
    assert status.levels["vib"] == 0.5
    assert set(status.levels) == {"roller", "vib", "bladder", "pad"}
    assert set(status.temps) == {"pad"} and 24.0 < status.temps["pad"] < 27.0
    assert status.faults == () and not status.paused
    driver.close()


def test_more_commands_than_the_device_queue_holds_all_play() -> None:
    driver = opened()
    commands = [Command(k * 5, "vib", "set", level=(k % 10) / 10) for k in range(200)]
    driver.send(commands)
    driver.start()
    advance(driver, 500)
    assert driver.executor is not None and driver.executor.queued() > 0
    advance(driver, 1000)
    assert driver.levels()["vib"] == pytest.approx(0.9)
    assert driver.executor.queued() == 0
    driver.close()


def test_pause_holds_session_time_and_ramps_down_resume_continues() -> None:
    driver = opened()
    driver.send([Command(0, "roller", "set", level=0.9), Command(3000, "roller", "set", level=0.3)])
    driver.start()
    advance(driver, 1000)
    assert driver.levels()["roller"] == pytest.approx(0.9)
    driver.pause()
    advance(driver, 900)
    assert driver.levels()["roller"] == 0.0  # within 1 s even at 3 level/s
    advance(driver, 5000)
    status = driver.poll()
    assert status.paused and status.session_ms == pytest.approx(1000.0)
    driver.resume()
    advance(driver, 1000)
    assert driver.poll().session_ms == pytest.approx(2000.0)
    assert driver.levels()["roller"] == pytest.approx(0.9)
    advance(driver, 1200)  # the 3 s command runs 3 s into the program, pause excluded
    assert driver.levels()["roller"] == pytest.approx(0.3)
    driver.close()


def test_intensity_scales_every_output_through_the_slew_limit() -> None:
    driver = opened()
    driver.send([Command(0, "roller", "set", level=-0.8), Command(0, "vib", "set", level=0.6)])
    driver.start()
    advance(driver, 1000)
    driver.set_intensity(0.5)
    advance(driver, 50)
    assert -0.8 < driver.levels()["roller"] < -0.4
    advance(driver, 500)
    assert driver.levels() == {
        "roller": pytest.approx(-0.4),
        "vib": pytest.approx(0.3),
        "bladder": 0.0,
        "pad": 0.0,
    }
    driver.close()


def test_stop_ramps_down_and_off_is_immediate() -> None:
    driver = opened()
    driver.send([Command(0, "roller", "set", level=0.9), Command(5000, "vib", "set", level=1.0)])
    driver.start()
    advance(driver, 1000)
    driver.stop()
    advance(driver, 100)
    assert 0.0 < driver.levels()["roller"] < 0.9
    advance(driver, 5000)
    assert driver.levels()["roller"] == 0.0 and driver.levels()["vib"] == 0.0  # queue dropped
    driver.send([Command(7000, "vib", "set", level=0.5)])
    advance(driver, 1100)
    assert driver.levels()["vib"] == 0.5
    driver.off()
    assert driver.levels() == {a: 0.0 for a in ("roller", "vib", "bladder", "pad")}
    driver.close()
    driver.close()  # idempotent


def test_refused_commands_raise_the_matching_errors() -> None:
    driver = opened()
    driver.start()
    with pytest.raises(SafetyError, match="set for vib at 100 ms: it breaks"):
        driver.send([Command(100, "vib", "set", level=1.5)])
    with pytest.raises(UsageError, match="actuator 'ghost', which rig"):
        driver.send([Command(100, "ghost", "set", level=0.5)])
    advance(driver, 1000)
    with pytest.raises(DeviceError, match="its time had already passed"):
        driver.send([Command(500, "vib", "set", level=0.5)])
    driver.close()


def test_a_device_that_is_not_open_is_a_device_error() -> None:
    driver = SimDriver(RIG, DriverOptions(virtual=True))
    with pytest.raises(DeviceError, match="not open"):
        driver.poll()
    driver.off()  # never raises
    driver.close()


def test_a_real_clock_scaled_by_speed_runs_in_proportion() -> None:
    started = time.monotonic()
    driver = SimDriver(RIG, DriverOptions(speed=200.0))
    assert isinstance(driver.clock, MonotonicClock)
    assert isinstance(SimDriver(RIG, DriverOptions(virtual=True)).clock, VirtualClock)
    short = stream([Command(0, "vib", "wave", low=0.0, high=0.5, hz=1.0)], 2000)
    from massager.runtime.session import Session

    # the lookahead stretched by the speed, as `massager run` does (api.open_session)
    result = Session(short, driver, lookahead_ms=driver.lookahead_ms * 200.0).run()
    assert result.reason == "done"
    assert driver.levels()["vib"] == 0.0
    # at most 200 times faster than the wall (a starved host slows the clock, never speeds
    # it; test_clock checks the pacing itself on a hand-moved source): the 2000 ms took
    # at least 10 ms of wall time, however busy the machine. The clock is read before the
    # wall, so the wall has run at least as long as the clock, whatever the load
    clock = driver.clock
    assert isinstance(clock, MonotonicClock)
    ran_ms = clock.now_ms() / 200
    wall_ms = (time.monotonic() - started) * 1000.0
    assert 2000 / 200 <= ran_ms <= wall_ms


# -- safety stops -------------------------------------------------------------------------


def test_a_silent_host_trips_the_watchdog() -> None:
    driver = opened()
    driver.send([Command(0, "roller", "set", level=0.5)])
    driver.start()
    advance(driver, 1000)
    driver.clock.sleep_until(driver.clock.now_ms() + 400)  # the host froze: no poll
    status = driver.poll()
    assert status.faults == ("watchdog",)
    assert status.levels["roller"] == 0.0
    with pytest.raises(SafetyStop, match="fault is latched on the device \\(watchdog\\)"):
        driver.send([Command(2000, "roller", "set", level=0.5)])
    driver.close()


def test_a_host_that_fell_behind_is_told_what_to_do() -> None:
    late = refusal_error(codes.ERR_LATE, "set for roller at 5 ms")
    assert isinstance(late, DeviceError)
    assert "host fell behind" in str(late) and "close other work and run again" in str(late)
    stop = refusal_error(codes.ERR_FAULT, "set for roller at 5 ms", ("watchdog",))
    assert isinstance(stop, SafetyStop) and "longer watchdog_ms" in str(stop)
    assert fault_advice(("estop",)) == ""


def test_watchdog_override_from_the_options() -> None:
    driver = opened(watchdog_ms=1000)
    driver.send([Command(0, "roller", "set", level=0.5)])
    driver.start()
    driver.clock.sleep_until(600)
    assert driver.poll().faults == ()


def test_a_sped_up_simulation_keeps_the_watchdog_in_wall_time() -> None:
    assert SimDriver(RIG, DriverOptions(virtual=True, speed=60.0)).watchdog_ms == 250
    assert SimDriver(RIG, DriverOptions(speed=1.0)).watchdog_ms == 250
    assert SimDriver(RIG, DriverOptions(speed=60.0)).watchdog_ms == 15_000
    assert SimDriver(RIG, DriverOptions(speed=10_000.0)).watchdog_ms == SimDriver.MAX_WATCHDOG_MS


def _session_with_fault_at(tmp_path: Path, at_ms: float, fault: str) -> tuple[SimDriver, Path]:
    trace = tmp_path / "t.csv"
    driver, session = simulate(PROGRAM, trace=trace)

    def inject(event: Progress) -> None:
        executor = driver.executor
        if event.t_ms >= at_ms and not driver.hal.fail_writes and executor and not executor.faults:
            driver.inject(fault)

    session.bus.subscribe(inject, Progress)
    with pytest.raises(SafetyStop):
        session.run()
    return driver, trace


@pytest.mark.parametrize(("fault", "name"), [("estop", "estop"), ("hal", "hal")])
def test_a_latched_fault_stops_the_session_with_every_output_off(
    tmp_path: Path, fault: str, name: str
) -> None:
    driver, trace_path = _session_with_fault_at(tmp_path, 2500, fault)
    assert driver.status().faults == (name,)
    trace = read_trace(trace_path)
    assert trace.final_levels() == {a: 0.0 for a in PROGRAM.actuators}
    assert trace.end_ms < 3000  # it stopped there, not at the end of the program
    assert all(m.cmd == 0.0 for m in driver.physics.values())


def test_an_overheating_heater_latches_overtemp(tmp_path: Path) -> None:
    driver = opened()
    driver.send([Command(0, "pad", "heat", level=0.5, target_c=40)])
    driver.start()
    advance(driver, 3000)
    assert driver.poll().faults == () and driver.levels()["pad"] == 0.5
    driver.sensors["pad"].bias_c = 18.0  # the pad (or its sensor) now reads about 43 C
    advance(driver, 200)
    assert driver.poll().faults == ("overtemp",)
    assert driver.levels()["pad"] == 0.0
    driver.close()


def test_a_failing_sensor_latches_a_sensor_fault() -> None:
    driver = opened()
    driver.start()
    driver.inject("sensor")
    advance(driver, 200)
    assert driver.poll().faults == ("sensor",)
    with pytest.raises(ValueError, match="unknown fault"):
        driver.inject("gremlins")
    driver.close()


def test_on_time_cuts_are_reported_by_actuator() -> None:
    short = rig(actuator("bag", "air", 0, max_on_ms=1000, max_slew=10.0))
    driver = opened(short)
    driver.send([Command(0, "bag", "set", level=0.5)])
    driver.start()
    advance(driver, 1500)
    assert driver.cuts == ("bag",)
    assert driver.levels()["bag"] == 0.0
    assert driver.poll().faults == ()
    driver.close()


# -- physics ------------------------------------------------------------------------------


def test_roller_speed_lags_its_command_and_stalls_below_min_level() -> None:
    driver = opened()
    driver.send([Command(0, "roller", "set", level=0.6), Command(2000, "roller", "set", level=0.1)])
    driver.start()
    model = driver.physics["roller"]
    assert isinstance(model, Roller)
    advance(driver, 200, poll_every=10)  # slewing up: 0.6 after 0.2 s at 3 level/s
    t_s = driver.hal.t_s
    assert 0.0 < model.value(t_s) < driver.levels()["roller"]
    starting = model.current_a(t_s)
    advance(driver, 1500)
    assert model.value(driver.hal.t_s) == pytest.approx(0.6, abs=1e-3)
    running = model.current_a(driver.hal.t_s)
    assert running == pytest.approx(0.4 * 0.6, abs=0.01)
    assert starting > 2 * running  # inrush while the motor catches up
    advance(driver, 2000)
    assert model.stalled and model.value(driver.hal.t_s) == pytest.approx(0.0, abs=1e-3)
    stalled = model.current_a(driver.hal.t_s)
    assert stalled > 0.4 * 0.1  # more than it would draw turning at 0.1
    driver.close()


def test_air_bladder_fills_and_vents_at_finite_rates() -> None:
    model = AirBladder(fill_per_s=0.5, vent_per_s=1.5)
    model.command(0.0, 0.8)
    assert model.value(1.0) == pytest.approx(0.5)
    assert not model.settled
    assert model.value(2.0) == pytest.approx(0.8) and model.settled
    model.command(2.0, 0.0)
    assert model.value(2.2) == pytest.approx(0.5)
    assert model.value(3.0) == 0.0


def test_heater_model_is_exact_whatever_the_step() -> None:
    coarse, fine = Heater(), Heater()
    coarse.command(0.0, 0.5)
    fine.command(0.0, 0.5)
    for k in range(1, 1001):
        fine.advance(k * 0.06)
    assert coarse.value(60.0) == pytest.approx(fine.value(60.0), rel=1e-9)
    assert coarse.value(60.0) == pytest.approx(25 + 15 * (1 - 2.718281828 ** (-60 / 90)), rel=1e-6)


def test_the_heat_loop_holds_the_target_temperature_under_the_cap() -> None:
    driver = opened()
    driver.send([Command(0, "pad", "heat", level=0.8, target_c=40)])
    driver.start()
    temps = []
    for _ in range(60):
        advance(driver, 10_000)
        temps.append(driver.physics["pad"].value(driver.hal.t_s))
    assert max(temps) < 41.0  # never near the 42 C cap
    assert temps[-1] == pytest.approx(40.0, abs=0.3)
    assert driver.poll().faults == ()
    assert driver.levels()["pad"] <= 0.8
    driver.close()


def test_a_slowed_clock_is_told_once_at_the_end() -> None:
    driver = SimDriver(RIG, DriverOptions(speed=300.0))
    clock = driver.clock
    assert isinstance(clock, MonotonicClock) and clock.max_gap_ms == pytest.approx(
        25.0
    )  # wall ms: a tenth of 250
    assert driver.lag_note() == ""
    clock.lost_ms = 1200.0
    note = driver.lag_note()
    assert "could not keep up with --speed 300" in note and "1.2 s" in note
    assert SimDriver(RIG, DriverOptions(virtual=True)).lag_note() == ""
