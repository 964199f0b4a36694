"""One executor scenario, printed line by line: run on MicroPython and on CPython, compared.

Written in the subset both accept. Four channels (roller, vibration, heater,
air) on a clock that starts 1.5 s before the 2**30 us wrap, ticked every 5 ms
with a deterministic jitter; the program has sets, ramps, sine and triangle
waves, a heat loop on a simulated heater, the slew limits, an intensity
change, a pause and resume, on-time cuts, a refused late command and a
refused over-limit one, a stop, and a host that goes silent (the watchdog).
Every output write prints ``out T_US CH LEVEL``; each schedule call
``sched CODE``; the end state ``end ...``.
"""

from firmware_bridge import codes
from firmware_bridge.codes import KIND_AIR, KIND_HEATER, KIND_ROLLER, KIND_VIBRATION
from firmware_bridge.executor import Executor
from firmware_bridge.ticks import TICKS_PERIOD, ticks_add

START = TICKS_PERIOD - 1500000


class StepHal:
    """A clock moved by the scenario; a first-order heater on channel 2."""

    def __init__(self):
        self.t = START
        self.temp = 30.0
        self.duty = 0.0

    def now_us(self):
        return self.t

    def set_output(self, ch, level):
        if ch == 2:
            self.duty = level
        print("out", self.t, ch, repr(level))

    def read_temp(self, ch):
        return self.temp


def at(ms):
    return ticks_add(START, ms * 1000)


def main():
    hal = StepHal()
    ex = Executor(hal, 4, 250, 64)
    print("conf", ex.configure(0, KIND_ROLLER, 0.8, 0.1, 2.0, 4000, None))
    print("conf", ex.configure(1, KIND_VIBRATION, 1.0, 0.0, 5.0, 1500, None))
    print("conf", ex.configure(2, KIND_HEATER, 0.7, 0.0, 1.0, 60000, 42.0))
    print("conf", ex.configure(3, KIND_AIR, 0.9, 0.0, 3.0, 10000, None))
    ex.feed()
    program = [
        (0, 2, codes.OP_HEAT, 0.6, 40.0, 0.0, 0.0),
        (100, 0, codes.OP_SET, 0.5, 0.0, 0.0, 0.0),
        (200, 1, codes.OP_WAVE, 0.0, 1.0, 3.0, float(codes.SHAPE_TRIANGLE)),
        (300, 3, codes.OP_SET, 0.9, 0.0, 0.0, 0.0),
        (600, 0, codes.OP_RAMP, -0.6, 1000000.0, 0.0, 0.0),
        (1200, 3, codes.OP_RAMP, 0.0, 500000.0, 0.0, 0.0),
        (2000, 0, codes.OP_WAVE, 0.2, 0.8, 2.0, float(codes.SHAPE_SINE)),
        (2500, 1, codes.OP_SET, 0.3, 0.0, 0.0, 0.0),
        (4500, 2, codes.OP_OFF, 0.0, 0.0, 0.0, 0.0),
        (5000, 0, codes.OP_OFF, 0.0, 0.0, 0.0, 0.0),
        (400, 3, codes.OP_SET, 0.95, 0.0, 0.0, 0.0),  # over the air's 0.9: refused
    ]
    for t_ms, ch, op, a, b, c, d in program:
        print("sched", ex.schedule(at(t_ms), ch, op, a, b, c, d))
    events = [
        (1000, "scale", 0.7),
        (2600, "pause", 0.0),
        (3200, "resume", 0.0),
        (3500, "scale", 1.0),
        (5200, "stop", 0.0),
        (5300, "late", 0.0),
        (5400, "air", 0.0),
    ]
    elapsed = 0
    k = 0
    while elapsed < 6500000:
        k += 1
        elapsed += 5000 + (k * 37) % 700
        hal.t = ticks_add(START, elapsed)
        while events and events[0][0] * 1000 <= elapsed:
            _, what, x = events.pop(0)
            if what == "scale":
                ex.set_scale(x)
            elif what == "pause":
                ex.pause()
            elif what == "resume":
                ex.resume()
            elif what == "stop":
                ex.stop()
            elif what == "late":
                print("sched", ex.schedule(at(5000), 3, codes.OP_SET, 0.2, 0.0, 0.0, 0.0))
            else:
                print("sched", ex.schedule(at(5450), 3, codes.OP_SET, 0.5, 0.0, 0.0, 0.0))
        if elapsed < 5600000 and k % 10 == 0:
            ex.feed()  # the host falls silent at 5.6 s: the watchdog trips at 5.85 s
        hal.temp += (25.0 + 30.0 * hal.duty - hal.temp) * 0.02
        ex.tick()
    print("end", ex.faults, ex.cut_mask, ex.shift_us, ex.queued(), ex.busy())
    print("end levels", " ".join(repr(v) for v in ex.levels))
    print("end temps", repr(ex.temps[2]))


main()
