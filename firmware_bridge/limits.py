"""Each channel's kind and limits, and the check every command passes before it is queued.

``ChannelLimits(channels)`` keeps, per channel, flat lists the executor's
tick reads in place (each list is kept for the object's life: its items
change, never the list): ``configured``, ``kind``, the level range ``lo`` ..
``hi``, ``min_level`` (for the HAL), the slew rate ``slew`` and the pause's
ramp-down rate ``fast`` (level per microsecond), ``max_on`` (microseconds),
``max_temp`` and ``soft_cap`` (degrees C; the soft cap is infinite for every
kind but heaters), and ``heaters``, the configured heater channels in the
order they were configured.
"""

from firmware_bridge.codes import (
    ERR_ARG,
    ERR_CHANNEL,
    ERR_LIMIT,
    KIND_HEATER,
    KIND_ROLLER,
    KIND_VIBRATION,
    OK,
    OP_HEAT,
    OP_OFF,
    OP_RAMP,
    OP_SET,
    OP_WAVE,
    SHAPE_SINE,
    SHAPE_TRIANGLE,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# pause reaches zero within this even where the slew limit is lower
PAUSE_RAMP_US: "Final" = 800000
# no duty this close to the cap, so noise never trips the over-temp latch
HEAT_MARGIN_C: "Final" = 1.0
EPS: "Final" = 1e-4  # tolerance on levels sent rounded by the host
INF: "Final" = float("inf")
# far above any motion (a 200 Hz tick draws up to 100 Hz): a wrong value
MAX_WAVE_HZ: "Final" = 1000.0


class ChannelLimits:
    """Every channel's kind and safety limits, set by ``configure``, checked by ``check``."""

    def __init__(self, channels: int) -> None:
        n = channels
        self.channels = n
        self.configured = [False] * n
        self.kind = [KIND_VIBRATION] * n
        self.hi = [0.0] * n
        self.lo = [0.0] * n
        self.min_level = [0.0] * n
        self.slew = [0.0] * n  # level per microsecond
        self.fast = [0.0] * n  # pause ramp-down rate, level per microsecond
        self.max_on = [0] * n
        self.max_temp = [0.0] * n
        # open-loop heater duty stops at this temperature; no limit for other kinds
        self.soft_cap = [INF] * n
        self.heaters = []  # type: list[int]

    def configure(
        self,
        ch: int,
        kind: int,
        max_level: float,
        min_level: float,
        max_slew: float,
        max_on_ms: int,
        max_temp_c: "float | None" = None,
    ) -> int:
        """Set a channel's kind and limits; returns OK, ERR_CHANNEL or ERR_ARG."""
        if ch < 0 or ch >= self.channels:
            return ERR_CHANNEL
        if kind < KIND_ROLLER or kind > KIND_HEATER:
            return ERR_ARG
        if not (0.0 <= max_level <= 1.0) or not (0.0 <= min_level <= 1.0):
            return ERR_ARG
        if not (max_slew > 0.0) or max_on_ms <= 0:
            return ERR_ARG
        if kind == KIND_HEATER and max_temp_c is None:
            return ERR_ARG
        self.configured[ch] = True
        self.kind[ch] = kind
        self.hi[ch] = max_level
        self.lo[ch] = -max_level if kind == KIND_ROLLER else 0.0
        self.min_level[ch] = min_level
        self.slew[ch] = max_slew / 1000000.0
        fast = max_level * 1000000.0 / PAUSE_RAMP_US
        self.fast[ch] = max(max_slew, fast) / 1000000.0
        self.max_on[ch] = max_on_ms * 1000
        self.max_temp[ch] = 0.0 if max_temp_c is None else max_temp_c
        self.soft_cap[ch] = INF if kind != KIND_HEATER else self.max_temp[ch] - HEAT_MARGIN_C
        if kind == KIND_HEATER and ch not in self.heaters:
            self.heaters.append(ch)
        elif kind != KIND_HEATER and ch in self.heaters:
            self.heaters.remove(ch)
        return OK

    def check(self, ch: int, op: int, a: float, b: float, c: float, d: float) -> int:
        """Whether configured channel `ch` takes this command: OK, ERR_ARG or ERR_LIMIT."""
        # x - x is 0 for a finite x, NaN for an infinity or a NaN (which fails every compare)
        if not (a - a == 0.0 and b - b == 0.0 and c - c == 0.0 and d - d == 0.0):
            return ERR_ARG
        lo = self.lo[ch] - EPS
        hi = self.hi[ch] + EPS
        if op == OP_SET:
            return OK if lo <= a <= hi else ERR_LIMIT
        if op == OP_RAMP:
            if b < 0.0:
                return ERR_ARG
            return OK if lo <= a <= hi else ERR_LIMIT
        if op == OP_WAVE:
            if not (0.0 <= c <= MAX_WAVE_HZ) or (int(d) != SHAPE_SINE and int(d) != SHAPE_TRIANGLE):
                return ERR_ARG
            return OK if lo <= a <= hi and lo <= b <= hi else ERR_LIMIT
        if op == OP_HEAT:
            if self.kind[ch] != KIND_HEATER:
                return ERR_LIMIT
            if not (-EPS <= a <= hi) or b > self.max_temp[ch]:
                return ERR_LIMIT
            return OK
        if op == OP_OFF:
            return OK
        return ERR_ARG
