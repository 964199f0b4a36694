"""The simulated device's hardware: a settable wrapping clock, physical models as outputs.

The firmware's executor talks to its hardware through a HAL (`now_us`,
`set_output`, `read_temp`); `SimHal` is that seam in the simulator. Each
output drives its physical model (see `physics`), a traced write records a
trace sample, and each heater is read through its noisy simulated sensor.
"""

from __future__ import annotations

from time import monotonic

from firmware_bridge.ticks import TICKS_MAX
from massager.drivers.physics import Model, TempSensor
from massager.trace import TraceWriter
from massager.trace_door import NO_VALUE, SwingingDoor


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
        self._trace: TraceWriter | None = None
        self._door: SwingingDoor | None = None
        self.origin_us = 0
        """`el_us` at session time 0 (trace times count from there)."""
        self.fail_writes = False
        self.fail_reads = False
        # outputs whose physics matter (a vibration motor has none to advance)
        self._physical: list[Model | None] = [m if m.column else None for m in models]
        self._moving_channels = [ch for ch, m in enumerate(models) if m.column]
        self._moving_models = [m for m in models if m.column]

    @property
    def trace(self) -> TraceWriter | None:
        """The trace the outputs' writes are sampled into, or None."""
        return self._trace

    @trace.setter
    def trace(self, writer: TraceWriter | None) -> None:
        self._trace = writer
        self._door = None if writer is None else writer.door

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
        phys = NO_VALUE if model is None else model.command(self.t_s, level)
        door = self._door  # the trace writer's compression, called directly: the hot path
        if door is not None:
            if model is not None:
                model.written_us = self.el_us
            door.sample(ch, (self.el_us - self.origin_us) / 1000.0, level, phys)

    def sample_physics(self, levels: list[float]) -> bool:
        """Sample into the trace the physics still moving under a level that holds (an output
        written at this very moment sampled itself: the same sample again would change
        nothing), and send the rows made so far to the trace's writer; `levels` are the
        outputs' levels. True when the writer's `flush_due` has a flush to judge."""
        door = self._door
        if door is None:
            return False
        t_s = self.t_s
        el = self.el_us
        t_ms = (el - self.origin_us) / 1000.0
        channels = self._moving_channels
        for i, model in enumerate(self._moving_models):
            if model.written_us != el and not model.settled:
                ch = channels[i]
                door.sample(ch, t_ms, levels[ch], model.value(t_s))
        door.drain()
        return monotonic() >= door.flush_at

    def read_temp(self, ch: int) -> float:
        """A noisy reading of heater `ch`'s temperature."""
        if self.fail_reads:
            raise OSError(5, "simulated sensor failure")
        return self.sensors[ch].read(self.t_s)
