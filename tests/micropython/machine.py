"""A stand-in for MicroPython's `machine` module on the WebAssembly port (which has none).

Just enough of Pin, PWM, ADC and WDT for hal_rp2.py and main.py to run: every
input reads 1 (the emergency stop's pull-up with nothing fitted: pressed),
which puts main.py in maintenance mode. DUTIES keeps each PWM pin's duty.
"""

DUTIES = {}


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 1

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.mode = mode
        self._value = 1 if value is None else value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v
        return None


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        DUTIES[pin.n] = duty_u16

    def duty_u16(self, v=None):
        if v is None:
            return DUTIES[self.pin.n]
        DUTIES[self.pin.n] = v
        return None


class ADC:
    def __init__(self, pin):
        self.pin = pin

    def read_u16(self):
        return 32768


class WDT:
    def __init__(self, timeout=0):
        self.timeout = timeout

    def feed(self):
        pass
