"""The firmware's hardware seam on a Raspberry Pi: gpiozero pins for the GPIO device process.

Channel n is the rig's n-th actuator. `GpioHal` is what the firmware's
`Device` and `Executor` drive (``now_us``, ``set_output``, ``read_temp``,
``estop``, ``configure``), plus what the device process needs around them:
every pin low at once (``all_off``), the heartbeat pin, and closing. The
emergency-stop button's edge callback (gpiozero's thread) drives every pin low
at once and is remembered, so the next tick latches the ``estop`` fault even
if the button was released in between; every tick also reads the button.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge import codes
from firmware_bridge.names import KIND_CODES
from firmware_bridge.ticks import TICKS_MAX
from massager.clock import REAL_TIME, HostTime
from massager.errors import DeviceError
from massager.mcu.outputs import Output, build_output
from massager.mcu.sensors import (
    W1_DEVICES,
    SensorError,
    SensorPoller,
    TempReader,
    open_reader,
)
from massager.rig.model import Rig


class GpioHal:
    """The rig's gpiozero devices behind the executor's HAL interface.

    The clock is `time`'s in microseconds (plus `clock_start_us`), wrapped at
    2**30 as on the Pico: on real time the system's monotonic clock, so another
    process can tell when a device time falls; a `SteppedTime` runs the device
    on a virtual clock, its sensors read at its steps. `clock_us()`, if given,
    is the clock instead (a test's hand-stepped one).
    """

    def __init__(
        self,
        rig: Rig,
        pin_factory: Any = None,
        *,
        w1_root: Path = W1_DEVICES,
        clock_start_us: int = 0,
        clock_us: Callable[[], int] | None = None,
        time: HostTime = REAL_TIME,
    ) -> None:
        self.rig = rig
        self.pin_factory = pin_factory
        self.w1_root = w1_root
        self.time = time
        self._offset_us = clock_start_us
        if clock_us is None and time is not REAL_TIME:
            clock_us = lambda: round(time.now() * 1e6) + clock_start_us  # noqa: E731
        self._clock_us = clock_us
        self.outputs: list[Output] = []
        self.button: Any = None
        self.heartbeat: Any = None
        self._pressed = False
        self._seen_down = False
        self._readers: dict[int, int] = {}  # heater channel -> index in the poller
        self.poller = SensorPoller([], time=time)
        self.error: str | None = None
        """Why the last configure() was refused, or an output write failed."""

    # -- opening and closing ---------------------------------------------------------

    def open(self) -> None:
        """Claim every output pin (driven low), the heartbeat and the button; DeviceError if not."""
        try:
            for act in self.rig.actuators:
                self.outputs.append(self._claim(f"the pins of {act.id!r}", build_output, act))
                self.outputs[-1].zero()
            if self.rig.heartbeat_pin is not None:
                from gpiozero import DigitalOutputDevice

                self.heartbeat = self._claim(
                    f"the heartbeat on GPIO{self.rig.heartbeat_pin}",
                    lambda: DigitalOutputDevice(
                        self.rig.heartbeat_pin, initial_value=False, pin_factory=self.pin_factory
                    ),
                )
            if self.rig.estop_pin is not None:
                from gpiozero import Button

                self.button = self._claim(
                    f"the emergency stop on GPIO{self.rig.estop_pin}",
                    lambda: Button(
                        self.rig.estop_pin,
                        pull_up=True,
                        bounce_time=None,
                        hold_time=0.05,
                        pin_factory=self.pin_factory,
                    ),
                )
                self.button.when_pressed = self._on_press
        except BaseException:
            self.close()
            raise

    def _claim(self, what: str, build: Any, *args: Any) -> Any:
        # gpiozero warns at each pin factory it falls back from: say it once, on failure
        with warnings.catch_warnings(record=True) as fallbacks:
            warnings.simplefilter("always")
            try:
                if args:
                    return build(*args, self.pin_factory)
                return build()
            except Exception as exc:
                tried = "; ".join(str(w.message) for w in fallbacks)
                raise DeviceError(
                    f"gpio: cannot claim {what}: {why(exc)}" + (f" [{tried}]" if tried else "")
                ) from exc

    def close(self) -> None:
        """Every pin low, then release them all. Idempotent; never raises."""
        self.all_off()
        button, self.button = self.button, None
        if button is not None:
            with contextlib.suppress(Exception):
                button.when_pressed = None
                button.close()
        heartbeat, self.heartbeat = self.heartbeat, None
        if heartbeat is not None:
            with contextlib.suppress(Exception):
                heartbeat.close()
        self.poller.close()
        for output in self.outputs:
            output.close()
        self.outputs = []

    # -- the executor's seam ---------------------------------------------------------

    def now_us(self) -> int:
        """The device clock: microseconds, wrapping every 2**30 like the Pico's ticks_us."""
        if self._clock_us is not None:  # a virtual clock
            return self._clock_us() & TICKS_MAX
        return (time.monotonic_ns() // 1000 + self._offset_us) & TICKS_MAX

    def set_output(self, ch: int, level: float) -> None:
        """Write `level` to channel `ch`'s pins (the executor latches `hal` if this raises).

        From the moment the button goes down, a write is zero, even from a tick that
        was under way before it: nothing rises between a press and the tick that latches it.
        """
        output = self.outputs[ch]
        try:
            if level and self._pressed_now():
                level = 0.0
            output.write(level)
            if level and self._pressed_now():
                output.write(0.0)  # the edge callback ran between the check and the write
        except Exception as exc:
            self.error = f"an output write failed ({type(exc).__name__}: {exc})"
            raise

    def read_temp(self, ch: int) -> float:
        """The latest reading of a heater's sensor; NaN if it failed or went stale."""
        index = self._readers.get(ch)
        return math.nan if index is None else self.poller.latest(index)

    def estop(self) -> bool:
        """True while the button is pressed, or once after a press only its edge callback saw.

        A press this poll saw is not counted again when its callback comes late (after
        the poll, the button released since): one press, one stop.
        """
        button = self.button
        if button is None:
            return False
        down = bool(button.is_pressed)
        pressed = self._pressed and not self._seen_down
        self._pressed = False
        self._seen_down = down
        return down or pressed

    def _pressed_now(self) -> bool:
        button = self.button
        return self._pressed or (button is not None and bool(button.is_pressed))

    def configure(self, ch: int, kind: int) -> bool:
        """Whether channel `ch` drives `kind` (the rig's actuator there); heaters need a reading."""
        if not 0 <= ch < len(self.rig.actuators):
            return False
        act = self.rig.actuators[ch]
        if KIND_CODES[act.kind] != kind:
            self.error = f"channel {ch} is {act.id!r}, a {act.kind}"
        elif kind == codes.KIND_HEATER and ch not in self._readers and not self._open_sensor(ch):
            pass
        else:
            return True
        say(f"gpio: {self.error}")
        return False

    def _open_sensor(self, ch: int) -> bool:
        act = self.rig.actuators[ch]
        gpio = act.bindings.gpio
        if gpio is None or gpio.sensor is None:
            self.error = f"heater {act.id!r} has no temperature sensor in its gpio binding"
            return False
        try:
            reader: TempReader = open_reader(
                gpio.sensor, w1_root=self.w1_root, pin_factory=self.pin_factory
            )
        except Exception as exc:
            self.error = f"cannot open the sensor of {act.id!r}: {why(exc)}"
            return False
        readers = [*self.poller.readers, reader]
        self.poller.close()  # closes the old readers too: reopen them in the new poller
        self.poller = SensorPoller(readers, time=self.time)
        self._readers[ch] = len(readers) - 1
        self.poller.read_all()
        error = self.poller.errors[self._readers[ch]]
        if error:
            self.error = f"heater {act.id!r} has no temperature reading: {error}"
            del self._readers[ch]
            return False
        self.poller.start()
        return True

    # -- around the executor ---------------------------------------------------------

    def all_off(self) -> None:
        """Drive every output pin low now, bypassing the executor; a refusing pin is released."""
        self.beat(False)
        for output in self.outputs:
            try:
                output.zero()
            except Exception:
                output.close()  # a released pin is an input: the driver's pull-down holds it low

    def beat(self, healthy: bool) -> None:
        """Toggle the heartbeat pin while healthy; hold it low otherwise."""
        heartbeat = self.heartbeat
        if heartbeat is None:
            return
        try:
            if healthy:
                heartbeat.toggle()
            elif heartbeat.value:
                heartbeat.off()
        except Exception:
            with contextlib.suppress(Exception):
                heartbeat.close()  # released: the one-shot sees no more beats
            self.heartbeat = None

    def _on_press(self) -> None:
        """The button's edge (gpiozero's thread): every pin low now; the next tick latches."""
        self._pressed = True
        self.all_off()


def why(exc: BaseException) -> str:
    """A one-line reason for a gpiozero or sensor failure, with a hint for the common ones."""
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SensorError) else str(exc)
    name = type(exc).__name__
    if name in ("BadPinFactory", "PinFactoryFallback"):
        text += (
            " (no GPIO pin factory: on a Pi install python3-lgpio; on a PC set "
            "GPIOZERO_PIN_FACTORY=mock and GPIOZERO_MOCK_PIN_CLASS=mockpwmpin)"
        )
    elif name in ("GPIOPinInUse",) or "busy" in text.lower():
        text += " (is another massager or GPIO program running?)"
    elif "pwm freq" in text.lower():
        text += " (lgpio's software PWM runs at 0.1..10000 Hz: lower pwm_hz in the rig)"
    elif name == "PinPWMUnsupported":
        text += (
            " (this pin factory has no PWM: with mock pins set GPIOZERO_MOCK_PIN_CLASS=mockpwmpin)"
        )
    return text


def say(message: str) -> None:
    """A line on the device process's stderr (the host shows it with its own errors)."""
    with contextlib.suppress(Exception):
        print(message, file=sys.stderr, flush=True)
