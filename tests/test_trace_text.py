"""The trace's numbers formatted from integers are Python's float formatting, exactly.

`massager.trace_door` writes a row's time with one decimal and its level and physical value
with three (a tiny negative value as 0.000), without Python's float formatting where the
scaled value is far enough from a half to round the same as the exact value. These
properties hold it to `"%.1f"` and `"%.3f"` on every float, ties and huge values included.
"""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from massager import trace_door
from massager.trace_door import SwingingDoor, _one_place, _three_places


def _python_three(x: float) -> str:
    text = f"{x:.3f}"
    return "0.000" if text == "-0.000" else text


SwingingDoor([], 10.0, lambda text: None)  # the first door makes the small values' texts
FINITE = st.floats(allow_nan=False, allow_infinity=False)
NEAR = st.integers(-3_000_000, 3_000_000).flatmap(
    lambda n: st.sampled_from([n / 1000, n / 1000 + 0.0005, n / 1000 - 0.0005, n / 10 + 0.05])
)
"""Values at and beside the rounding's halves, where the fast path must step aside."""


@given(st.one_of(FINITE, NEAR, st.floats(-3.0, 3.0)))
@example(0.0005)
@example(-0.0005)
@example(0.0015)
@example(0.125)
@example(-0.0)
@example(2.0)
@example(-2.0)
@example(2.0005)
@example(4294967.2965)
@example(1e300)
def test_three_places_is_pythons_formatting(x: float) -> None:
    assert _three_places(x) == _python_three(x)


@given(st.one_of(FINITE, NEAR, st.floats(0.0, 1e9)))
@example(0.05)
@example(0.15)
@example(0.25)
@example(-0.04)
@example(-0.0)
@example(429496729.55)
@example(1e300)
def test_one_place_is_pythons_formatting(x: float) -> None:
    assert _one_place(x) == "%.1f" % x  # noqa: UP031


def test_the_small_texts_run_from_minus_two_to_two() -> None:
    small = trace_door.SMALL
    assert len(small) == 2 * trace_door.SMALL_MAX + 1
    for n in range(-trace_door.SMALL_MAX, trace_door.SMALL_MAX + 1):
        assert small[n + trace_door.SMALL_MAX] == _python_three(n / 1000)


def test_no_value_is_written_as_an_empty_cell() -> None:
    rows: list[str] = []
    door = SwingingDoor([("roller", 0, 0.01), ("vib", -1, 0.0)], 10.0, rows.append)
    door.sample(0, 0.0, 0.25, math.nan)
    door.sample(1, 0.0, 0.5, 0.7)  # a lane without a column ignores a value
    door.flush_pending()
    assert "".join(rows) == "0.0,roller,0.250,,,\n0.0,vib,0.500,,,\n"
