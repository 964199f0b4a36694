"""Timeline plots: the envelope matches the stream, the picture is written, imports stay lazy."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from fake_driver import stream
from hypothesis import given, settings
from hypothesis import strategies as st

from massager.stream import Command, StepInfo, Timeline
from massager.trace import Trace, TraceRow
from massager.ui.lanes import idle as _idle
from massager.ui.plot import _step_label, envelope, plot_timeline, trace_envelope


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_envelope_of_set_ramp_and_off_is_exact() -> None:
    commands = [
        Command(1000, "a", "set", level=0.5),
        Command(2000, "a", "ramp", level=1.0, duration_ms=1000),
        Command(4000, "a", "off"),
    ]
    edges = [float(t) for t in range(0, 5001, 500)]
    lo, hi = envelope(commands, edges)
    assert lo[:2] == [0.0, 0.0] and hi[:2] == [0.0, 0.0]
    assert (lo[2], hi[2]) == (0.5, 0.5)
    assert (lo[4], hi[4]) == pytest.approx((0.5, 0.75))  # first half of the ramp
    assert (lo[5], hi[5]) == pytest.approx((0.75, 1.0))
    assert (lo[9], hi[9]) == (0.0, 0.0)


def test_fast_wave_is_drawn_as_its_band_and_slow_wave_is_followed() -> None:
    fast = [Command(0, "a", "wave", low=0.2, high=0.9, hz=3.0), Command(60000, "a", "off")]
    edges = [60000.0 * j / 100 for j in range(101)]
    lo, hi = envelope(fast, edges)
    assert all((a, b) == (0.2, 0.9) for a, b in zip(lo, hi, strict=True))
    slow = [Command(0, "a", "wave", low=0.0, high=1.0, hz=0.05), Command(20000, "a", "off")]
    edges = [20000.0 * j / 100 for j in range(101)]
    lo, hi = envelope(slow, edges)
    assert max(hi) == pytest.approx(1.0, abs=1e-3)
    assert hi[5] < 0.1  # one second into a 20 s period, still near its low


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from(["set", "ramp", "wave", "off"]),
            st.floats(-1, 1),
            st.floats(-1, 1),
            st.floats(0.05, 8),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(5, 60),
)
def test_envelope_bounds_the_timeline_everywhere(
    raw: list[tuple[int, str, float, float, float]], bins: int
) -> None:
    at = 0
    commands = []
    for gap, op, x, y, hz in raw:
        at += gap * 10
        commands.append(
            Command(at, "a", op, level=x, duration_ms=gap * 5, low=min(x, y), high=max(x, y), hz=hz)  # type: ignore[arg-type]
        )
    end = at + 1000.0
    edges = [end * j / bins for j in range(bins + 1)]
    lo, hi = envelope(commands, edges)
    timeline = Timeline(commands)
    for j in range(bins):
        for n in range(11):
            t = edges[j] + (edges[j + 1] - edges[j]) * n / 10
            if n == 10 and j + 1 < bins:
                continue  # belongs to the next bin
            assert lo[j] - 1e-9 <= timeline.level_at(t) <= hi[j] + 1e-9


def test_trace_envelope_joins_the_corners_with_straight_lines() -> None:
    points = [(100.0, 0.0), (200.0, 0.5), (300.0, 0.5), (350.0, 0.0)]
    lo, hi = trace_envelope(points, [0.0, 100.0, 150.0, 200.0, 320.0, 500.0])
    assert lo == pytest.approx([0.0, 0.0, 0.25, 0.3, 0.0])
    assert hi == pytest.approx([0.0, 0.25, 0.5, 0.5, 0.3])


def test_trace_envelope_keeps_both_corners_of_rows_that_share_a_time() -> None:
    # a jump: two rows at 100 ms; from 100 ms on the course runs from the later one
    rows = [TraceRow(0.0, "a", 0.0), TraceRow(100.0, "a", 0.0), TraceRow(100.0, "a", 0.8)]
    rows.append(TraceRow(200.0, "a", 0.0))
    trace = Trace(rows)
    edges = [0.0, 50.0, 100.0, 150.0, 200.0]
    lo, hi = trace_envelope(trace.points()["a"], edges)
    assert lo == pytest.approx([0.0, 0.0, 0.4, 0.0])
    assert hi == pytest.approx([0.0, 0.8, 0.8, 0.4])
    for j, t in enumerate(edges[1:]):  # the same course as Trace reads it
        assert lo[j] <= trace.level_at("a", t) <= hi[j]
    assert trace.level_at("a", 125.0) == pytest.approx(0.6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1000), st.floats(-1, 1)), min_size=1, max_size=12),
    st.integers(2, 40),
)
def test_trace_envelope_bounds_the_read_back_trace(raw: list[tuple[int, float]], bins: int) -> None:
    rows = [TraceRow(float(t), "a", level) for t, level in sorted(raw)]
    trace = Trace(rows)
    points = trace.points()["a"]
    edges = [1200.0 * j / bins for j in range(bins + 1)]
    lo, hi = trace_envelope(points, edges)
    for j in range(bins):
        for n in range(10):
            t = edges[j] + (edges[j + 1] - edges[j]) * n / 10
            assert lo[j] - 1e-9 <= trace.level_at("a", t) <= hi[j] + 1e-9


def test_step_labels_shrink_to_fit() -> None:
    step = StepInfo(2, "kneading", "knead", ("sole", "heel"), 0, 1000)
    assert _step_label(step, 1000, 8) == "3. kneading · knead · sole,heel"
    assert _step_label(step, 80, 8) == "3. kneading"
    assert _step_label(step, 45, 8) == "3.\nkneading"
    assert _step_label(step, 12, 8) == "3"
    assert _step_label(step, 4, 8) == ""
    rest = StepInfo(0, "rest", "rest", (), 0, 1000)
    assert _step_label(rest, 1000, 8) == "1. rest · rest"


def test_plot_writes_a_png_with_a_lane_per_used_actuator(tmp_path: Path) -> None:
    s = stream(60000)
    one = plot_timeline(s, tmp_path / "a.png", kinds={"roller_l": "roller", "vib_l": "vibration"})
    width, height = png_size(one)
    assert width > 1000
    # one more actuator that moves makes the picture taller by about a lane
    s3 = stream(60000)
    s3.actuators = (*s3.actuators, "extra")
    s3.commands = [*s3.commands, Command(100, "extra", "set", level=0.5)]
    _, taller = png_size(plot_timeline(s3, tmp_path / "b.png"))
    assert taller > height + 60
    # one that never moves only gets a footnote line
    s4 = stream(60000)
    s4.actuators = (*s4.actuators, "idle")
    s4.commands = [*s4.commands, Command(100, "idle", "off")]
    _, noted = png_size(plot_timeline(s4, tmp_path / "c.png"))
    assert height < noted < height + 40


def test_idle_actuators() -> None:
    assert _idle([Command(0, "a", "off"), Command(5, "a", "set", level=0.0)])
    assert _idle([])
    assert not _idle([Command(0, "a", "wave", low=0.0, high=0.3, hz=1.0)])
    assert not _idle([Command(0, "a", "ramp", level=-0.2, duration_ms=10)])


def test_plot_with_a_trace_overlay(tmp_path: Path) -> None:
    s = stream(10000)
    trace = {"roller_l": [(0.0, 0.0), (400.0, 0.8), (9000.0, 0.0)]}
    path = plot_timeline(s, tmp_path / "t.png", trace=trace, title="with trace")
    assert png_size(path)[0] > 1000


def test_importing_the_plot_module_does_not_import_matplotlib() -> None:
    code = "import sys, massager.ui.plot, massager.ui.live; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
