"""``--trace`` on a serial device: the levels each status report gives, on session time.

The trace's time counts from session time 0 with pauses included; while a
session runs the driver asks for a report every TRACE_PERIOD_S, and the link's
reader adds each one as it arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress

from firmware_bridge import codec, codes
from massager.drivers.clock_sync import ClockSync
from massager.drivers.serial_link import SerialLink
from massager.drivers.serial_messages import Status
from massager.drivers.serial_timebase import SessionTimebase
from massager.rig.model import Rig
from massager.trace import TraceWriter

TRACE_PERIOD_S = 0.05
"""With --trace, the driver asks for a status report this often: the trace's sampling."""


class StatusTrace:
    """A trace file fed with the device's status reports (from the link's reader)."""

    def __init__(
        self,
        writer: TraceWriter,
        rig: Rig,
        channels: dict[str, int],
        base: SessionTimebase,
        sync: ClockSync,
    ) -> None:
        self.writer: TraceWriter | None = writer
        self.rig = rig
        self.channels = channels
        self.base = base
        self.sync = sync
        self._lock = threading.Lock()
        self._traced_ms = 0.0
        self._asked = 0.0

    def record(
        self, device_us: float, levels: Sequence[float], temps: Sequence[float | None]
    ) -> None:
        """Add the levels the device reported at `device_us` (unwrapped).

        A channel beyond `levels` is at zero (after OFF). Reports older than the
        last one are skipped.
        """
        with self._lock:
            trace = self.writer
            if trace is None or not self.base.started:
                return
            t_ms = self.base.trace_ms(device_us)
            if t_ms < self._traced_ms:
                return  # made before session time 0, or a recovery moved the anchor back
            self._traced_ms = t_ms
            for i, act in enumerate(self.rig.actuators):
                ch = self.channels[act.id]
                temp = temps[ch] if act.kind == "heater" and ch < len(temps) else None
                trace.sample(i, t_ms, levels[ch] if ch < len(levels) else 0.0, temp)

    def on_status(self, st: Status) -> None:
        """The link's hook: each status report goes into the trace."""
        self.record(self.sync.unwrap_near(st.now_us, st.received_at), st.levels, st.temps)

    def poll(self, link: SerialLink) -> None:
        """Ask for a report every TRACE_PERIOD_S while a session runs; write what is due."""
        now = link.time.now()
        if self.base.started and now - self._asked >= TRACE_PERIOD_S and link.in_flight() <= 2:
            self._asked = now
            link.send(codes.MSG_STATUS, codec.encode_token(0xFFFF))
        with self._lock:
            if self.writer is not None:
                self.writer.flush_due()

    def close(self, device_us: float) -> None:
        """Every output at zero from `device_us` on; close the file. Idempotent."""
        with suppress(Exception):
            self.record(device_us, [], [])
        with self._lock:
            writer, self.writer = self.writer, None
        if writer is not None:
            with suppress(Exception):
                writer.close()
