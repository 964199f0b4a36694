"""Wrap-safe arithmetic on the device clock: microseconds modulo 2**30, like ticks_us."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

TICKS_PERIOD: "Final" = 1 << 30
TICKS_MAX: "Final" = TICKS_PERIOD - 1
_HALF: "Final" = TICKS_PERIOD // 2


def ticks_add(ticks: int, delta: int) -> int:
    """The tick value `delta` microseconds after `ticks`, wrapped into the period."""
    return (ticks + delta) & TICKS_MAX


def ticks_diff(a: int, b: int) -> int:
    """Signed microseconds from `b` to `a` (a - b), correct across one wrap."""
    return ((a - b + _HALF) & TICKS_MAX) - _HALF
