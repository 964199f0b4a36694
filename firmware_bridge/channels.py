"""Which channels of the Pico can drive which kind of actuator: the board's channel map.

Channel n drives its PWM output on GPn (0..15). A roller also needs a
direction pin, so rollers go only on the channels of DIRECTION_PINS; a heater
needs a thermistor on an ADC input, so heaters go only on the channels of
SENSOR_PINS. The RP2040 HAL wires these pins; the virtual device refuses the
same configurations the board refuses. No hardware access here.
"""

from firmware_bridge.codes import KIND_HEATER, KIND_ROLLER

CHANNELS = 16
DIRECTION_PINS = {0: 16, 1: 17, 2: 18, 8: 19, 9: 20, 10: 21}
"""Roller channel -> its direction (phase) GPIO."""
SENSOR_PINS = {7: 26, 15: 27}
"""Heater channel -> its thermistor's ADC GPIO."""


def channel_takes(ch: int, kind: int) -> bool:
    """Whether channel `ch` can drive an actuator of `kind` (executor kind code)."""
    if ch < 0 or ch >= CHANNELS:
        return False
    if kind == KIND_ROLLER:
        return ch in DIRECTION_PINS
    if kind == KIND_HEATER:
        return ch in SENSOR_PINS
    return True
