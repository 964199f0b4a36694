"""Any stream, any pause/resume/intensity schedule: the simulator keeps its envelope, ends at 0."""

from __future__ import annotations

import itertools
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, event, find, given, settings
from hypothesis import strategies as st
from sim_support import (
    OPS,
    RIG,
    commands,
    controls,
    follow,
    outside_the_envelope,
    simulate,
    stream,
)

from firmware_bridge import executor as ex
from massager.errors import SafetyError
from massager.stream import Command
from massager.trace import LEVEL_TOLERANCE, read_trace

LIMITS = {a.id: a for a in RIG.actuators}
ENDINGS = ("done", "stopped", "pause_limit")
"""How a session without a signal, a cap or a device fault may end."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(commands(), max_size=20), schedule=controls)
def test_no_level_leaves_the_envelope_and_every_way_out_ends_at_zero(
    program: list[Command], schedule: list[tuple[int, str, float]]
) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        driver, session = simulate(stream(program, 7000), trace=path, max_pause_ms=3000)
        follow(session, schedule)
        try:
            result = session.run()
        except SafetyError as exc:
            # the executor refuses a command past a limit (ERR_LIMIT): the sim names it
            event("refused past a limit")
            assert "breaks the actuator's limits" in str(exc)
            assert any(
                outside_the_envelope(c) and f"{c.op} for {c.actuator} at {c.at_ms} ms" in str(exc)
                for c in program
            ), str(exc)
        else:
            event(result.reason)
            assert result.reason in ENDINGS
        trace = read_trace(path)
        for actuator, act in LIMITS.items():
            rows = trace.rows(actuator)
            assert rows and rows[0].level == 0.0
            for row in rows:
                assert act.low_bound - 1e-9 <= row.level <= act.max_level + 1e-9, (actuator, row)
            fast = max(act.max_slew, act.max_level / (ex.PAUSE_RAMP_US / 1e6))
            for before, row in itertools.pairwise(rows):
                dt_s = (row.t_ms - before.t_ms) / 1000
                if row.level != 0.0 and dt_s > 0:  # a drop to zero may be at once
                    step = abs(row.level - before.level)
                    assert step <= fast * dt_s + 2 * LEVEL_TOLERANCE + 1e-3, (actuator, before, row)
        assert trace.final_levels() == {a: 0.0 for a in LIMITS}
        assert driver.levels() == {a: 0.0 for a in LIMITS}
        assert all(model.cmd == 0.0 for model in driver.physics.values() if model.column)


FIND = settings(database=None, derandomize=True, max_examples=1000)
"""The coverage checks search the same fixed examples everywhere (no timing, no seed luck);
each op is a fifth of the draws, so 1,000 draws are far more than any of them needs."""


@pytest.mark.parametrize("op", OPS)
def test_the_strategy_reaches_every_op(op: str) -> None:
    found = find(commands(), lambda command: command.op == op, settings=FIND)
    assert found.op == op


@pytest.mark.parametrize("outside", [True, False])
def test_the_strategy_draws_commands_inside_and_outside_the_envelope(outside: bool) -> None:
    found = find(
        commands(),
        lambda c: c.op != "off" and outside_the_envelope(c) == outside,
        settings=FIND,
    )
    assert outside_the_envelope(found) == outside
