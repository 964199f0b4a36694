"""The device executor: motion, the safety envelope, faults, pause/resume, the clock wrap."""

from __future__ import annotations

import math

import pytest
from fake_hal import AIR, HEATER, ROLLER, TICK_US, VIBRATION, FakeHal, make, run

from firmware_bridge import codes, names
from firmware_bridge import executor as ex
from firmware_bridge import waveforms as wf
from firmware_bridge.ticks import TICKS_PERIOD
from massager.stream import Command, Timeline


def schedule(executor: ex.Executor, hal: FakeHal, command: Command, ch: int = 0) -> int:
    op, a, b, c, d = command.args()
    return executor.schedule(hal.at(command.at_ms * 1000), ch, op, a, b, c, d)


# -- motion -------------------------------------------------------------------------------


def test_ramps_and_waves_follow_the_shared_motion_math() -> None:
    commands = [
        Command(0, "r", "set", level=0.2),
        Command(500, "r", "ramp", level=-0.6, duration_ms=1000),
        Command(2000, "r", "wave", low=-0.5, high=0.5, hz=1.5),
        Command(4300, "r", "ramp", level=0.3, duration_ms=700),
        Command(5500, "r", "wave", low=0.1, high=0.4, hz=0.7, shape="triangle"),
        Command(7000, "r", "off"),
    ]
    hal, executor = make(max_slew=100.0)  # slew far above every slope here
    for command in commands:
        assert schedule(executor, hal, command) == codes.OK
    timeline = Timeline(commands)
    checked = 0
    while hal.el_us < 8_000_000:
        run(hal, executor, hal.el_us + TICK_US)
        t_ms = hal.el_us / 1000
        expected = timeline.level_at(t_ms)
        # within one tick of slew after a jump, the output equals the stream
        assert executor.levels[0] == pytest.approx(expected, abs=1.0 * TICK_US / 1e6 + 1e-9), t_ms
        checked += 1
    assert checked == 800
    assert executor.levels[0] == 0.0


def test_a_ramp_starts_from_the_level_the_previous_wave_had_at_its_time() -> None:
    commands = [
        Command(0, "v", "wave", low=0.0, high=0.8, hz=0.3),
        Command(1234, "v", "ramp", level=0.0, duration_ms=2000),
    ]
    hal, executor = make(max_slew=100.0)
    for command in commands:
        schedule(executor, hal, command, ch=1)
    run(hal, executor, 1_240_000)
    start = wf.wave_value(codes.SHAPE_SINE, 0.0, 0.8, 0.3, 1_234_000)
    assert Timeline(commands).start_level(1) == pytest.approx(start)
    assert executor.levels[1] == pytest.approx(start * (1 - 6 / 2000), abs=1e-6)


def test_commands_at_one_time_run_in_queued_order_and_late_arrivals_are_sorted() -> None:
    hal, executor = make()
    at = hal.at(100_000)
    assert executor.schedule(hal.at(300_000), 0, codes.OP_SET, 0.9, 0, 0, 0) == codes.OK
    assert executor.schedule(at, 0, codes.OP_SET, 0.1, 0, 0, 0) == codes.OK
    assert executor.schedule(at, 0, codes.OP_SET, 0.4, 0, 0, 0) == codes.OK
    run(hal, executor, 200_000)
    assert executor.levels[0] == pytest.approx(0.4)
    run(hal, executor, 300_000)
    assert executor.levels[0] == pytest.approx(0.9)


# -- the envelope -------------------------------------------------------------------------


def test_slew_limit_bounds_every_step_of_the_applied_output() -> None:
    hal, executor = make(max_slew=2.0)
    executor.schedule(hal.at(0), 0, codes.OP_SET, 1.0, 0, 0, 0)
    run(hal, executor, 250_000)
    assert executor.levels[0] == pytest.approx(0.5)  # 2 level/s for 0.25 s
    run(hal, executor, 600_000)
    assert executor.levels[0] == 1.0
    # a fast wave is flattened to the slew limit
    executor.schedule(hal.at(600_000), 0, codes.OP_WAVE, -1.0, 1.0, 5.0, codes.SHAPE_SINE)
    previous = executor.levels[0]
    for _ in range(300):
        run(hal, executor, hal.el_us + TICK_US)
        assert abs(executor.levels[0] - previous) <= 2.0 * TICK_US / 1e6 + 1e-12
        previous = executor.levels[0]


@pytest.mark.parametrize(
    "op, args",
    [
        (codes.OP_WAVE, (0.0, 0.5, math.inf, 0)),  # an infinite frequency overflowed the next tick
        (codes.OP_WAVE, (0.0, 0.5, 1e12, 0)),  # an absurd one
        (codes.OP_WAVE, (0.0, 0.5, 1.0, math.inf)),  # an infinite shape code
        (codes.OP_SET, (math.inf, 0, 0, 0)),
        (codes.OP_RAMP, (0.5, math.inf, 0, 0)),  # an endless ramp
        (codes.OP_RAMP, (0.5, 100.0, -math.inf, 0)),
    ],
)
def test_non_finite_or_absurd_arguments_are_refused(op: int, args: tuple[float, ...]) -> None:
    hal, executor = make()
    assert executor.schedule(hal.at(10_000), 1, op, *args) == codes.ERR_ARG
    assert executor.queued() == 0
    run(hal, executor, 50_000)
    assert executor.faults == 0
    assert executor.levels == [0.0, 0.0]


def test_levels_outside_the_channel_range_are_refused() -> None:
    hal, executor = make(max_level=0.6)
    t = hal.at(10_000)
    assert executor.schedule(t, 0, codes.OP_SET, 0.7, 0, 0, 0) == codes.ERR_LIMIT
    assert (
        executor.schedule(t, 0, codes.OP_SET, -0.6, 0, 0, 0) == codes.OK
    )  # a roller turns both ways
    assert (
        executor.schedule(t, 1, codes.OP_SET, -0.1, 0, 0, 0) == codes.ERR_LIMIT
    )  # vibration: 0..max
    assert executor.schedule(t, 1, codes.OP_WAVE, 0.0, 0.61, 1.0, 0) == codes.ERR_LIMIT
    assert executor.schedule(t, 1, codes.OP_RAMP, 0.9, 1000.0, 0, 0) == codes.ERR_LIMIT
    assert (
        executor.schedule(t, 1, codes.OP_HEAT, 0.5, 40.0, 0, 0) == codes.ERR_LIMIT
    )  # not a heater
    assert executor.schedule(t, 1, 9, 0.1, 0, 0, 0) == codes.ERR_ARG
    assert executor.schedule(t, 1, codes.OP_SET, math.nan, 0, 0, 0) == codes.ERR_ARG
    assert executor.schedule(t, 1, codes.OP_WAVE, 0.0, 0.5, 1.0, 7) == codes.ERR_ARG
    assert executor.schedule(t, 1, codes.OP_RAMP, 0.5, -1.0, 0, 0) == codes.ERR_ARG
    assert executor.schedule(t, 2, codes.OP_SET, 0.1, 0, 0, 0) == codes.ERR_CHANNEL
    assert executor.queued() == 1
    run(hal, executor, 1_000_000)
    assert executor.levels == [-0.6, 0.0]


def test_user_intensity_scales_through_the_slew_limit_and_never_past_max_level() -> None:
    hal, executor = make(max_level=0.8, max_slew=1.0)
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.8, 0, 0, 0)
    run(hal, executor, 1_000_000)
    assert executor.levels[0] == pytest.approx(0.8)
    executor.set_scale(0.5)
    run(hal, executor, 1_100_000)
    assert executor.levels[0] == pytest.approx(0.7)  # 1 level/s down for 0.1 s
    run(hal, executor, 2_000_000)
    assert executor.levels[0] == pytest.approx(0.4)
    executor.set_scale(7.0)  # clamped to 1
    run(hal, executor, 3_000_000)
    assert executor.levels[0] == pytest.approx(0.8)
    executor.set_scale(math.nan)  # nonsense reads as 0, never as more
    run(hal, executor, 4_000_000)
    assert executor.levels[0] == 0.0


def test_continuous_on_time_cuts_that_output_until_its_next_command() -> None:
    hal, executor = make(kinds=(AIR, VIBRATION), max_on_ms=1000)
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.5, 0, 0, 0)
    executor.schedule(hal.at(0), 1, codes.OP_WAVE, 0.2, 0.4, 1.0, 0)
    run(hal, executor, 1_000_000)
    assert executor.levels[0] == 0.5 and executor.cut_mask == 0
    run(hal, executor, 1_020_000)
    assert executor.levels[0] == 0.0
    assert hal.outputs[0] == 0.0
    assert executor.cut_mask == 0b11  # the wave never touched zero either
    assert executor.faults == 0  # only those outputs, not a latched fault
    executor.schedule(hal.at(1_500_000), 0, codes.OP_SET, 0.3, 0, 0, 0)
    run(hal, executor, 1_600_000)
    assert executor.levels[0] == pytest.approx(0.3)
    assert executor.cut_mask == 0b10


def test_on_time_restarts_whenever_the_output_rests_at_zero() -> None:
    hal, executor = make(kinds=(AIR,), max_on_ms=1000)
    for k in range(5):
        executor.schedule(hal.at(k * 800_000), 0, codes.OP_SET, 0.5, 0, 0, 0)
        executor.schedule(hal.at(k * 800_000 + 700_000), 0, codes.OP_OFF, 0, 0, 0, 0)
    run(hal, executor, 4_000_000)
    assert executor.cut_mask == 0


def test_heater_closed_loop_holds_duty_under_the_ceiling() -> None:
    hal, executor = make(kinds=(HEATER,))
    executor.schedule(hal.at(0), 0, codes.OP_HEAT, 0.6, 40.0, 0, 0)
    hal.temps[0] = 30.0
    run(hal, executor, 2_000_000)
    assert executor.levels[0] == pytest.approx(0.6)  # far below target: full ceiling
    assert executor.temps[0] == 30.0
    hal.temps[0] = 39.8
    run(hal, executor, 4_000_000)
    assert 0.0 < executor.levels[0] < 0.6
    hal.temps[0] = 41.2  # within 1 C of the 42 C cap: no duty at all
    run(hal, executor, 5_000_000)
    assert executor.levels[0] == 0.0
    assert executor.faults == 0


def test_heat_target_above_the_cap_is_refused() -> None:
    hal, executor = make(kinds=(HEATER,))
    assert executor.schedule(hal.at(0), 0, codes.OP_HEAT, 0.5, 42.5, 0, 0) == codes.ERR_LIMIT
    assert executor.schedule(hal.at(0), 0, codes.OP_HEAT, 1.5, 40.0, 0, 0) == codes.ERR_LIMIT


def test_over_temperature_latches_until_cleared() -> None:
    hal, executor = make(kinds=(HEATER, ROLLER))
    executor.schedule(hal.at(0), 0, codes.OP_HEAT, 0.8, 40.0, 0, 0)
    executor.schedule(hal.at(0), 1, codes.OP_SET, 0.5, 0, 0, 0)
    hal.temps[0] = 35.0
    run(hal, executor, 500_000)
    assert executor.levels[1] == 0.5
    hal.temps[0] = 42.3
    run(hal, executor, 700_000)
    assert executor.faults == codes.FAULT_OVERTEMP
    assert names.fault_names(executor.faults) == ["overtemp"]
    assert executor.levels == [0.0, 0.0]
    assert hal.outputs == {0: 0.0, 1: 0.0}
    hal.temps[0] = 30.0  # cooled down: still latched
    run(hal, executor, 1_000_000)
    assert executor.schedule(hal.at(1_100_000), 1, codes.OP_SET, 0.5, 0, 0, 0) == codes.ERR_FAULT
    assert executor.levels == [0.0, 0.0]
    executor.clear_faults()
    assert executor.schedule(hal.at(1_100_000), 1, codes.OP_SET, 0.5, 0, 0, 0) == codes.OK
    run(hal, executor, 1_200_000)
    assert executor.levels[1] == 0.5


@pytest.mark.parametrize("reading", [math.nan, -60.0, 200.0])
def test_an_impossible_temperature_reading_is_a_sensor_fault(reading: float) -> None:
    hal, executor = make(kinds=(HEATER,))
    hal.temps[0] = reading
    run(hal, executor, 200_000)
    assert executor.faults == codes.FAULT_SENSOR


def test_a_failing_sensor_or_output_latches_a_fault() -> None:
    hal, executor = make(kinds=(HEATER,))
    hal.fail_reads = True
    run(hal, executor, 200_000)
    assert executor.faults == codes.FAULT_SENSOR
    hal, executor = make(kinds=(ROLLER,))
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.5, 0, 0, 0)
    run(hal, executor, 100_000)
    hal.fail_writes = True
    executor.schedule(hal.at(200_000), 0, codes.OP_SET, 0.2, 0, 0, 0)
    run(hal, executor, 300_000)
    assert executor.faults == codes.FAULT_HAL
    assert executor.levels == [0.0]


# -- watchdog and faults ------------------------------------------------------------------


def test_watchdog_turns_everything_off_when_the_host_goes_silent() -> None:
    hal, executor = make(watchdog_ms=250)
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.5, 0, 0, 0)
    executor.schedule(hal.at(0), 1, codes.OP_SET, 0.5, 0, 0, 0)
    executor.schedule(hal.at(5_000_000), 1, codes.OP_SET, 0.9, 0, 0, 0)
    run(hal, executor, 1_000_000)
    assert executor.levels == [0.5, 0.5]
    run(hal, executor, 1_250_000, feed=False)
    assert executor.faults == 0  # 250 ms of silence is allowed
    run(hal, executor, 1_260_000, feed=False)
    assert executor.faults == codes.FAULT_WATCHDOG
    assert executor.levels == [0.0, 0.0] and hal.outputs == {0: 0.0, 1: 0.0}
    assert executor.queued() == 0
    run(hal, executor, 6_000_000)  # feeding again does not clear it
    assert executor.faults == codes.FAULT_WATCHDOG
    assert executor.levels == [0.0, 0.0]


def test_watchdog_is_armed_by_the_first_feed_and_disarmed_by_off() -> None:
    hal = FakeHal()
    executor = ex.Executor(hal, 1)
    executor.configure(0, VIBRATION, 1.0, 0.0, 2.0, 1000, None)
    run(hal, executor, 2_000_000, feed=False)
    assert executor.faults == 0
    executor.feed()
    run(hal, executor, 2_300_000, feed=False)
    assert executor.faults == codes.FAULT_WATCHDOG
    executor.clear_faults()
    executor.off()
    run(hal, executor, 4_000_000, feed=False)
    assert executor.faults == 0


def test_estop_latch_refuses_commands_until_cleared() -> None:
    hal, executor = make()
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.5, 0, 0, 0)
    run(hal, executor, 100_000)
    executor.latch(codes.FAULT_ESTOP)
    assert executor.levels == [0.0, 0.0] and hal.outputs[0] == 0.0
    assert executor.schedule(hal.at(200_000), 0, codes.OP_SET, 0.5, 0, 0, 0) == codes.ERR_FAULT
    run(hal, executor, 300_000)
    assert executor.levels == [0.0, 0.0]
    executor.clear_faults()
    assert executor.faults == 0
    assert executor.schedule(hal.at(400_000), 0, codes.OP_SET, 0.5, 0, 0, 0) == codes.OK


def test_late_commands_are_refused_and_never_run() -> None:
    hal, executor = make()
    run(hal, executor, 1_000_000)
    assert executor.schedule(hal.at(990_000), 0, codes.OP_SET, 0.5, 0, 0, 0) == codes.ERR_LATE
    assert executor.schedule(hal.at(1_000_000), 0, codes.OP_SET, 0.2, 0, 0, 0) == codes.OK
    run(hal, executor, 1_100_000)
    assert executor.levels[0] == 0.2


def test_a_full_queue_refuses_more() -> None:
    hal, executor = make(queue_size=4)
    for k in range(4):
        assert executor.schedule(hal.at(k * 1000), 0, codes.OP_SET, 0.1, 0, 0, 0) == codes.OK
    assert executor.schedule(hal.at(9000), 0, codes.OP_SET, 0.1, 0, 0, 0) == codes.ERR_FULL
    run(hal, executor, 10_000)
    assert executor.queued() == 0
    assert executor.schedule(hal.at(19_000), 0, codes.OP_SET, 0.1, 0, 0, 0) == codes.OK


# -- pause, resume, stop, off -------------------------------------------------------------


def test_pause_ramps_down_within_a_second_and_resume_shifts_the_program() -> None:
    hal, executor = make(max_slew=0.2, max_level=0.8)  # slow slew: pause still reaches 0 in 1 s
    executor.schedule(hal.at(0), 0, codes.OP_SET, 0.8, 0, 0, 0)
    executor.schedule(hal.at(6_000_000), 0, codes.OP_SET, 0.3, 0, 0, 0)
    run(hal, executor, 5_000_000)
    assert executor.levels[0] == pytest.approx(0.8)
    hal.el_us += 3000  # the host's pause arrives between two ticks
    executor.pause()
    assert executor.paused
    run(hal, executor, 6_003_000)
    assert executor.levels[0] == 0.0
    run(hal, executor, 9_003_000)  # paused across the 6 s command: it waits
    assert executor.levels[0] == 0.0 and executor.queued() == 1
    hal.el_us += 4000
    executor.resume()
    assert executor.shift_us == 9_007_000 - 5_003_000
    run(hal, executor, 9_017_000)
    assert 0.0 < executor.levels[0] < 0.01  # ramps back up at the slew limit
    # the 6 s command now runs at 6 s + the paused span
    run(hal, executor, 6_000_000 + executor.shift_us - TICK_US)
    assert executor.queued() == 1
    assert executor.levels[0] == pytest.approx(0.2 * 0.984, abs=0.2 * 0.01)  # 0.2/s for ~0.98 s
    run(hal, executor, 6_000_000 + executor.shift_us + TICK_US)
    assert executor.queued() == 0
    run(hal, executor, 6_000_000 + executor.shift_us + 3_000_000)
    assert executor.levels[0] == pytest.approx(0.3)


def test_pause_freezes_a_wave_and_resume_continues_its_phase() -> None:
    hal, executor = make(max_slew=100.0)
    executor.schedule(hal.at(0), 0, codes.OP_WAVE, 0.0, 1.0, 0.25, codes.SHAPE_TRIANGLE)
    run(hal, executor, 1_000_000)  # a quarter period: half way up
    assert executor.levels[0] == pytest.approx(0.5)
    executor.pause()
    run(hal, executor, 3_000_000)
    executor.resume()
    run(hal, executor, 3_000_000 + 500_000)  # program time 1.5 s
    assert executor.levels[0] == pytest.approx(0.75, abs=1e-9)


def test_stop_drops_the_queue_and_ramps_down_at_the_slew_limit() -> None:
    hal, executor = make(max_slew=1.0)
    executor.schedule(hal.at(0), 0, codes.OP_SET, 1.0, 0, 0, 0)
    executor.schedule(hal.at(0), 1, codes.OP_SET, 0.5, 0, 0, 0)
    executor.schedule(hal.at(3_000_000), 0, codes.OP_SET, 0.7, 0, 0, 0)
    run(hal, executor, 2_000_000)
    executor.stop()
    assert executor.queued() == 0
    run(hal, executor, 2_500_000)
    assert executor.levels == [pytest.approx(0.5), 0.0]
    run(hal, executor, 3_100_000)
    assert executor.levels == [0.0, 0.0] and not executor.busy()


def test_off_writes_zero_to_every_output_at_once() -> None:
    hal, executor = make(max_slew=1.0)
    executor.schedule(hal.at(0), 0, codes.OP_SET, -1.0, 0, 0, 0)
    executor.schedule(hal.at(0), 1, codes.OP_SET, 0.5, 0, 0, 0)
    run(hal, executor, 2_000_000)
    executor.off()
    assert executor.levels == [0.0, 0.0]
    assert hal.outputs == {0: 0.0, 1: 0.0}
    assert executor.queued() == 0 and not executor.busy()


# -- the clock wrap -----------------------------------------------------------------------


def _session(start_us: int) -> list[tuple[int, int, float]]:
    """A 25 s program (waves, ramps, a pause, on-time) starting at device time `start_us`."""
    hal, executor = make(start_us=start_us, kinds=(ROLLER, VIBRATION, AIR), max_slew=3.0)
    program = [
        (0, 0, codes.OP_WAVE, -0.6, 0.6, 1.3, codes.SHAPE_SINE),
        (0, 1, codes.OP_RAMP, 0.8, 4_000_000.0, 0, 0),
        (2_000_000, 2, codes.OP_SET, 0.5, 0, 0, 0),
        (9_000_000, 1, codes.OP_WAVE, 0.1, 0.9, 2.0, codes.SHAPE_TRIANGLE),
        (14_000_000, 0, codes.OP_RAMP, 0.0, 3_000_000.0, 0, 0),
        (20_000_000, 1, codes.OP_OFF, 0, 0, 0, 0),
    ]
    for t, ch, op, a, b, c, d in program:
        assert executor.schedule(hal.at(t), ch, op, a, b, c, d) == codes.OK
    run(hal, executor, 7_000_000)
    executor.pause()
    run(hal, executor, 8_500_000)
    executor.resume()
    run(hal, executor, 25_000_000)
    return hal.writes


def test_a_session_across_the_clock_wrap_gives_the_same_outputs() -> None:
    plain = _session(0)
    wrapped = _session(TICKS_PERIOD - 5_000_000)  # wraps 5 s in, mid-wave
    assert len(plain) > 1000
    assert wrapped == plain
