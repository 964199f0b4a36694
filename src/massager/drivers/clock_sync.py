"""Estimating a device's clock from round trips: offset and rate against the host's clock.

The device's clock is a wrapping microsecond counter (2**30 us period); the
host unwraps it into one growing count, then fits device time against host
time over recent samples the way Klipper's host does for each MCU: each round
trip gives the device time at the middle of the request and the reply, good to
half the round trip, and the fit trusts the quickest round trips most.

`ClockSync` also takes its own samples, as Klipper's clocksync does: a burst
when a device is connected (`sample`), then a clock query every second (and
at every other heartbeat), read back by its own handler (`follow`).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from firmware_bridge import codec, codes
from firmware_bridge.ticks import TICKS_MAX, ticks_diff

if TYPE_CHECKING:
    from massager.drivers.serial_link import SerialLink
    from massager.drivers.serial_window import Outgoing

MAX_DRIFT = 500e-6
"""Largest rate error believed (crystals are good to ~50 ppm); beyond it the fit is noise."""
PERIOD_S = 1.0
"""How often a followed link's device clock is sampled (besides every other heartbeat)."""


class Unwrapper:
    """Turns successive wrapping device tick readings into one growing microsecond count."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._value = 0

    def __call__(self, ticks: int) -> int:
        """The unwrapped value of reading `ticks` (readings must be < 2**29 us apart)."""
        if self._last is None:
            self._value = ticks
        else:
            self._value += ticks_diff(ticks, self._last)
        self._last = ticks
        return self._value

    def reset(self) -> None:
        """Forget the history (the device restarted)."""
        self._last = None
        self._value = 0


class ClockSync:
    """Device time (unwrapped us) as a linear function of host time (seconds, monotonic)."""

    def __init__(self, window: int = 24) -> None:
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=window)
        self._unwrap = Unwrapper()
        self._lock = threading.Lock()
        self._host0 = 0.0
        self._dev0 = 0.0
        self._rate = 1e6  # device us per host second
        self.min_rtt = float("inf")
        self._pending: dict[int, Outgoing] = {}
        self._last_query = 0.0
        self._link: SerialLink | None = None

    @property
    def ready(self) -> bool:
        """Whether at least one sample has been taken."""
        return bool(self._samples)

    def reset(self) -> None:
        """Forget every sample (the device restarted: its clock began again)."""
        with self._lock:
            self._samples.clear()
            self._unwrap.reset()
            self.min_rtt = float("inf")
            self._rate = 1e6

    def add(self, sent_s: float, received_s: float, device_ticks: int) -> int:
        """Add one round trip: request sent and reply received (host s), device reading.

        Returns the unwrapped device time of the reading.
        """
        rtt = max(0.0, received_s - sent_s)
        with self._lock:
            dev = self._unwrap(device_ticks)
            self._samples.append(((sent_s + received_s) / 2.0, float(dev), rtt))
            self.min_rtt = min(self.min_rtt, rtt)
            self._fit()
            return dev

    def _fit(self) -> None:
        samples = self._samples
        best = min(s[2] for s in samples)
        # round trips much slower than the best carry mostly queueing delay
        good = [s for s in samples if s[2] <= 2.0 * best + 0.0005]
        weights = [1.0 / (s[2] + 0.0002) ** 2 for s in good]
        total = sum(weights)
        host0 = sum(w * s[0] for w, s in zip(weights, good, strict=True)) / total
        dev0 = sum(w * s[1] for w, s in zip(weights, good, strict=True)) / total
        rate = 1e6
        span = good[-1][0] - good[0][0]
        if len(good) >= 3 and span >= 1.0:
            sxx = sum(w * (s[0] - host0) ** 2 for w, s in zip(weights, good, strict=True))
            sxy = sum(
                w * (s[0] - host0) * (s[1] - dev0) for w, s in zip(weights, good, strict=True)
            )
            if sxx > 0:
                rate = sxy / sxx
            rate = min(max(rate, 1e6 * (1 - MAX_DRIFT)), 1e6 * (1 + MAX_DRIFT))
        self._host0, self._dev0, self._rate = host0, dev0, rate

    def device_us(self, host_s: float) -> float:
        """Estimated unwrapped device time at host time `host_s`."""
        with self._lock:
            return self._dev0 + (host_s - self._host0) * self._rate

    def host_s(self, device_us: float) -> float:
        """Estimated host time at which the device clock reads `device_us` (unwrapped)."""
        with self._lock:
            return self._host0 + (device_us - self._dev0) / self._rate

    def unwrap_near(self, device_ticks: int, host_s: float) -> int:
        """Unwrap a device reading taken around host time `host_s` (e.g. in a status report)."""
        anchor = int(self.device_us(host_s))
        return anchor + ticks_diff(device_ticks, anchor & TICKS_MAX)

    # -- sampling a device's clock over its link ----------------------------------

    def sample(self, link: SerialLink, samples: int) -> bool:
        """Take up to `samples` round trips now, waiting for each; whether any answered."""
        for _ in range(samples):
            got = link.request(codes.MSG_CLOCK, codes.MSG_CLOCK_REPLY, timeout=0.2)
            if got is not None:
                payload, sent, received = got
                self.add(sent, received, codec.decode_clock_reply(payload)[1])
        return self.ready

    def follow(self, link: SerialLink) -> None:
        """Keep sampling `link`'s device every PERIOD_S while the link is idle (and at each
        `query()`, the heartbeat's)."""
        self._link = link
        link.handle(codes.MSG_CLOCK_REPLY, self._on_reply)
        link.timers.append(self._timer)

    def query(self) -> None:
        """Send one clock query on the followed link; its reply becomes a sample."""
        link = self._link
        if link is None:
            return
        token, item = link.query(codes.MSG_CLOCK)
        self._pending[token] = item
        if len(self._pending) > 32:
            self._pending.pop(next(iter(self._pending)))

    def _timer(self, now: float) -> None:
        link = self._link
        if link is not None and now - self._last_query >= PERIOD_S and not link.in_flight():
            self._last_query = now
            self.query()

    def _on_reply(self, payload: bytes, received: float) -> None:
        token, now_us = codec.decode_clock_reply(payload)
        item = self._pending.pop(token, None)
        if item is not None:
            self.add(item.first_sent, received, now_us)

    @property
    def drift_ppm(self) -> float:
        """The device clock's rate error against the host's, in parts per million."""
        return (self._rate / 1e6 - 1.0) * 1e6
