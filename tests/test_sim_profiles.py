"""Every bundled profile on every bundled rig: the simulator's trace agrees with the stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_support import slew_reference

from massager import api
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.runtime.session import Session
from massager.stream import Timeline
from massager.trace import LEVEL_TOLERANCE, read_trace

TICK_MS = SimDriver.TICK_US / 1000
QUICK = {("classic", "reference"), ("quick", "pico-serial")}
"""Run by default; every other pair (about 1 s each) is marked slow and still runs in CI."""
CASES = [
    pytest.param(profile, rig, marks=[] if (profile, rig) in QUICK else [pytest.mark.slow])
    for rig in api.bundled_rigs()
    for profile in api.bundled_profiles()
]


@pytest.mark.parametrize(("profile", "rig_name"), CASES)
def test_trace_agrees_with_the_stream(profile: str, rig_name: str, tmp_path: Path) -> None:
    rig = api.load_rig(rig_name)
    stream = api.compile_stream(api.load_profile(profile), rig)  # every pair compiles
    trace_path = tmp_path / "trace.csv"
    driver = SimDriver(rig, DriverOptions(virtual=True, trace=trace_path))
    result = Session(stream, driver).run()
    assert result.reason == "done"
    assert driver.cuts == ()  # the compiler kept every on-time within its limit
    trace = read_trace(trace_path)
    reference = slew_reference(stream, rig, TICK_MS)
    by = stream.by_actuator()
    every = max(1, int(250 / TICK_MS))  # a sample every 250 ms of the session
    for act in rig.actuators:
        rows = trace.rows(act.id)
        assert rows, act.id
        for row in rows:  # never outside the actuator's range
            assert act.low_bound - 1e-9 <= row.level <= act.max_level + 1e-9
        if act.kind == "heater":  # closed loop: the duty never passes the commanded ceiling
            timeline = Timeline(by.get(act.id, []))
            for row in rows:
                ceiling = max(
                    timeline.level_at(row.t_ms), timeline.level_at(max(0.0, row.t_ms - 1000))
                )
                assert row.level <= ceiling + 1e-6
            continue
        levels = reference[act.id]
        for k in range(0, int(stream.duration_ms / TICK_MS), every):
            got = trace.level_at(act.id, k * TICK_MS)
            assert got == pytest.approx(levels[k], abs=LEVEL_TOLERANCE + 6e-4), (act.id, k)
    assert trace.final_levels() == {a.id: 0.0 for a in rig.actuators}
