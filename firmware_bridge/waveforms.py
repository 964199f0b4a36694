"""The motion every output follows: ramps and periodic waves, evaluated at a moment.

One definition, used by the device executor, the simulator, the compiler's
safety checks and the timeline plots, so they can never disagree.
"""

import math
from math import cos, floor

from firmware_bridge.codes import OP_HEAT, OP_RAMP, OP_SET, OP_WAVE, SHAPE_TRIANGLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

TWO_PI: "Final" = 2.0 * math.pi


def ramp_value(start: float, target: float, duration_us: int, elapsed_us: int) -> float:
    """Level of a linear ramp from `start` to `target` over `duration_us`, `elapsed_us` in."""
    if elapsed_us <= 0:
        return start
    if duration_us <= 0 or elapsed_us >= duration_us:
        return target
    return start + (target - start) * elapsed_us / duration_us


def wave_value(shape: int, low: float, high: float, hz: float, elapsed_us: int) -> float:
    """Level of a periodic wave between `low` and `high`; it starts at `low` (phase 0)."""
    if elapsed_us <= 0:
        return low
    cycles = hz * elapsed_us / 1000000.0
    phase = cycles - floor(cycles)
    if shape == SHAPE_TRIANGLE:
        unit = 2.0 * phase if phase < 0.5 else 2.0 - 2.0 * phase
    else:
        unit = (1.0 - cos(TWO_PI * phase)) * 0.5
    return low + (high - low) * unit


def wave_max_slope(shape: int, low: float, high: float, hz: float) -> float:
    """Steepest rate of change of a wave, in level per second."""
    span = abs(high - low)
    if shape == SHAPE_TRIANGLE:
        return 2.0 * span * hz
    return math.pi * span * hz


# Op codes of timed commands (codes.py). Arguments (a, b, c, d) by op:
# - set:  a = level
# - ramp: a = target level, b = duration in microseconds (from the level it starts at)
# - wave: a = low, b = high, c = frequency in Hz, d = shape code
# - heat: a = duty ceiling, b = target temperature in degrees C
# - off:  none (level 0, heater loop and air released)


def op_value(
    op: int, a: float, b: float, c: float, d: float, start: float, elapsed_us: int
) -> float:
    """Commanded level of an op `elapsed_us` after it began, having begun at level `start`.

    For `heat` this is the duty ceiling; the closed loop may apply less.
    """
    if op == OP_SET or op == OP_HEAT:
        return a
    if op == OP_RAMP:
        return ramp_value(start, a, int(b), elapsed_us)
    if op == OP_WAVE:
        return wave_value(int(d), a, b, c, elapsed_us)
    return 0.0
