"""The CSV trace: rows at quantised changes, zero always recorded, read back exactly."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from massager.trace import (
    COLUMNS,
    LEVEL_TOLERANCE,
    PHYSICAL_TOLERANCE,
    Trace,
    TraceWriter,
    read_trace,
)

ACTUATORS = [("roller_l", "speed"), ("vib", ""), ("bladder", "pressure"), ("pad", "temp_c")]


def lines(buf: io.StringIO) -> list[str]:
    return buf.getvalue().splitlines()


def test_header_and_rows_put_each_physical_value_in_its_column() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, ACTUATORS)
    w.sample(0, 0.0, 0.25, 0.1)
    w.sample(1, 0.0, 0.5)
    w.sample(2, 10.0, 0.3, 0.05)
    w.sample(3, 20.0, 0.6, 31.25)
    w.close()
    assert lines(buf) == [
        "t_ms,actuator,level,speed,pressure,temp_c",
        "0.0,roller_l,0.250,0.100,,",
        "0.0,vib,0.500,,,",
        "10.0,bladder,0.300,,0.050,",
        "20.0,pad,0.600,,,31.250",
    ]
    assert ",".join(COLUMNS) == lines(buf)[0]


def test_a_ramp_is_its_two_corners_and_a_steady_output_no_rows() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, [("vib", "")], hold_ms=10.0)
    w.sample(0, 0.0, 0.0)
    for k in range(1, 51):  # 0 -> 0.5 over 500 ms, one sample per 10 ms tick
        w.sample(0, k * 10.0, k * 0.01)
    # then nothing for 2 s (the device writes only changes), then a drop to zero
    w.sample(0, 2510.0, 0.0)
    w.close()
    assert lines(buf)[1:] == [
        "0.0,vib,0.000,,,",
        "500.0,vib,0.500,,,",
        "2500.0,vib,0.500,,,",
        "2510.0,vib,0.000,,,",
    ]


def test_a_wave_keeps_few_rows_and_reads_back_within_the_tolerance(tmp_path: Path) -> None:
    path = tmp_path / "wave.csv"
    w = TraceWriter(path, [("roller", "speed")], hold_ms=10.0)
    samples = []
    for k in range(3000):  # 30 s of a 0.5 Hz wave between -0.6 and 0.6
        t = k * 10.0
        level = -0.6 * math.cos(2 * math.pi * 0.5 * t / 1000.0)
        speed = 0.9 * level
        samples.append((t, level, speed))
        w.sample(0, t, level, speed)
    w.close()
    trace = read_trace(path)
    rows = trace.rows("roller")
    assert 30 < len(rows) < 600  # a few per period instead of every tick
    for t, level, speed in samples:
        assert trace.level_at("roller", t) == pytest.approx(level, abs=LEVEL_TOLERANCE + 0.0006)
        value = trace.value_at("roller", "speed", t)
        assert value == pytest.approx(speed, abs=PHYSICAL_TOLERANCE["speed"] + 0.0006)


def test_a_jump_is_two_rows_at_one_instant_and_rest_reads_exactly_zero() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, [("vib", "")])
    w.sample(0, 0.0, 0.4)
    w.sample(0, 100.0, 0.4)
    w.sample(0, 100.0, 0.0)  # off() between ticks: at once
    w.sample(0, 150.0, -0.0004)  # never printed as -0.000
    w.close()
    assert lines(buf)[1:] == [
        "0.0,vib,0.400,,,",
        "100.0,vib,0.400,,,",
        "100.0,vib,0.000,,,",
        "150.0,vib,0.000,,,",
    ]


def test_close_writes_the_last_sample_so_the_course_is_complete() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, [("vib", "")])
    w.sample(0, 0.0, 0.5)
    w.sample(0, 10.0, 0.504)
    w.close()
    w.close()  # idempotent
    assert lines(buf)[1:] == ["0.0,vib,0.500,,,", "10.0,vib,0.504,,,"]


def test_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trace column"):
        TraceWriter(io.StringIO(), [("x", "torque")])


def test_read_back_gives_rows_levels_and_physical_values(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    w = TraceWriter(path, ACTUATORS)
    w.sample(0, 0.0, 0.0, 0.0)
    w.sample(0, 100.0, -0.5, -0.2)
    w.sample(3, 50.0, 0.4, 30.0)
    w.sample(0, 300.0, 0.0, -0.1)
    w.close()
    trace = read_trace(path)
    assert isinstance(trace, Trace)
    assert trace.actuators == ("roller_l", "pad")
    assert [r.level for r in trace.rows("roller_l")] == [0.0, -0.5, 0.0]
    assert trace.level_at("roller_l", -5.0) == 0.0
    assert trace.level_at("roller_l", 50.0) == -0.25  # straight between rows
    assert trace.level_at("roller_l", 100.0) == -0.5
    assert trace.level_at("roller_l", 200.0) == pytest.approx(-0.25)
    assert trace.level_at("roller_l", 900.0) == 0.0  # after the last row: its level
    assert trace.level_at("vib", 10.0) == 0.0  # no rows: at rest
    assert trace.value_at("roller_l", "speed", 200.0) == pytest.approx(-0.15)
    assert trace.value_at("pad", "temp_c", 60.0) == 30.0
    assert trace.rows("pad")[0].speed is None
    assert trace.final_levels() == {"roller_l": 0.0, "pad": 0.4}
    assert trace.end_ms == 300.0
    assert trace.points()["roller_l"] == [(0.0, 0.0), (100.0, -0.5), (300.0, 0.0)]
    with pytest.raises(ValueError):
        trace.value_at("pad", "torque", 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a massager trace"),
        ("time,level\n1,2\n", "not a massager trace"),
        ("t_ms,actuator,level\n0,a,x\n", "line 2: level 'x' is not a number"),
        ("t_ms,actuator,level\n0,a,0.1\n5,a\n", "line 3: 2 cells, expected 3"),
        ("t_ms,actuator,level\nnan,a,0.1\n", "line 2: t_ms 'nan' is not a finite"),
        ("t_ms,actuator,level\n,a,0.1\n", "line 2: t_ms and level are required"),
    ],
)
def test_bad_trace_files_are_named_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_trace(path)


def test_minimal_traces_with_only_the_required_columns_read(tmp_path: Path) -> None:
    path = tmp_path / "min.csv"
    path.write_text("t_ms,actuator,level\n0,a,0.5\n\n10,a,0\n")
    trace = read_trace(path)
    assert trace.points() == {"a": [(0.0, 0.5), (10.0, 0.0)]}
    assert trace.rows("a")[0].temp_c is None
    assert Trace([]).end_ms == 0.0
