"""The Raspberry Pi's own GPIO as a device: the GPIO device process, reached the serial way.

``--device gpio`` starts the GPIO device process (`massager.mcu.gpio`:
the firmware's Device and executor on gpiozero pins, SCHED_FIFO where allowed)
on a Unix socket pair, hands it the rig, and from then on is the serial
driver: hello, channel configuration, clock synchronisation, commands sent
ahead on the device's clock, heartbeat, watchdog, recovery (a device process
that dies is started again, as a Pico that resets is reconfigured) and the
same refusals. A host that dies leaves the device process without its link:
it turns every output off and ends; a host that hangs trips its watchdog.

Pins come from gpiozero's default pin factory in the device process (lgpio on
a Pi 5), so ``GPIOZERO_PIN_FACTORY`` is honoured. Given a `pin_factory` (tests
pass a `MockFactory`), the device runs in a thread of this process instead,
on those pins, so a test can look at them.
"""

from __future__ import annotations

import contextlib
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from firmware_bridge import codec, codes
from massager.clock import REAL_TIME, HostTime
from massager.drivers.base import DeviceStatus, DriverOptions
from massager.drivers.serial import SerialDriver
from massager.drivers.serial_link import SerialLink, status_after
from massager.drivers.serial_messages import Refusal
from massager.errors import DeviceError, MassagerError, SafetyError, SafetyStop, UsageError
from massager.mcu.gpio import GpioMcu, serve_in_thread, tick_hz_from_env
from massager.mcu.sensors import W1_DEVICES
from massager.rig.model import Rig

READY_S = 10.0
"""How long the device process may take to claim its pins (imports gpiozero, lgpio)."""
_READ_WAIT_S = 0.005


def _check_rig(rig: Rig) -> None:
    """Refuse a rig whose pins the GPIO driver does not know."""
    unbound = [a.id for a in rig.actuators if a.bindings.gpio is None]
    if unbound:
        raise UsageError(
            f"rig {rig.name!r} cannot run on the Pi's GPIO: no gpio binding for "
            f"{', '.join(unbound)}; use --device serial or sim, or add bindings.gpio"
        )


def _check_heaters(rig: Rig) -> None:
    """Refuse to run a heater without a temperature sensor (turning it off needs none)."""
    for act in rig.actuators:
        gpio = act.bindings.gpio
        if act.kind == "heater" and (gpio is None or gpio.sensor is None):
            raise SafetyError(
                f"rig {rig.name!r}: heater {act.id!r} has no temperature sensor in its gpio "
                "binding, and the gpio driver drives no heater it cannot measure; add "
                "sensor: {type: ds18b20, id: 28-...} or {type: mcp3008, channel: N}"
            )


class SocketPort:
    """The host's end of the device's socket, shaped like the pyserial port the link reads."""

    def __init__(self, sock: socket.socket, wait_s: float = _READ_WAIT_S) -> None:
        self.sock = sock
        self.wait_s = wait_s
        sock.setblocking(False)

    @property
    def in_waiting(self) -> int:
        """Unknown on a socket: the link reads what is there."""
        return 0

    def read(self, size: int = 1) -> bytes:
        """What arrived within `wait_s` (b'' if nothing); OSError once the device has gone."""
        readable, _, _ = select.select([self.sock], [], [], self.wait_s)
        if not readable:
            return b""
        try:
            data = self.sock.recv(max(size, 4096))
        except BlockingIOError:
            return b""
        if not data:
            raise OSError("the gpio device process ended")
        return data

    def write(self, data: bytes, /) -> int:
        """Send a frame (the socket buffers far more than the link keeps in flight)."""
        self.sock.sendall(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        """Nothing stale on a new socket."""

    def close(self) -> None:
        """Close the host's end: the device process sees it and turns everything off."""
        with contextlib.suppress(OSError):
            self.sock.close()


class GpioDriver(SerialDriver):
    """Plays a command stream on the Pi's GPIO pins through the GPIO device process.

    `pin_factory` runs the device in a thread of this process on those pins
    (tests pass a `MockFactory(pin_class=MockPWMPin)`); `tick_hz` sets the
    device's tick rate (default 200 Hz, or ``MASSAGER_GPIO_TICK_HZ``);
    `w1_root` is where DS18B20 sensors are read (``/sys/bus/w1/devices``);
    `realtime` asks for SCHED_FIFO and locked memory for the device process;
    `pin_log` puts the device process on mock pins that log every change there
    (``massager mcu gpio --pin-log``; for benchmarks). With a `pin_factory`, a
    stepped `time` runs host and device in one thread on its virtual clock.
    """

    name: ClassVar[str] = "gpio"
    lookahead_ms: ClassVar[int] = 500

    def __init__(
        self,
        rig: Rig,
        options: DriverOptions | None = None,
        *,
        pin_factory: Any = None,
        tick_hz: float | None = None,
        w1_root: Path = W1_DEVICES,
        realtime: bool = True,
        pin_log: Path | None = None,
        time: HostTime = REAL_TIME,
    ) -> None:
        super().__init__(rig, options, time=time)
        _check_rig(rig)
        try:
            self.tick_hz = tick_hz_from_env(tick_hz)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.pin_factory = pin_factory
        self.w1_root = w1_root
        self.realtime = realtime
        self.pin_log = pin_log
        self.mcu: GpioMcu | None = None
        """The device, when it runs in a thread of this process (a `pin_factory` given)."""
        self.device_thread: threading.Thread | None = None
        self.process: subprocess.Popen[bytes] | None = None
        """The device process, otherwise."""
        self._said: deque[str] = deque(maxlen=8)
        self._said_lock = threading.Lock()

    # -- the device ------------------------------------------------------------------

    def _rig_channels(self) -> tuple[dict[str, int], bool]:
        """Channel n is the rig's n-th actuator (the device process serves them in order)."""
        return {a.id: ch for ch, a in enumerate(self.rig.actuators)}, False

    def _open_link(self, *, exclusive: bool = True) -> SerialLink:
        """Start the device (pins claimed, all low) and the link to it (always its own: a
        device process is never shared, so `exclusive` changes nothing)."""
        self.conn.target = "gpio"
        link = SerialLink(self._start_device, time=self.time)
        link.reconnect = True  # a device process that died is started again
        try:
            link.open()
        except MassagerError:
            raise
        except Exception as exc:
            raise DeviceError(f"gpio: cannot start the device process: {exc}") from exc
        self._link = self.last_link = link
        return link

    def _start_device(self) -> SocketPort:
        """A new device (thread or process) and the host's end of its socket."""
        self._stop_device()
        if self.pin_factory is not None:
            host, self.mcu, self.device_thread = serve_in_thread(
                self.rig, self.pin_factory, self.tick_hz, self.w1_root, self.time
            )
            return SocketPort(host, _READ_WAIT_S if self.time.threaded else 0.0)
        host, dev = socket.socketpair()
        args = [sys.executable, "-m", "massager.mcu.gpio", "--fd", str(dev.fileno())]
        args += ["--tick-hz", str(self.tick_hz)]
        if not self.realtime:
            args.append("--no-realtime")
        if self.pin_log is not None:
            args += ["--pin-log", str(self.pin_log)]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(dev.fileno(),),
        )
        dev.close()
        self.process = proc
        assert proc.stdin is not None and proc.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(pickle.dumps(self.rig))
            proc.stdin.close()
        threading.Thread(target=self._listen, args=(proc,), daemon=True).start()
        if not self._wait_ready(proc):
            host.close()
            said = self.said() or "the device process did not start"
            raise DeviceError(said if said.startswith("gpio:") else "gpio: " + said)
        return SocketPort(host)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> bool:
        """Wait for the device process's ready line (its pins claimed); False if it ended."""
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], READY_S)
        line = proc.stdout.readline() if readable else b""
        if line.strip() == b"ready":
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1.0)
        time.sleep(0.05)  # let the listener take its last words
        return False

    def _listen(self, proc: subprocess.Popen[bytes]) -> None:
        """Keep the device process's stderr lines: the reasons behind its refusals."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            with self._said_lock:
                self._said.append(raw.decode(errors="replace").strip())

    def said(self) -> str:
        """The device's latest diagnostic (why it refused or failed), or ''."""
        if self.mcu is not None:
            return self.mcu.hal.error or ""
        with self._said_lock:
            return self._said[-1] if self._said else ""

    def _stop_device(self) -> None:
        mcu, thread = self.mcu, self.device_thread
        self.mcu, self.device_thread = None, None
        if mcu is not None:
            mcu.stop()
            if thread is None:  # on a stepped clock: its next pass ends it (pins low, released)
                self.time.sleep(0.0)
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)  # its last act closes the sensor poller and the button
        proc, self.process = self.process, None
        if proc is not None:
            try:
                proc.wait(2.0)  # the socket is closed: it turns everything off and ends
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2.0)

    # -- what differs from the serial path ------------------------------------------

    def open(self) -> None:
        """Start the device process, configure every channel, synchronise clocks.

        Does nothing if open already; refuses (SafetyError) a heater without a sensor.
        """
        if self._link is not None:
            return
        if self._closed:
            raise DeviceError("gpio: this driver was closed; open a new one")
        _check_heaters(self.rig)
        super().open()

    def start(self) -> None:
        """Session time 0 is now; refused (SafetyStop) while the emergency stop is held."""
        super().start()
        link = self._need_link()
        self.time.sleep(3.0 / self.tick_hz)  # a held button latches again at the next tick
        st = status_after(link, link.send(codes.MSG_STATUS, codec.encode_token(0xFFFF)))
        if st is not None and st.faults & codes.FAULT_ESTOP:
            raise SafetyStop("the emergency stop is pressed: release it before starting")

    def poll(self) -> DeviceStatus:
        """The serial driver's poll; an output write that failed is a DeviceError (exit 3)."""
        status = super().poll()
        if "hal" in status.faults:
            why = (self.said() or "an output write failed").removeprefix("gpio: ")
            raise DeviceError(f"gpio: {why}; every output was turned off")
        return status

    def _refusal_error(self, r: Refusal) -> MassagerError:
        error = super()._refusal_error(r)
        said = self.said()
        if r.mtype == codes.MSG_CONFIG_CHANNEL and said:
            return DeviceError(said if said.startswith("gpio:") else f"gpio: {said}")
        return error

    def close(self) -> None:
        """Every output off, end the session, stop the device process. Idempotent."""
        super().close()
        self._stop_device()
