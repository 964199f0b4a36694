"""The heaters' temperature checks and PI loop, run every 100 ms by the executor's tick.

``HeaterLoop(hal, limits, now)`` reads every configured heater of
``limits.heaters`` through ``hal.read_temp(ch)`` at each ``read``, keeps the
last reading per channel in ``temps`` and, for a heater following ``heat``
(ceiling ``a``, target ``b``), the duty its PI loop asks for in ``duty``
(the executor applies it through the envelope). A reading outside
TEMP_MIN_C..TEMP_MAX_C (or one that raises) is ``FAULT_SENSOR``, one above
the channel's ``max_temp`` is ``FAULT_OVERTEMP``: ``read`` returns the fault
for the executor to latch, and reads no further heater.
"""

from firmware_bridge.codes import FAULT_OVERTEMP, FAULT_SENSOR, OP_HEAT
from firmware_bridge.limits import HEAT_MARGIN_C
from firmware_bridge.ticks import ticks_add, ticks_diff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from firmware_bridge.hal_types import Hal
    from firmware_bridge.limits import ChannelLimits

TEMP_PERIOD_US: "Final" = 100000
HEAT_KP: "Final" = 0.25  # duty per degree C below target
HEAT_KI: "Final" = 0.004  # duty per degree C second below target
TEMP_MIN_C: "Final" = -40.0  # readings outside this range mean a broken sensor
TEMP_MAX_C: "Final" = 150.0


class HeaterLoop:
    """Heater readings, the over-temperature and sensor checks, and each heater's PI duty."""

    def __init__(self, hal: "Hal", limits: "ChannelLimits", now: int) -> None:
        n = limits.channels
        self._hal = hal
        self.heaters = limits.heaters  # the same list: configure() keeps it
        self._max_temp = limits.max_temp
        self.temps = [0.0] * n
        self.duty = [0.0] * n
        self.integ = [0.0] * n
        self.next_us = now  # when the next reading is due
        self._last = now

    def reset(self, ch: int) -> None:
        """Forget channel `ch`'s duty and integral (a new command, a stop, outputs off)."""
        self.integ[ch] = 0.0
        self.duty[ch] = 0.0

    def read(
        self, now: int, ops: "list[int]", a: "list[float]", b: "list[float]", paused: bool
    ) -> int:
        """Read every heater and update its duty; returns 0 or the fault to latch.

        `ops`, `a` and `b` are the channels' current ops and arguments (``heat``:
        the duty ceiling and the target in degrees C); paused, no duty changes.
        """
        period = ticks_diff(now, self._last)
        self._last = now
        self.next_us = ticks_add(now, TEMP_PERIOD_US)
        secs = period / 1000000.0
        max_temp = self._max_temp
        duty = self.duty
        for ch in self.heaters:
            try:
                temp = self._hal.read_temp(ch)
            except Exception:
                return FAULT_SENSOR
            if not (TEMP_MIN_C <= temp <= TEMP_MAX_C):  # also catches NaN
                return FAULT_SENSOR
            self.temps[ch] = temp
            if temp > max_temp[ch]:
                return FAULT_OVERTEMP
            if ops[ch] != OP_HEAT or paused:
                continue
            ceiling = a[ch]
            if temp >= max_temp[ch] - HEAT_MARGIN_C:
                duty[ch] = 0.0
                continue
            err = b[ch] - temp
            p = HEAT_KP * err
            integ = self.integ[ch]
            u = p + integ
            # integrate only while the output is not saturated in the error's direction
            if (u < ceiling or err < 0.0) and (u > 0.0 or err > 0.0):
                integ += HEAT_KI * err * secs
                if integ < 0.0:
                    integ = 0.0
                elif integ > ceiling:
                    integ = ceiling
                self.integ[ch] = integ
            u = p + integ
            if u < 0.0:
                u = 0.0
            elif u > ceiling:
                u = ceiling
            duty[ch] = u
        return 0
