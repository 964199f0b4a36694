"""Any stream, any pause/resume/intensity schedule: the simulator keeps its envelope, ends at 0."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from sim_support import RIG, simulate, stream

from firmware_bridge import executor as ex
from massager.errors import MassagerError
from massager.runtime.events import Progress
from massager.stream import Command
from massager.trace import LEVEL_TOLERANCE, read_trace

LIMITS = {a.id: a for a in RIG.actuators}


@st.composite
def commands(draw: st.DrawFn) -> Command:
    act = LIMITS[draw(st.sampled_from(sorted(LIMITS)))]
    at = draw(st.integers(0, 6000))
    level = st.floats(act.low_bound, act.max_level)
    op = draw(
        st.sampled_from(["set", "ramp", "wave", "off"] + (["heat"] if act.kind == "heater" else []))
    )
    if op == "set":
        return Command(at, act.id, "set", level=draw(level))
    if op == "ramp":
        return Command(
            at, act.id, "ramp", level=draw(level), duration_ms=draw(st.integers(0, 3000))
        )
    if op == "wave":
        return Command(
            at,
            act.id,
            "wave",
            low=draw(level),
            high=draw(level),
            hz=draw(st.floats(0.05, 6.0)),
            shape=draw(st.sampled_from(["sine", "triangle"])),
        )
    if op == "heat":
        return Command(at, act.id, "heat", level=draw(level), target_c=draw(st.floats(30, 41)))
    return Command(at, act.id, "off")


controls = st.lists(
    st.tuples(
        st.integers(0, 8000),
        st.sampled_from(["pause", "resume", "intensity", "stop"]),
        st.floats(0.0, 1.0),
    ),
    max_size=6,
)


@settings(max_examples=25, deadline=None)
@given(program=st.lists(commands(), max_size=20), schedule=controls)
def test_no_level_leaves_the_envelope_and_every_way_out_ends_at_zero(
    program: list[Command], schedule: list[tuple[int, str, float]]
) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        driver, session = simulate(stream(program, 7000), trace=path, max_pause_ms=3000)
        pending = sorted(schedule)

        def control(event: Progress) -> None:
            while pending and pending[0][0] <= event.wall_ms:
                _, action, x = pending.pop(0)
                if action == "pause":
                    session.pause()
                elif action == "resume":
                    session.resume()
                elif action == "intensity":
                    session.set_intensity(x)
                else:
                    session.stop()

        session.bus.subscribe(control, Progress)
        with contextlib.suppress(MassagerError):  # a pause held too long: still all off
            session.run()
        trace = read_trace(path)
        for actuator, act in LIMITS.items():
            rows = trace.rows(actuator)
            fast = max(act.max_slew, act.max_level / (ex.PAUSE_RAMP_US / 1e6))
            for before, row in itertools.pairwise(rows):
                assert act.low_bound - 1e-9 <= row.level <= act.max_level + 1e-9
                dt_s = (row.t_ms - before.t_ms) / 1000
                if row.level != 0.0 and dt_s > 0:  # a drop to zero may be at once
                    step = abs(row.level - before.level)
                    assert step <= fast * dt_s + 2 * LEVEL_TOLERANCE + 1e-3, (actuator, before, row)
        assert trace.final_levels() == {a: 0.0 for a in LIMITS}
        assert driver.levels() == {a: 0.0 for a in LIMITS}
        assert all(model.cmd == 0.0 for model in driver.physics.values() if model.column)


@pytest.mark.parametrize("op", ["set", "ramp", "wave", "heat", "off"])
def test_the_strategy_reaches_every_op(op: str) -> None:
    found = find(commands(), lambda command: command.op == op, settings=settings(database=None))
    assert found.op == op
