"""A scripted HAL for executor tests: a settable wrapping clock, recorded writes, temperatures."""

from __future__ import annotations

from firmware_bridge import codes
from firmware_bridge import executor as ex
from firmware_bridge.ticks import TICKS_MAX

TICK_US = 10_000
ROLLER, VIBRATION, AIR, HEATER = 0, 1, 2, 3


class FakeHal:
    """Device clock starting at `start_us` (wrapping), outputs recorded, temperatures scripted."""

    def __init__(self, start_us: int = 0) -> None:
        self.start_us = start_us
        self.el_us = 0
        self.outputs: dict[int, float] = {}
        self.writes: list[tuple[int, int, float]] = []  # (elapsed us, channel, level)
        self.temps: dict[int, float] = {}
        self.fail_writes = False
        self.fail_reads = False

    def now_us(self) -> int:
        return (self.start_us + self.el_us) & TICKS_MAX

    def at(self, el_us: int) -> int:
        """The device time `el_us` after the start."""
        return (self.start_us + el_us) & TICKS_MAX

    def set_output(self, ch: int, level: float) -> None:
        if self.fail_writes:
            raise OSError("output failed")
        self.outputs[ch] = level
        self.writes.append((self.el_us, ch, level))

    def read_temp(self, ch: int) -> float:
        if self.fail_reads:
            raise OSError("sensor failed")
        return self.temps.get(ch, 25.0)


def make(
    start_us: int = 0,
    kinds: tuple[int, ...] = (ROLLER, VIBRATION),
    max_level: float = 1.0,
    max_slew: float = 100.0,
    max_on_ms: int = 600_000,
    max_temp_c: float = 42.0,
    watchdog_ms: int = 250,
    queue_size: int = 64,
) -> tuple[FakeHal, ex.Executor]:
    """An executor on a FakeHal with one channel per kind in `kinds`, fed once."""
    hal = FakeHal(start_us)
    executor = ex.Executor(hal, len(kinds), watchdog_ms, queue_size)
    for ch, kind in enumerate(kinds):
        code = executor.configure(
            ch, kind, max_level, 0.0, max_slew, max_on_ms, max_temp_c if kind == HEATER else None
        )
        assert code == codes.OK
    executor.feed()
    return hal, executor


def run(hal: FakeHal, executor: ex.Executor, until_us: int, feed: bool = True) -> None:
    """Tick every TICK_US up to elapsed `until_us`, feeding the watchdog at each tick."""
    while hal.el_us + TICK_US <= until_us:
        hal.el_us += TICK_US
        if feed:
            executor.feed()
        executor.tick()
