"""The CSV trace: rows at quantised changes, zero always recorded, read back exactly."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from massager.trace import COLUMNS, Trace, TraceWriter, read_trace

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


def test_a_row_only_when_a_value_moves_by_a_quantum() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, [("vib", "")])
    for k in range(1000):  # a wave sampled every 10 ms, moving 0.001 per sample at most
        w.sample(0, k * 10.0, 0.5 + 0.2 * math.sin(k / 100.0) * 0.05)
    rows = lines(buf)[1:]
    assert 1 < len(rows) < 40


def test_becoming_zero_and_leaving_zero_always_write_a_row() -> None:
    buf = io.StringIO()
    w = TraceWriter(buf, [("vib", "")])
    w.sample(0, 0.0, 0.0)
    w.sample(0, 10.0, 0.003)  # below the quantum, but no longer at rest
    w.sample(0, 20.0, 0.004)
    w.sample(0, 30.0, 0.0)
    w.sample(0, 40.0, -0.0004)  # never printed as -0.000
    w.close()
    assert lines(buf)[1:] == [
        "0.0,vib,0.000,,,",
        "10.0,vib,0.003,,,",
        "30.0,vib,0.000,,,",
        "40.0,vib,0.000,,,",
    ]


def test_close_writes_the_last_sample_if_it_moved_since_the_last_row() -> None:
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
    assert trace.level_at("roller_l", 100.0) == -0.5
    assert trace.level_at("roller_l", 299.9) == -0.5
    assert trace.level_at("vib", 10.0) == 0.0  # no rows: at rest
    assert trace.value_at("roller_l", "speed", 150.0) == -0.2
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
