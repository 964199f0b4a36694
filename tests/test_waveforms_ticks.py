"""Shared motion math and wrap-safe device clock arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import codes, ticks
from firmware_bridge import waveforms as wf


@given(
    shape=st.sampled_from([codes.SHAPE_SINE, codes.SHAPE_TRIANGLE]),
    low=st.floats(-1, 1),
    high=st.floats(-1, 1),
    hz=st.floats(0.01, 20),
    elapsed=st.integers(0, 10**9),
)
def test_wave_stays_between_low_and_high(
    shape: int, low: float, high: float, hz: float, elapsed: int
) -> None:
    value = wf.wave_value(shape, low, high, hz, elapsed)
    assert min(low, high) - 1e-9 <= value <= max(low, high) + 1e-9


@given(
    shape=st.sampled_from([codes.SHAPE_SINE, codes.SHAPE_TRIANGLE]),
    hz=st.floats(0.05, 10),
    elapsed=st.integers(0, 10**8),
)
def test_wave_slope_never_exceeds_its_stated_maximum(shape: int, hz: float, elapsed: int) -> None:
    step_us = 100
    a = wf.wave_value(shape, 0.1, 0.8, hz, elapsed)
    b = wf.wave_value(shape, 0.1, 0.8, hz, elapsed + step_us)
    assert abs(b - a) / (step_us / 1e6) <= wf.wave_max_slope(shape, 0.1, 0.8, hz) * 1.0001


def test_wave_starts_at_low_and_peaks_at_half_period() -> None:
    for shape in (codes.SHAPE_SINE, codes.SHAPE_TRIANGLE):
        assert wf.wave_value(shape, 0.2, 0.6, 2.0, 0) == 0.2
        assert abs(wf.wave_value(shape, 0.2, 0.6, 2.0, 250_000) - 0.6) < 1e-9


@given(start=st.integers(0, ticks.TICKS_MAX), delta=st.integers(-(2**29) + 1, 2**29 - 1))
def test_ticks_diff_inverts_ticks_add_across_the_wrap(start: int, delta: int) -> None:
    later = ticks.ticks_add(start, delta)
    assert 0 <= later <= ticks.TICKS_MAX
    assert ticks.ticks_diff(later, start) == delta


def test_ticks_wrap_example() -> None:
    before_wrap = ticks.TICKS_PERIOD - 1000
    after = ticks.ticks_add(before_wrap, 3000)
    assert after == 2000
    assert ticks.ticks_diff(after, before_wrap) == 3000
    assert ticks.ticks_diff(before_wrap, after) == -3000
