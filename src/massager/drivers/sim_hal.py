"""The simulated device's hardware: a settable wrapping clock, physical models as outputs.

The firmware's executor talks to its hardware through a HAL (`now_us`,
`set_output`, `read_temp`); `SimHal` is that seam in the simulator. Each
output drives its physical model (see `physics`), a traced write records a
trace sample, and each heater is read through its noisy simulated sensor.
"""

from __future__ import annotations

from firmware_bridge.ticks import TICKS_MAX
from massager.drivers.physics import Model, TempSensor
from massager.trace import TraceWriter


class SimHal:
    """The executor's hardware seam in the simulator: a settable clock, models as outputs."""

    def __init__(self, models: list[Model], sensors: dict[int, TempSensor], start_us: int) -> None:
        self.models = models
        self.sensors = sensors
        self.start_us = start_us
        self.el_us = 0
        """Device time elapsed since the device was opened, unwrapped."""
        self.t_s = 0.0
        """The same in seconds (what the physical models run on)."""
        self.now_dev = start_us & TICKS_MAX
        self.trace: TraceWriter | None = None
        self.origin_us = 0
        """`el_us` at session time 0 (trace times count from there)."""
        self.fail_writes = False
        self.fail_reads = False
        # outputs whose physics matter (a vibration motor has none to advance)
        self._physical: list[Model | None] = [m if m.column else None for m in models]
        self.written = [-1] * len(models)
        """`el_us` of each output's latest write with a trace open (it sampled the trace)."""

    def set_time(self, el_us: int) -> None:
        """Move the device clock to `el_us` after opening."""
        self.el_us = el_us
        self.t_s = el_us / 1e6
        self.now_dev = (self.start_us + el_us) & TICKS_MAX

    def now_us(self) -> int:
        """The device clock (wrapping microseconds)."""
        return self.now_dev

    def set_output(self, ch: int, level: float) -> None:
        """Drive output `ch`'s physical model (and record a trace sample)."""
        if self.fail_writes:
            raise OSError(5, "simulated output failure")
        model = self._physical[ch]
        phys = None if model is None else model.command(self.t_s, level)
        trace = self.trace
        if trace is not None:
            self.written[ch] = self.el_us
            trace.sample(ch, (self.el_us - self.origin_us) / 1000.0, level, phys)

    def read_temp(self, ch: int) -> float:
        """A noisy reading of heater `ch`'s temperature."""
        if self.fail_reads:
            raise OSError(5, "simulated sensor failure")
        return self.sensors[ch].read(self.t_s)
