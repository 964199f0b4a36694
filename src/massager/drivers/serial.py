"""The serial driver: a Raspberry Pi Pico running `firmware_bridge/`, over USB or any pyserial URL.

``--device serial:/dev/ttyACM0`` names a port, ``serial:socket://host:7000``
(or ``rfc2217://``, ``loop://``) a pyserial URL, and ``--device serial`` alone
finds the Pico by its USB vendor id. The driver says hello (protocol version,
channels, capabilities), configures one channel per actuator from the rig's
``serial`` bindings (kind, limits, watchdog), synchronises with the device's
clock, and sends each command stamped in device time some hundreds of
milliseconds ahead; the device runs them on its own clock.

A link that goes silent (a cable pulled, a burst of noise) is waited for: the
session clock holds, and once the device answers again (within `grace_s`) the
program resumes where the device last heard from the host, ramping up from
zero as after a pause. A device that stays silent ends the run with
DeviceError (exit 3); its watchdog has turned every output off by then.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Sequence

from firmware_bridge import codec, codes
from firmware_bridge.names import fault_names
from massager.clock import REAL_TIME, Clock, HoldClock, HostTime
from massager.drivers.base import (
    DeviceStatus,
    Driver,
    DriverOptions,
    refusal_error,
    trace_columns,
)
from massager.drivers.serial_commands import CommandSender
from massager.drivers.serial_connect import Connection, rig_channels
from massager.drivers.serial_link import Port, SerialLink, status_after
from massager.drivers.serial_messages import Refusal, Status, device_state
from massager.drivers.serial_ports import find_pico, open_failure, open_port, port_held
from massager.drivers.serial_timebase import SessionTimebase
from massager.drivers.serial_trace import StatusTrace
from massager.errors import DeviceError, MassagerError
from massager.rig.model import Rig
from massager.stream import Command

START_LEAD_MS = 500
"""Session time 0 lies this far after `start()` on the device clock: the first commands go early."""
RESUME_LEAD_MS = 300
"""After a recovery, the program resumes this far ahead of the device clock."""
STALL_S = 2.0
"""The link thread stops feeding the device's watchdog when the session has not called the
driver for this long (a hung host program must not keep the outputs running)."""
MAX_RECOVERIES = 5
STOP_REPORT_S = 0.05
"""While ramping down after `stop()`, each poll asks the device for a fresh report and waits
this long at most for it, so the session sees every output at zero when the device reaches it
rather than at the next heartbeat's report."""


class SerialDriver(Driver):
    """A Pico running the massager firmware, on a serial port or pyserial URL.

    A facade over its parts: `Connection` (hello, configuration, clock sync,
    recovery), `SerialLink` (frames), `SessionTimebase` (session time on the
    device clock), `CommandSender` (commands out, kept for replay) and
    `StatusTrace` (``--trace``). `time` is where its time comes from (a
    `SteppedTime` runs it on a virtual clock, with the device in the same
    thread); `opener` makes the port instead of opening ``options.target``.
    """

    name = "serial"
    lookahead_ms = 1000
    """Commands go out a second ahead: time for retransmissions on a noisy link. Pause and
    stop act on the device at once, so the lookahead delays neither."""
    grace_s = 3.0
    """How long a silent or unplugged device is waited for before the run fails."""

    def __init__(
        self,
        rig: Rig,
        options: DriverOptions | None = None,
        *,
        time: HostTime = REAL_TIME,
        opener: Callable[[], Port] | None = None,
    ) -> None:
        super().__init__(rig, options)
        self.time = time
        self._opener = opener
        self._clock = HoldClock(time)
        self._link: SerialLink | None = None
        self.last_link: SerialLink | None = None
        """The link of the latest `open()`; its counters stay readable after `close()`."""
        channels, gpio_order = self._rig_channels()
        self._channels = channels
        watchdog_ms = self.options.watchdog_ms or rig.watchdog_ms
        self.conn = Connection(
            rig, channels, watchdog_ms, self._refusal_error, gpio_order=gpio_order
        )
        self._sync = self.conn.sync
        self._base = SessionTimebase()
        self._commands = CommandSender(rig, channels, self._base)
        self._trace: StatusTrace | None = None
        self._stopped = False
        self._closed = False
        self._intensity = 1.0
        self._last_api = time.now()
        self.recoveries = 0

    # -- the Driver interface ---------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Host time that stands still while the driver waits out a link outage."""
        return self._clock

    def open(self) -> None:
        """Find and open the port, say hello, configure every channel, synchronise clocks."""
        link = self._open_link()
        atexit.register(self.close)
        try:
            self._configured(self.conn.connect(link, self._intensity))
            link.alive = self._alive
            writer = self.open_trace(trace_columns(self.rig))
            if writer is not None:
                self._trace = StatusTrace(writer, self.rig, self._channels, self._base, self._sync)
                link.on_status = self._trace.on_status
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Session time 0 is now (plus a short lead, so the first commands are not late).

        Starting a session acknowledges the faults latched before it: they are cleared,
        and a condition that persists (the emergency stop held) latches again at once.
        """
        self._api()
        link = self._need_link()
        st = status_after(link, link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(0xFF)))
        if st is None:
            raise DeviceError(f"the device on {self.conn.target} stopped answering")
        self._commands.refused_base = st.refused
        self._base.start(self._device_now(), START_LEAD_MS)
        if self._trace is not None:
            self._trace.record(self._base.anchor_us, [], [])  # nothing plays before time 0
        pending, self._commands.pending = self._commands.pending, []
        self.send(pending)

    def send(self, commands: Sequence[Command]) -> None:
        """Stamp the commands in device time and send them (before `start()`, keep them)."""
        self._api()
        if self._stopped:
            return
        if not self._base.started:
            self._commands.pending.extend(commands)
        elif commands:
            self._commands.add(commands)
            self._flush()

    def poll(self) -> DeviceStatus:
        """The device's latest report; waits out (or fails on) a link outage; raises refusals."""
        self._api()
        link = self._need_link()
        since = self.conn.lost_since(link, self._base.started, self._stopped)
        if since is not None:
            self._recover(link, since)
        refusal = self._commands.refusal(link)
        if refusal is not None:
            raise self._refusal_error(refusal)
        self._flush()
        self._commands.history.prune(self._session_at(self.time.now()) - 1000.0)
        if self._stopped:  # ramping down: the session waits on a fresh report, not a heartbeat's
            link.request(codes.MSG_STATUS, codes.MSG_STATUS_REPLY, timeout=STOP_REPORT_S)
        levels, temps, faults = device_state(link.status, self._channels)
        if self._trace is not None:
            self._trace.poll(link)
        t = self._base.now_ms(self._device_now())
        return DeviceStatus(t, levels, faults, temps, paused=self._base.paused)

    def pause(self) -> None:
        """Freeze the program on the device; outputs ramp down within 1 s."""
        self._api()
        if self._base.paused:
            return
        self._base.pause(self._device_now())
        link = self._need_link()
        status_after(link, link.send(codes.MSG_PAUSE), 0.5)

    def resume(self) -> None:
        """Continue the program; the device shifts every queued time by the paused span."""
        self._api()
        if not self._base.paused:
            return
        link = self._need_link()
        st = status_after(link, link.send(codes.MSG_RESUME))
        if st is None:
            raise DeviceError("the device did not confirm the resume; every output was turned off")
        self._base.resume(st.shift_us)

    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` (0..1), through the device's slew limits."""
        self._api()
        self._intensity = min(1.0, max(0.0, intensity))
        self._need_link().send(codes.MSG_INTENSITY, codec.encode_intensity(self._intensity))

    def stop(self) -> None:
        """Drop the queued commands; every output ramps to zero at its slew limit."""
        self._api()
        self._stopped = True
        self._commands.drop()
        self._need_link().send(codes.MSG_STOP)

    def off(self) -> None:
        """Every output to zero now. Never raises."""
        try:
            self._stopped = True
            self._commands.drop()
            link = self._link
            if link is not None:
                link.wait_acked(link.send(codes.MSG_OFF), 0.1)
        except Exception:
            pass

    def turn_off(self) -> None:
        """`massager off`: say hello, turn every output off, end the device's session.

        Ignores the rig (its channels, limits and watchdog): a device that a rig
        does not fit is turned off all the same. DeviceError if it does not confirm.
        A port another process still holds (one that ignored `massager off`'s request
        to stop) is opened shared, as the last resort.
        """
        try:
            link = self._open_link()
        except DeviceError as exc:
            if not port_held(exc):
                raise
            link = self._open_link(exclusive=False)
        try:
            self.conn.turn_off(link)
        finally:
            self.close()

    def close(self) -> None:
        """Turn every output off, end the device's session and close the port. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.off()
        link, self._link = self._link, None
        if self._trace is not None:
            self._trace.close(self._device_now())
        try:
            if link is not None:
                link.on_status = None
                link.timers.clear()  # no more heartbeats
                if link.identity is not None:
                    link.wait_acked(link.send(codes.MSG_BYE), 0.2)
                link.close()
        except Exception:
            pass
        atexit.unregister(self.close)

    # -- diagnostics ---------------------------------------------------------------------

    def device_time(self, at_ms: float) -> int:
        """The device clock reading (us, modulo 2**30) at which session time `at_ms` runs."""
        return self._base.ticks(at_ms)

    def host_time(self, at_ms: float) -> float:
        """The host time (time.monotonic() on real time) at which session time `at_ms` runs."""
        return self._sync.host_s(self._base.device_us(at_ms))

    # -- connecting -----------------------------------------------------------------------

    def _rig_channels(self) -> tuple[dict[str, int], bool]:
        """Channel of each actuator, and whether by actuator order (see `rig_channels`)."""
        return rig_channels(self.rig)

    def _open_link(self, *, exclusive: bool = True) -> SerialLink:
        """Open the target port (or the Pico found by its USB id) as this driver's link."""
        if self._opener is not None:
            target, opener = "the given port", self._opener
        else:
            target = self.options.target or find_pico()
            opener = lambda: open_port(target, exclusive=exclusive)  # noqa: E731
        self.conn.target = target
        link = SerialLink(opener, time=self.time)
        try:
            link.open()
        except Exception as exc:
            raise DeviceError(open_failure(target, exc)) from exc
        self._link = self.last_link = link
        return link

    def _configured(self, st: Status) -> None:
        """The device's session is (again) this host's: count refusals and shifts from `st`."""
        self._commands.refused_base = st.refused
        self._base.device_shift_is(st.shift_us)

    # -- time and commands ------------------------------------------------------------------

    def _device_now(self) -> float:
        """The device's clock now (unwrapped us), by the clock sync's estimate."""
        return self._sync.device_us(self.time.now())

    def _session_at(self, host_s: float) -> float:
        return self._base.at(self._sync.device_us(host_s))

    def _flush(self) -> None:
        link = self._need_link()
        self._commands.flush(link, self.conn.identity, self._session_at(self.time.now()))

    def _refusal_error(self, r: Refusal) -> MassagerError:
        """The error for a refusal the device reported, naming what it refused and why."""
        if r.mtype != codes.MSG_SCHEDULE:
            return self.conn.refused(r)
        st = self._link.status if self._link is not None else None
        faults = fault_names(st.faults) if st is not None else ()
        return refusal_error(r.code, self._commands.describe(r.ident), faults)

    # -- the link ---------------------------------------------------------------------------

    def _need_link(self) -> SerialLink:
        if self._link is None:
            raise DeviceError("the serial device is not open")
        return self._link

    def _api(self) -> None:
        self._last_api = self.time.now()

    def _alive(self) -> bool:
        return not self._base.started or self.time.now() - self._last_api < STALL_S

    def _recover(self, link: SerialLink, since: float) -> None:
        """Take the device back after an outage and replay the program from where it was."""
        self.recoveries += 1
        if self.recoveries > MAX_RECOVERIES:
            raise DeviceError(
                f"lost the link to the device on {self.conn.target} {MAX_RECOVERIES} times; "
                "giving up (its watchdog turned every output off)"
            )
        base = self._base
        t_resume = base.frozen_ms if base.paused else max(0.0, self._session_at(since))
        self._clock.hold()
        try:
            st = self.conn.reconnect(link, since, self.grace_s, self._intensity, self._api)
            self._configured(st)
            base.resume_at(self._device_now(), RESUME_LEAD_MS, t_resume)
            link.send(codes.MSG_INTENSITY, codec.encode_intensity(self._intensity))
            if base.paused:
                link.send(codes.MSG_PAUSE)
            self._commands.replay_from(t_resume)
            self._flush()
        finally:
            self._clock.release()
