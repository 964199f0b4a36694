"""A fault-injecting proxy between the host and a (virtual) device, over real pseudo-terminals.

The host opens `proxy.port`; the proxy forwards to the device's terminal and
back. With `faults` on, each byte inside a frame is corrupted, dropped,
doubled or delayed with probability `rate` each, and each intact frame is
sent twice with probability `rate` (a duplicate, as a retransmission makes).
`cut(seconds)` stops the link both ways, starting and ending at frame
boundaries. `SteppedProxy` does the same in the host's own thread, between
it and a virtual Pico on a stepped clock.

It counts, per direction, `injected`: the segments between two sync bytes
that reached the receiver different from what the sender sent. The receiver's
decoder must reject exactly those (its `rejected` counter), no more, no fewer.
Sync bytes themselves are never damaged, so each damaged frame stays one
segment and the count is exact.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import select
import threading
import time
import tty
from collections import Counter, deque
from collections.abc import Callable

from firmware_bridge.codec import SYNC
from firmware_bridge.virtual import LoopDevice

_SYNC = bytes([SYNC])


class Direction:
    """One direction of the link: faults applied byte by byte, delays keeping the order."""

    def __init__(self, rng: random.Random, rate: float, max_delay_s: float) -> None:
        self.rng = rng
        self.rate = rate
        self.max_delay_s = max_delay_s
        self.out: deque[tuple[float, bytes]] = deque()
        self.ready_at = 0.0
        self.seg_ref = bytearray()  # what the sender sent since the last sync we passed on
        self.out_seg = bytearray()  # what we passed on since then
        self.cutting = False
        self.injected = 0
        self.counts: Counter[str] = Counter()

    def _emit(self, data: bytes, now: float, delay: float = 0.0) -> None:
        at = max(self.ready_at, now + delay)
        self.ready_at = at
        self.out.append((at, data))

    def take(self, data: bytes, now: float, faults: bool, cut: bool) -> None:
        """Bytes from the sender: damage them or not, queue them for the receiver."""
        rng, rate = self.rng, self.rate
        for b in data:
            if b == SYNC:
                if cut != self.cutting:
                    self.cutting = cut  # cuts begin and end at a frame boundary
                if self.cutting:
                    self.counts["cut"] += 1
                    continue
                ref = bytes(self.seg_ref)
                intact = bytes(self.out_seg) == ref
                if self.out_seg and not intact:
                    self.injected += 1
                self.out_seg.clear()
                self.seg_ref.clear()
                self._emit(_SYNC, now)
                if faults and ref and intact and rng.random() < rate:
                    self.counts["frame_dup"] += 1
                    self._emit(ref + _SYNC, now)
                continue
            if self.cutting:
                continue
            self.seg_ref.append(b)
            r = rng.random() if faults else 1.0
            if r < rate:
                x = b
                while x in (b, SYNC):
                    x = b ^ rng.randrange(1, 256)
                self.counts["corrupt"] += 1
                self.out_seg.append(x)
                self._emit(bytes([x]), now)
            elif r < 2 * rate:
                self.counts["drop"] += 1
            elif r < 3 * rate:
                self.counts["dup"] += 1
                self.out_seg += bytes([b, b])
                self._emit(bytes([b, b]), now)
            elif r < 4 * rate:
                self.counts["delay"] += 1
                self.out_seg.append(b)
                self._emit(bytes([b]), now, rng.uniform(0.001, self.max_delay_s))
            else:
                self.out_seg.append(b)
                self._emit(bytes([b]), now)

    def due(self, now: float) -> bytes:
        """Take what is due to the receiver by `now`."""
        chunk = bytearray()
        while self.out and self.out[0][0] <= now:
            chunk += self.out.popleft()[1]
        return bytes(chunk)

    def flush(self, fd: int, now: float) -> None:
        """Write what is due to the receiver."""
        while self.out and self.out[0][0] <= now:
            at, _data = self.out[0]
            chunk = bytearray()
            while self.out and self.out[0][0] <= now and len(chunk) < 1024:
                chunk += self.out.popleft()[1]
            try:
                sent = os.write(fd, chunk)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.out.clear()
                return
            if sent < len(chunk):
                self.out.appendleft((at, bytes(chunk[sent:])))
                return


class FaultProxy:
    """Forwards between `proxy.port` (for the host) and `device_port`, injecting faults."""

    def __init__(
        self, device_port: str, *, rate: float = 0.01, seed: int = 1, max_delay_s: float = 0.01
    ) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._dev = os.open(device_port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._dev)
        rng = random.Random(seed)
        self.up = Direction(rng, rate, max_delay_s)
        """Host to device."""
        self.down = Direction(rng, rate, max_delay_s)
        """Device to host."""
        self.faults = True
        self._cut_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()

    def cut(self, seconds: float) -> None:
        """Stop the link both ways for `seconds` (float('inf'): for good)."""
        self._cut_until = time.monotonic() + seconds

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._master, self._dev], [], [], 0.001)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            cut = now < self._cut_until
            for fd, direction in ((self._master, self.up), (self._dev, self.down)):
                if fd in readable:
                    try:
                        data = os.read(fd, 4096)
                    except (BlockingIOError, InterruptedError):
                        data = b""
                    except OSError:
                        data = b""
                        time.sleep(0.001)
                    if data:
                        direction.take(data, now, self.faults, cut)
            self.up.flush(self._dev, now)
            self.down.flush(self._master, now)

    def close(self) -> None:
        """Stop forwarding and close both terminals."""
        self._stop.set()
        self._thread.join(2)
        for fd in (self._master, self._slave, self._dev):
            with contextlib.suppress(OSError):
                os.close(fd)


class SteppedProxy:
    """The same faults and cuts between a host and a `LoopDevice` in one thread, on a
    stepped clock (`now`, seconds): the host's port, pyserial-shaped.

    `pump()` (attached to the `SteppedTime` after the device's step) passes on what
    each side sent that is due; with one seed, a run is the same run every time.
    """

    def __init__(
        self,
        device: LoopDevice,
        now: Callable[[], float],
        *,
        rate: float = 0.01,
        seed: int = 1,
        max_delay_s: float = 0.01,
    ) -> None:
        self.device = device
        self._now = now
        rng = random.Random(seed)
        self.up = Direction(rng, rate, max_delay_s)
        """Host to device."""
        self.down = Direction(rng, rate, max_delay_s)
        """Device to host."""
        self.faults = False
        self._cut_until = -math.inf
        self._in = bytearray()

    def cut(self, seconds: float) -> None:
        """Stop the link both ways for `seconds` (math.inf: for good)."""
        self._cut_until = self._now() + seconds

    def _cut(self, now: float) -> bool:
        return now < self._cut_until

    def pump(self) -> None:
        """Pass on what is due each way."""
        now = self._now()
        replies = self.device.read(self.device.in_waiting)
        if replies:
            self.down.take(replies, now, self.faults, self._cut(now))
        self._in += self.down.due(now)
        data = self.up.due(now)
        if data:
            self.device.write(data)

    @property
    def in_waiting(self) -> int:
        """Bytes that have come through for the host."""
        return len(self._in)

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes for the host."""
        data = bytes(self._in[:size])
        del self._in[:size]
        return data

    def write(self, data: bytes) -> int:
        """Bytes from the host: what is not delayed (or lost) reaches the device at once."""
        now = self._now()
        self.up.take(data, now, self.faults, self._cut(now))
        due = self.up.due(now)
        if due:
            self.device.write(due)
        return len(data)

    def reset_input_buffer(self) -> None:
        """Drop what came through for the host and nobody read."""
        self._in.clear()

    def close(self) -> None:
        """Nothing to close (the device stays)."""
