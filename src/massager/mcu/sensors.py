"""Heater temperature inputs on a Raspberry Pi: a DS18B20 on 1-wire, or a thermistor on an MCP3008.

Reading a DS18B20 through sysfs blocks for its conversion (about 750 ms), far
longer than an output tick, so a `SensorPoller` thread reads every sensor in
turn and the tick only looks at the latest reading. A reading that failed or
grew stale reads as NaN, which the GPIO driver turns into a sensor fault.
"""

from __future__ import annotations

import contextlib
import math
import threading
from pathlib import Path
from typing import Any, Protocol

from firmware_bridge.thermistor import ntc_c
from massager.clock import REAL_TIME, HostTime
from massager.rig.model import TempSensor

W1_DEVICES = Path("/sys/bus/w1/devices")
"""Where the kernel's w1-therm driver lists 1-wire devices."""

_DS18B20_POWER_ON = 85000  # millidegrees the chip reports before its first conversion


class SensorError(Exception):
    """A temperature could not be read (missing device, bad CRC, open or shorted input)."""


class TempReader(Protocol):
    """Something that reads one temperature in degrees C, or raises SensorError."""

    label: str

    def read_c(self) -> float:
        """The temperature now, in degrees C."""
        ...

    def close(self) -> None:
        """Release whatever the reader holds."""
        ...


class Ds18b20:
    """A DS18B20 read through the kernel's w1-therm sysfs file (`w1_slave`)."""

    def __init__(self, device_id: str, root: Path = W1_DEVICES) -> None:
        self.path = root / device_id / "w1_slave"
        self.label = f"DS18B20 {device_id}"

    def read_c(self) -> float:
        """Read the chip (blocks for its conversion); SensorError on a bad or missing reply."""
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise SensorError(f"{self.label}: cannot read {self.path}: {exc.strerror}") from None
        return parse_w1_slave(text, self.label)

    def close(self) -> None:
        """Nothing to release: the file is opened per reading."""


def parse_w1_slave(text: str, label: str = "DS18B20") -> float:
    """Degrees C from the two lines of a w1_slave file; SensorError if the CRC failed."""
    lines = text.strip().splitlines()
    if len(lines) < 2 or not lines[0].rstrip().endswith("YES"):
        raise SensorError(f"{label}: CRC check failed (loose wire or missing pull-up?)")
    _, sep, milli = lines[1].rpartition("t=")
    if not sep:
        raise SensorError(f"{label}: no temperature in its reply")
    try:
        value = int(milli)
    except ValueError:
        raise SensorError(f"{label}: unreadable temperature {milli!r}") from None
    if value == _DS18B20_POWER_ON:
        raise SensorError(f"{label}: reports its power-on value 85C (not converted yet)")
    return value / 1000.0


class Analog(Protocol):
    """An ADC input with a `value` from 0 to 1 of its reference voltage (gpiozero's MCP3008)."""

    @property
    def value(self) -> float:
        """The input as a fraction of the reference voltage."""
        ...


class Mcp3008Thermistor:
    """An NTC thermistor read through one channel of an MCP3008 on SPI0.

    Wiring: `series_ohm` from 3.3 V to the channel, the thermistor from the
    channel to ground, and the MCP3008's reference at 3.3 V.
    """

    def __init__(
        self,
        channel: int,
        beta: float,
        r25_ohm: float,
        series_ohm: float,
        *,
        pin_factory: Any = None,
        adc: Analog | None = None,
    ) -> None:
        self.label = f"MCP3008 channel {channel}"
        self.beta = beta
        self.r25_ohm = r25_ohm
        self.series_ohm = series_ohm
        self._owned: Any = None
        if adc is None:
            from gpiozero import MCP3008

            adc = self._owned = MCP3008(channel=channel, pin_factory=pin_factory)
        self._adc = adc

    def read_c(self) -> float:
        """Temperature from the divider voltage (beta equation); SensorError if open or shorted."""
        return thermistor_c(self._adc.value, self.beta, self.r25_ohm, self.series_ohm, self.label)

    def close(self) -> None:
        """Release the SPI pins if this reader opened them."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None


def thermistor_c(
    ratio: float, beta: float, r25_ohm: float, series_ohm: float, label: str = "thermistor"
) -> float:
    """Degrees C of an NTC thermistor to ground under `series_ohm` to the reference.

    `ratio` is the channel voltage over the reference (0..1).
    """
    if not 0.002 < ratio < 0.998:
        state = "shorted" if ratio <= 0.002 else "open (disconnected?)"
        raise SensorError(f"{label}: thermistor reads {ratio:.3f} of 3.3 V, looks {state}")
    return ntc_c(series_ohm * ratio / (1.0 - ratio), r25_ohm, beta)


def open_reader(
    sensor: TempSensor, *, w1_root: Path = W1_DEVICES, pin_factory: Any = None
) -> TempReader:
    """The reader for a rig's sensor description."""
    if sensor.type == "ds18b20":
        assert sensor.id is not None  # the rig model requires it
        return Ds18b20(sensor.id, root=w1_root)
    assert sensor.channel is not None
    return Mcp3008Thermistor(
        sensor.channel, sensor.beta, sensor.r25_ohm, sensor.series_ohm, pin_factory=pin_factory
    )


class SensorPoller:
    """Reads every sensor every `interval_s` and keeps the latest reading of each.

    `latest(i)` is NaN until a first good reading, after a failed one, and once
    the last good one is older than `stale_s`. Its time is `time`'s: on real time
    the readings are taken in a background thread; on a stepped clock at the
    first step `interval_s` after the previous reading.
    """

    def __init__(
        self,
        readers: list[TempReader],
        interval_s: float = 1.0,
        stale_s: float = 5.0,
        *,
        time: HostTime = REAL_TIME,
    ) -> None:
        self.readers = readers
        self.interval_s = interval_s
        self.stale_s = stale_s
        self.time = time
        self._values = [math.nan] * len(readers)
        self._stamps = [-math.inf] * len(readers)
        self.errors: list[str | None] = [None] * len(readers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stepping = False
        self._next_s = math.inf

    def read_all(self) -> None:
        """Read each sensor once, now (blocking), recording value or error."""
        for i, reader in enumerate(self.readers):
            try:
                value = reader.read_c()
            except SensorError as exc:
                self._values[i] = math.nan
                self.errors[i] = str(exc)
            except Exception as exc:  # a driver fault must not kill the poller
                self._values[i] = math.nan
                self.errors[i] = f"{reader.label}: {exc}"
            else:
                self._values[i] = value
                self._stamps[i] = self.time.now()
                self.errors[i] = None

    @property
    def read_s(self) -> list[float]:
        """When (on `time`, seconds) each sensor last read well (-inf: never)."""
        return list(self._stamps)

    @property
    def next_read_s(self) -> float:
        """When (on a stepped clock) the next reading is due."""
        return self._next_s

    def latest(self, i: int) -> float:
        """The last good reading of sensor `i`, or NaN if it failed or is stale."""
        if self.time.now() - self._stamps[i] > self.stale_s:
            return math.nan
        return self._values[i]

    def start(self) -> None:
        """Begin polling (a first reading should already be taken): in a daemon thread on
        real time, at the steps of a stepped clock."""
        if not self.readers or self._thread is not None or self._stepping:
            return
        if self.time.threaded:
            self._thread = threading.Thread(target=self._run, name="massager-sensors", daemon=True)
            self._thread.start()
        else:
            self._stepping = True
            self._next_s = self.time.now() + self.interval_s
            self.time.attach(self._step)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.read_all()

    def _step(self) -> None:
        now = self.time.now()
        if not self._stop.is_set() and now >= self._next_s:
            self._next_s = now + self.interval_s
            self.read_all()

    def close(self) -> None:
        """Stop polling and release every reader. Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        for reader in self.readers:
            with contextlib.suppress(Exception):
                reader.close()
