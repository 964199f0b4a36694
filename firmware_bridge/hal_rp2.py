"""The RP2040 hardware seam: PWM outputs, thermistor inputs for heaters, an emergency stop.

Pin map (see README.md): channel n (0..15) drives its PWM output on GPn, so
each channel has a PWM slice output of its own (GP0..GP15 are the 16 distinct
slice outputs; GP16 and above would share them). Rollers also need a
direction pin, so they go on the channels listed in DIRECTION_PINS
(`channels.py`), driven through a phase/enable motor driver (PWM on enable,
direction on phase). Heaters need a temperature sensor, so they go on the
channels listed in SENSOR_PINS: a 10 kOhm NTC thermistor (B 3950) from the ADC pin to ground
with a 10 kOhm resistor from 3V3. The emergency stop is a normally-closed
button from GP22 to ground: pressed, or its wire broken, reads as stopped.

Every output is written to zero before anything else happens, so the board
holds every actuator off from power-up (external pull-downs on the driver
inputs cover the moments before MicroPython starts).
"""

import time

from machine import ADC, PWM, Pin

from firmware_bridge.channels import CHANNELS, DIRECTION_PINS, SENSOR_PINS, channel_takes
from firmware_bridge.thermistor import ntc_c

PWM_HZ = 20000  # above hearing for motor drivers; every channel shares it per slice anyway
ESTOP_PIN = 22
THERMISTOR_R0 = 10000.0  # ohms at 25 C
THERMISTOR_B = 3950.0
SERIES_R = 10000.0
ADC_MIN = 300  # readings this close to a rail mean an open or shorted sensor
ADC_MAX = 65535 - 300


class Rp2Hal:
    """The Pico's outputs, sensors and clock, behind the executor's HAL interface."""

    def __init__(self) -> None:
        # outputs low first: the pins may float until they are claimed
        for ch in range(CHANNELS):
            Pin(ch, Pin.OUT, value=0)
        for pin in DIRECTION_PINS.values():
            Pin(pin, Pin.OUT, value=0)
        self._pwm = [PWM(Pin(ch), freq=PWM_HZ, duty_u16=0) for ch in range(CHANNELS)]
        self._dir = {}  # type: dict[int, Pin]
        for ch, pin in DIRECTION_PINS.items():
            self._dir[ch] = Pin(pin, Pin.OUT, value=0)
        self._adc = {}  # type: dict[int, ADC]
        for ch, pin in SENSOR_PINS.items():
            self._adc[ch] = ADC(Pin(pin))
        self._estop = Pin(ESTOP_PIN, Pin.IN, Pin.PULL_UP)
        self.kinds = [-1] * CHANNELS

    def now_us(self) -> int:
        """The device clock: microseconds, wrapping every 2**30."""
        return time.ticks_us()  # type: ignore[return-value]  # a plain int on the board

    def configure(self, ch: int, kind: int) -> bool:
        """Whether channel `ch` can drive `kind`: rollers need a direction pin, heaters a sensor."""
        if not channel_takes(ch, kind):
            return False
        self.kinds[ch] = kind
        self.set_output(ch, 0.0)
        return True

    def set_output(self, ch: int, level: float) -> None:
        """Write a level: the duty is |level|; for rollers the sign sets the direction pin."""
        duty = int(abs(level) * 65535.0 + 0.5)
        if duty > 65535:
            duty = 65535
        pwm = self._pwm[ch]
        direction = self._dir.get(ch)
        if direction is not None:
            forward = 1 if level >= 0.0 else 0
            if direction.value() != forward:
                pwm.duty_u16(0)  # never reverse a running motor at speed
                direction.value(forward)
        pwm.duty_u16(duty)

    def read_temp(self, ch: int) -> float:
        """A heater's temperature in degrees C; NaN if its sensor reads open or shorted."""
        adc = self._adc.get(ch)
        if adc is None:
            return float("nan")
        raw = adc.read_u16()
        if raw < ADC_MIN or raw > ADC_MAX:
            return float("nan")
        return ntc_c(SERIES_R * raw / (65535 - raw), THERMISTOR_R0, THERMISTOR_B)

    def estop(self) -> bool:
        """True while the emergency stop is pressed (or its normally-closed loop is broken)."""
        return self._estop.value() == 1

    def all_off(self) -> None:
        """Every output to zero now."""
        for pwm in self._pwm:
            pwm.duty_u16(0)
        for pin in self._dir.values():
            pin.value(0)
