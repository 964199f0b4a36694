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
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from firmware_bridge import codec, codes
from firmware_bridge.codes import FAULT_WATCHDOG
from firmware_bridge.names import MSG_NAMES, fault_names
from massager.clock import Clock, HoldClock
from massager.drivers.base import (
    DeviceStatus,
    Driver,
    DriverOptions,
    refusal_error,
    trace_columns,
    unknown_actuator_error,
)
from massager.drivers.clock_sync import ClockSync
from massager.drivers.serial_history import CommandHistory
from massager.drivers.serial_link import Refusal, SerialLink, Status
from massager.drivers.serial_ports import find_pico, open_port, port_held
from massager.drivers.serial_timebase import SessionTimebase
from massager.errors import DeviceError, MassagerError, UsageError
from massager.rig.model import Rig
from massager.stream import Command
from massager.trace import TraceWriter

if TYPE_CHECKING:
    from massager.drivers.serial_link import Identity

START_LEAD_MS = 500
"""Session time 0 lies this far after `start()` on the device clock: the first commands go early."""
RESUME_LEAD_MS = 300
"""After a recovery, the program resumes this far ahead of the device clock."""
NOISY_PAYLOAD = 16
"""Largest SCHEDULE payload on a noisy link (one command a frame): short frames get through."""
MIN_LEAD_MS = 20
"""A command held back (device queue full) that can no longer arrive this early is an error."""
SYNC_SAMPLES = 8
CLOCK_PERIOD_S = 1.0
STALL_S = 2.0
"""The link thread stops feeding the device's watchdog when the session has not called the
driver for this long (a hung host program must not keep the outputs running)."""
MAX_RECOVERIES = 5
GPIO_FIRMWARE = "massager-gpio"
"""How the GPIO device process (`massager mcu gpio`) names itself in its identify reply."""
TRACE_PERIOD_S = 0.05
"""With --trace, the driver asks for a status report this often: the trace's sampling."""


class SerialDriver(Driver):
    """A Pico running the massager firmware, on a serial port or pyserial URL."""

    name = "serial"
    lookahead_ms = 1000
    """Commands go out a second ahead: time for retransmissions on a noisy link. Pause and
    stop act on the device at once, so the lookahead delays neither."""
    grace_s = 3.0
    """How long a silent or unplugged device is waited for before the run fails."""

    def __init__(self, rig: Rig, options: DriverOptions | None = None) -> None:
        super().__init__(rig, options)
        self._clock = HoldClock()
        self._sync = ClockSync()
        self._link: SerialLink | None = None
        self.last_link: SerialLink | None = None
        """The link of the latest `open()`; its counters stay readable after `close()`."""
        self.target: str | None = None
        self.identity: Identity | None = None
        self._watchdog_ms = self.options.watchdog_ms or rig.watchdog_ms
        self._channels: dict[str, int] = {}
        self._gpio_order = False  # channels by actuator order: the GPIO device process
        self._session_nonce = 0
        self._time = SessionTimebase()
        self._stopped = False
        self._closed = False
        self._intensity = 1.0
        self._pending: list[Command] = []
        self._backlog: deque[Command] = deque()
        self._queued_at: deque[int] = deque()
        self._history = CommandHistory()
        self._refused_base = 0
        self._last_api = time.monotonic()
        self.recoveries = 0
        self._trace: TraceWriter | None = None
        self._trace_lock = threading.Lock()  # the link thread adds each status report
        self._traced_ms = 0.0
        self._trace_asked = 0.0

    # -- the Driver interface ---------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Real time that stands still while the driver waits out a link outage."""
        return self._clock

    def open(self) -> None:
        """Find and open the port, say hello, configure every channel, synchronise clocks."""
        self._channels = self._rig_channels()
        link = self._open_link()
        atexit.register(self.close)
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        if self.options.trace is not None:
            try:
                self._trace = self.open_trace(trace_columns(self.rig))
            except BaseException:
                self.close()
                raise
            link.on_status = self._on_status

    def start(self) -> None:
        """Session time 0 is now (plus a short lead, so the first commands are not late).

        Starting a session acknowledges the faults latched before it: they are cleared,
        and a condition that persists (the emergency stop held) latches again at once.
        """
        self._api()
        link = self._need_link()
        n = link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(0xFF))
        st = self._status_after(link, n)
        if st is None:
            raise DeviceError(f"the device on {self.target} stopped answering")
        self._refused_base = st.refused
        self._time.start(self._device_now(), START_LEAD_MS)
        self._record(self._time.anchor_us, [], [])  # nothing plays before session time 0
        pending, self._pending = self._pending, []
        self._send_commands(pending)

    def send(self, commands: Sequence[Command]) -> None:
        """Stamp the commands in device time and send them (before `start()`, keep them)."""
        self._api()
        if self._stopped:
            return
        if not self._time.started:
            self._pending.extend(commands)
            return
        self._send_commands(list(commands))

    def poll(self) -> DeviceStatus:
        """The device's latest report; waits out (or fails on) a link outage; raises refusals."""
        self._api()
        link = self._need_link()
        self._check_link(link)
        self._check_refusals(link)
        self._flush_backlog()
        self._prune_history()
        st = link.status
        t = self._session_ms()
        levels = {a: 0.0 for a in self._channels}
        temps: dict[str, float] = {}
        faults: tuple[str, ...] = ()
        if st is not None:
            for actuator, ch in self._channels.items():
                if ch < len(st.levels):
                    levels[actuator] = st.levels[ch]
                    temp = st.temps[ch]
                    if temp is not None:
                        temps[actuator] = temp
            faults = tuple(fault_names(st.faults))
        if self._trace is not None:
            self._ask_for_trace(link)
            with self._trace_lock:
                self._trace.flush_due()
        return DeviceStatus(
            session_ms=t, levels=levels, faults=faults, temps=temps, paused=self._time.paused
        )

    def pause(self) -> None:
        """Freeze the program on the device; outputs ramp down within 1 s."""
        self._api()
        if self._time.paused:
            return
        self._time.pause(self._device_now())
        link = self._need_link()
        n = link.send(codes.MSG_PAUSE)
        self._status_after(link, n, 0.5)

    def resume(self) -> None:
        """Continue the program; the device shifts every queued time by the paused span."""
        self._api()
        if not self._time.paused:
            return
        link = self._need_link()
        n = link.send(codes.MSG_RESUME)
        st = self._status_after(link, n)
        if st is None:
            raise DeviceError("the device did not confirm the resume; every output was turned off")
        self._time.resume(st.shift_us)

    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` (0..1), through the device's slew limits."""
        self._api()
        self._intensity = min(1.0, max(0.0, intensity))
        self._need_link().send(codes.MSG_INTENSITY, codec.encode_intensity(self._intensity))

    def stop(self) -> None:
        """Drop the queued commands; every output ramps to zero at its slew limit."""
        self._api()
        self._stopped = True
        self._backlog.clear()
        self._pending.clear()
        self._need_link().send(codes.MSG_STOP)

    def off(self) -> None:
        """Every output to zero now. Never raises."""
        try:
            self._stopped = True
            self._backlog.clear()
            self._pending.clear()
            link = self._link
            if link is not None:
                n = link.send(codes.MSG_OFF)
                link.wait_acked(n, 0.1)
        except Exception:
            pass

    def _open_link(self, *, exclusive: bool = True) -> SerialLink:
        """Open the target port (or the Pico found by its USB id) as this driver's link."""
        target = self.options.target or find_pico()
        self.target = target
        link = SerialLink(lambda: open_port(target, exclusive=exclusive))
        try:
            link.open()
        except Exception as exc:
            raise DeviceError(f"cannot open serial port {target}: {exc}") from exc
        self._link = self.last_link = link
        return link

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
            self.identity = link.identify(secrets.randbits(32), timeout=3.0)
            if self.identity is None:
                raise DeviceError(
                    f"no answer from the massager firmware on {self.target}; its outputs may be on "
                    "(its watchdog turns them off once a session's host goes quiet)"
                )
            n = link.send(codes.MSG_OFF)
            if not link.wait_acked(n, 1.0):
                raise DeviceError(f"the device on {self.target} did not confirm turning off")
        finally:
            self.close()

    def close(self) -> None:
        """Turn every output off, end the device's session and close the port. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.off()
        link, self._link = self._link, None
        if link is not None:
            link.on_status = None
        with suppress(Exception):
            self._record(self._sync.device_us(time.monotonic()), [], [])
        try:
            if link is not None:
                link.heartbeat_s = 0.0
                if link.identity is not None:
                    n = link.send(codes.MSG_BYE)
                    link.wait_acked(n, 0.2)
                link.close()
        except Exception:
            pass
        with self._trace_lock:
            trace, self._trace = self._trace, None
        if trace is not None:
            with suppress(Exception):
                trace.close()
        atexit.unregister(self.close)

    def _ask_for_trace(self, link: SerialLink) -> None:
        """Ask for a status report every TRACE_PERIOD_S while tracing a session."""
        now = time.monotonic()
        if (
            self._time.started
            and now - self._trace_asked >= TRACE_PERIOD_S
            and link.in_flight() <= 2
        ):
            self._trace_asked = now
            link.send(codes.MSG_STATUS, codec.encode_token(0xFFFF))

    def _record(
        self, device_us: float, levels: Sequence[float], temps: Sequence[float | None]
    ) -> None:
        """Add the levels the device reported at `device_us` (unwrapped) to the trace.

        Its time counts from session time 0 with pauses included; a channel beyond
        `levels` is at zero (after OFF). Reports older than the last one are skipped.
        """
        with self._trace_lock:
            trace = self._trace
            if trace is None or not self._time.started:
                return
            t_ms = self._time.trace_ms(device_us)
            if t_ms < self._traced_ms:
                return  # made before session time 0, or a recovery moved the anchor back
            self._traced_ms = t_ms
            for i, act in enumerate(self.rig.actuators):
                ch = self._channels[act.id]
                temp = temps[ch] if act.kind == "heater" and ch < len(temps) else None
                trace.sample(i, t_ms, levels[ch] if ch < len(levels) else 0.0, temp)

    def _on_status(self, st: Status) -> None:
        """The link thread's hook: each status report goes into the trace."""
        self._record(self._sync.unwrap_near(st.now_us, st.received_at), st.levels, st.temps)

    # -- diagnostics ---------------------------------------------------------------------

    def device_time(self, at_ms: float) -> int:
        """The device clock reading (us, modulo 2**30) at which session time `at_ms` runs."""
        return self._time.ticks(at_ms)

    def host_time(self, at_ms: float) -> float:
        """The host's time.monotonic() at which session time `at_ms` runs (clock estimate)."""
        return self._sync.host_s(self._time.device_us(at_ms))

    # -- connecting -----------------------------------------------------------------------

    def _rig_channels(self) -> dict[str, int]:
        """Channel of each actuator: its serial binding, or (a gpio-only rig) its position.

        A rig with gpio bindings only runs on the GPIO device process, whose channel n
        is the rig's n-th actuator; `_connect` refuses it on any other device.
        """
        channels: dict[str, int] = {}
        missing = [a.id for a in self.rig.actuators if a.bindings.serial is None]
        if missing and all(a.bindings.gpio is not None for a in self.rig.actuators):
            self._gpio_order = len(missing) == len(self.rig.actuators)
        if missing and self._gpio_order:
            return {a.id: ch for ch, a in enumerate(self.rig.actuators)}
        if missing:
            raise self._no_binding(missing)
        owner: dict[int, str] = {}
        for act in self.rig.actuators:
            assert act.bindings.serial is not None
            ch = act.bindings.serial.channel
            if ch in owner:
                raise UsageError(
                    f"rig {self.rig.name!r}: actuators {owner[ch]} and {act.id} "
                    f"share serial channel {ch}"
                )
            owner[ch] = act.id
            channels[act.id] = ch
        return channels

    def _no_binding(self, missing: list[str]) -> UsageError:
        return UsageError(
            f"rig {self.rig.name!r}: no serial binding for {', '.join(missing)}; give each "
            "actuator `bindings: {serial: {channel: N}}` to run it on the serial device"
        )

    def _connect(self) -> None:
        link = self._need_link()
        identity = link.identify(secrets.randbits(32), timeout=3.0)
        if identity is None:
            raise DeviceError(
                f"no answer from the massager firmware on {self.target}; is it a Pico running "
                "firmware_bridge (see firmware_bridge/README.md)? `massager ports` lists candidates"
            )
        if identity.version != codec.PROTOCOL_VERSION:
            raise DeviceError(
                f"the device on {self.target} speaks protocol version {identity.version}, "
                f"this host version {codec.PROTOCOL_VERSION}; deploy the matching firmware"
            )
        self.identity = identity
        if self._gpio_order and not identity.firmware.startswith(GPIO_FIRMWARE):
            raise self._no_binding([a.id for a in self.rig.actuators])
        too_high = {a: ch for a, ch in self._channels.items() if ch >= identity.channels}
        if too_high:
            names = ", ".join(f"{a} (channel {ch})" for a, ch in too_high.items())
            raise UsageError(
                f"the device has channels 0..{identity.channels - 1}; the rig uses {names}"
            )
        self._configure()
        self._resync(SYNC_SAMPLES)
        link.heartbeat_s = min(0.1, self._watchdog_ms / 3000.0)
        link.clock_period_s = CLOCK_PERIOD_S
        link.on_clock = self._sync.add
        link.alive = self._alive

    def _configure(self) -> None:
        """A new session on the device: its channels and watchdog (latched faults stay)."""
        link = self._need_link()
        self._session_nonce = secrets.randbits(32) or 1
        link.send(
            codes.MSG_CONFIG_BEGIN,
            codec.encode_config_begin(self._session_nonce, self._watchdog_ms),
        )
        for act in self.rig.actuators:
            link.send(
                codes.MSG_CONFIG_CHANNEL,
                codec.encode_config_channel(self._channels[act.id], *act.device_limits()),
            )
        link.send(codes.MSG_CONFIG_END, codec.encode_config_end(len(self._channels)))
        st = self._request_status(link)  # answered after everything above was handled
        if st is None:
            raise DeviceError(f"the device on {self.target} did not confirm its configuration")
        for refusal in list(link.refusals):
            if refusal.mtype in (codes.MSG_CONFIG_BEGIN, codes.MSG_CONFIG_CHANNEL):
                raise self._refusal_error(refusal)
        link.refusals.clear()
        self._refused_base = st.refused
        self._time.device_shift_is(st.shift_us)
        if self._intensity != 1.0:
            link.send(codes.MSG_INTENSITY, codec.encode_intensity(self._intensity))

    def _request_status(self, link: SerialLink) -> Status | None:
        got = link.request(codes.MSG_STATUS, codes.MSG_STATUS_REPLY, every=0.03)
        return link.status if got is not None else None

    def _status_after(self, link: SerialLink, n: int, timeout: float = 2.0) -> Status | None:
        """A status report made after the device handled frame `n` (asking again if need be)."""
        deadline = time.monotonic() + timeout
        while True:
            st = link.wait_status_after(n, 0.03)
            if st is not None or time.monotonic() >= deadline:
                return st
            if link.in_flight() <= 2:  # never clog the window with questions
                link.send(codes.MSG_STATUS, codec.encode_token(0xFFFF))

    def _resync(self, samples: int) -> None:
        link = self._need_link()
        for _ in range(samples):
            got = link.request(codes.MSG_CLOCK, codes.MSG_CLOCK_REPLY, timeout=0.2)
            if got is not None:
                payload, sent, received = got
                self._sync.add(sent, received, codec.decode_clock_reply(payload)[1])
        if not self._sync.ready:
            raise DeviceError(f"the device on {self.target} did not answer clock requests")

    # -- time -------------------------------------------------------------------------------

    def _device_now(self) -> float:
        """The device's clock now (unwrapped us), by the clock sync's estimate."""
        return self._sync.device_us(time.monotonic())

    def _session_at(self, host_s: float) -> float:
        return self._time.at(self._sync.device_us(host_s))

    def _session_ms(self) -> float:
        return self._time.now_ms(self._device_now())

    # -- commands ---------------------------------------------------------------------------

    def _send_commands(self, commands: list[Command]) -> None:
        if not commands:
            return
        for command in commands:
            if command.actuator not in self._channels:
                raise unknown_actuator_error(command.actuator, self.rig)
        self._history.add(commands)
        self._backlog.extend(commands)
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        if not self._backlog or not self._time.started:
            return
        link = self._need_link()
        identity = self.identity
        capacity = identity.queue_size if identity is not None else 64
        max_payload = identity.max_payload if identity is not None else codec.MAX_PAYLOAD
        if link.lossy:
            max_payload = min(max_payload, NOISY_PAYLOAD)
        now_ms = self._session_at(time.monotonic())
        queued = self._queued_at
        while queued and queued[0] < now_ms - 20:
            queued.popleft()
        batch: list[tuple[int, int, int, float, float, float, float]] = []
        first_id = self._history.next_id
        size = 3
        while self._backlog and len(queued) < capacity - 1:
            command = self._backlog.popleft()
            op, a, b, c, d = command.args()
            wire = (
                self._time.ticks(command.at_ms),
                self._channels[command.actuator],
                op,
                a,
                b,
                c,
                d,
            )
            n = codec.command_size(op)
            if batch and (size + n > max_payload or len(batch) >= 255):
                link.send(codes.MSG_SCHEDULE, codec.encode_schedule(first_id, batch))
                batch, size, first_id = [], 3, self._history.next_id
            batch.append(wire)
            size += n
            self._history.number(command)
            queued.append(command.at_ms)
        if batch:
            link.send(codes.MSG_SCHEDULE, codec.encode_schedule(first_id, batch))
        if self._backlog and self._backlog[0].at_ms < now_ms + MIN_LEAD_MS:
            late = self._backlog[0]
            raise DeviceError(
                f"the device's command queue ({capacity}) is full: the {late.op} command for "
                f"{late.actuator} at {late.at_ms / 1000:.3f} s could not be sent in time"
            )

    def _prune_history(self) -> None:
        self._history.prune(self._session_at(time.monotonic()) - 1000.0)

    def _check_refusals(self, link: SerialLink) -> None:
        if link.refusals:
            raise self._refusal_error(link.refusals.popleft())
        st = link.status
        if st is not None and (st.refused - self._refused_base) & 0xFFFF:
            refusal = Refusal(codes.MSG_SCHEDULE, st.last_id, 0xFF, st.last_code)
            raise self._refusal_error(refusal)

    def _refusal_error(self, r: Refusal) -> MassagerError:
        """The error for a refusal the device reported, naming what it refused and why."""
        why = r.reason
        if r.mtype == codes.MSG_SCHEDULE:
            command = self._history.command(r.ident)
            if command is not None:
                at = command.at_ms / 1000
                what = f"the {command.op} command for {command.actuator} at {at:.3f} s"
            else:
                what = f"command #{r.ident}"
            st = self._link.status if self._link is not None else None
            return refusal_error(r.code, what, fault_names(st.faults) if st is not None else ())
        if r.mtype == codes.MSG_CONFIG_CHANNEL:
            owners = [a for a, ch in self._channels.items() if ch == r.ident]
            who = f" ({owners[0]})" if owners else ""
            return DeviceError(f"the device refused to configure channel {r.ident}{who}: {why}")
        if r.mtype == codes.MSG_CONFIG_BEGIN:
            return DeviceError(
                f"the device refused a session with a {self._watchdog_ms} ms watchdog: {why}"
            )
        kind = MSG_NAMES.get(r.mtype, str(r.mtype))
        return DeviceError(f"the device refused a {kind} message: {why}")

    # -- the link ---------------------------------------------------------------------------

    def _need_link(self) -> SerialLink:
        if self._link is None:
            raise DeviceError("the serial device is not open")
        return self._link

    def _api(self) -> None:
        self._last_api = time.monotonic()

    def _alive(self) -> bool:
        return not self._time.started or time.monotonic() - self._last_api < STALL_S

    def _check_link(self, link: SerialLink) -> None:
        """Wait out a link outage (or a watchdog trip) and resume the program, or fail."""
        if link.failure:
            raise DeviceError(f"the serial link to {self.target} failed: {link.failure}")
        if not self._time.started or self._stopped:
            if not link.connected and not self._stopped:
                raise DeviceError(f"lost the serial port {self.target}: {link.port_error}")
            return
        now = time.monotonic()
        stall_s = self._watchdog_ms / 1000.0
        silent = now - link.last_rx >= stall_s or not link.connected
        st = link.status
        tripped = st is not None and st.faults == FAULT_WATCHDOG
        if not silent and not tripped:
            return
        since = link.last_rx if silent else now - stall_s
        self._recover(link, since)

    def _recover(self, link: SerialLink, since: float) -> None:
        self.recoveries += 1
        if self.recoveries > MAX_RECOVERIES:
            raise DeviceError(
                f"lost the link to the device on {self.target} {MAX_RECOVERIES} times; "
                "giving up (its watchdog turned every output off)"
            )
        t_resume = self._time.frozen_ms if self._time.paused else max(0.0, self._session_at(since))
        self._clock.hold()
        try:
            deadline = since + self.grace_s
            identity = None
            while identity is None:
                self._api()
                if link.connected:
                    identity = link.identify(secrets.randbits(32), timeout=0.2)
                if identity is None:
                    if time.monotonic() >= deadline:
                        why = f" ({link.port_error})" if link.port_error else ""
                        raise DeviceError(
                            f"lost the device on {self.target} for more than {self.grace_s:g} s"
                            f"{why}; its watchdog turned every output off"
                        )
                    time.sleep(0.05)
            self.identity = identity
            if identity.session != self._session_nonce:
                # the device restarted: a new clock, a new executor
                self._sync.reset()
                self._configure()
                self._resync(SYNC_SAMPLES)
            else:
                n = link.send(codes.MSG_OFF)
                link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(FAULT_WATCHDOG))
                st = self._status_after(link, n)
                if st is None:
                    raise DeviceError(f"the device on {self.target} stopped answering")
                # commands the latched fault refused before the recovery are replayed below:
                # their refusals are not the resumed session's
                link.refusals.clear()
                self._refused_base = st.refused
                self._time.device_shift_is(st.shift_us)
                self._resync(2)
            self._replay(link, t_resume)
        finally:
            self._clock.release()

    def _replay(self, link: SerialLink, t_resume: float) -> None:
        """Send the program again from session time `t_resume`, starting shortly from now."""
        self._time.resume_at(self._device_now(), RESUME_LEAD_MS, t_resume)
        self._queued_at.clear()
        self._backlog.clear()
        link.send(codes.MSG_INTENSITY, codec.encode_intensity(self._intensity))
        if self._time.paused:
            link.send(codes.MSG_PAUSE)
        self._backlog.extend(self._history.replay_from(t_resume))
        self._flush_backlog()
