"""The host's frames in flight to a device: numbering, the window, acknowledgements, resending.

Host frames are numbered and acknowledged by the device; a window of them may
be in flight, as in Klipper's serial queue. A frame not acknowledged within
the retransmission timeout, or named by a bare acknowledgement that shows a
gap, is sent again with everything after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge import codec

RTO_INIT = 0.1
RTO_MIN = 0.025
RTO_MAX = 0.1
"""Short: a serial link loses frames to noise, not to congestion, so waiting longer never helps,
and a frame must get through well within the device's watchdog time."""
WINDOW = 16
LOSS_GAIN = 0.05
LOSSY = 0.2
"""Above this share of frames needing a retransmission, the link counts as noisy."""


@dataclass(slots=True)
class Outgoing:
    """One host frame: its number, its bytes, when it was (first) sent."""

    n: int
    frame: bytes
    sent_at: float = 0.0
    first_sent: float = 0.0
    retransmitted: bool = False


class SendWindow:
    """Frames to the device through `write`, at most `size` unacknowledged, timed by `now`."""

    def __init__(
        self, write: Callable[[bytes], object], now: Callable[[], float], size: int = WINDOW
    ) -> None:
        self._write = write
        self._now = now
        self.size = size
        self.next = 0  # number of the next host frame (its low byte goes on the wire)
        self.acked = 0  # every frame numbered below this is acknowledged
        self._unacked: deque[Outgoing] = deque()
        self._queue: deque[Outgoing] = deque()
        self.rto = RTO_INIT
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._last_fast = 0.0
        self.last_tx = 0.0
        """When the latest frame was written (host seconds)."""
        self.loss = 0.0
        """Share of recent frames that needed retransmitting (a moving average)."""
        self.retransmits = 0
        self.timeouts = 0

    def restart(self) -> int:
        """Begin numbering afresh (a hello): drop what is in flight; the hello's own number."""
        base = self.next
        self.next = self.acked = base + 1
        self._unacked.clear()
        self._queue.clear()
        self.rto = RTO_INIT
        self._srtt = None
        return base

    def send(self, mtype: int, payload: bytes) -> Outgoing:
        """Number a message and send it (or queue it while the window is full)."""
        n = self.next
        self.next += 1
        item = Outgoing(n, codec.encode_frame(n & 0xFF, mtype, payload))
        if len(self._unacked) < self.size and not self._queue:
            self._transmit(item)
            self._unacked.append(item)
        else:
            self._queue.append(item)
        return item

    def write_now(self, frame: bytes) -> None:
        """Write an unnumbered frame (a hello) at once."""
        self.last_tx = self._now()
        self._write(frame)

    def _transmit(self, item: Outgoing) -> None:
        now = self._now()
        item.sent_at = now
        if not item.first_sent:
            item.first_sent = now
        self.last_tx = now
        self._write(item.frame)

    def _retransmit(self) -> None:
        for item in self._unacked:
            item.retransmitted = True
            self.retransmits += 1
            self._transmit(item)

    def check(self, now: float) -> None:
        """Resend everything in flight once the oldest frame's timeout has passed."""
        if self._unacked and now - self._unacked[0].sent_at > self.rto:
            self.timeouts += 1
            self.rto = min(RTO_MAX, self.rto * 2)
            self._retransmit()

    def on_ack(self, seq: int, bare: bool, now: float) -> None:
        """The device acknowledged every frame below `seq` (the low byte); `bare`: an ACK only."""
        cand = self.acked + ((seq - self.acked) & 0xFF)
        if cand > self.next:
            return  # acknowledges something never sent: stale
        if cand > self.acked:
            sample = None
            while self._unacked and self._unacked[0].n < cand:
                item = self._unacked.popleft()
                self.loss += LOSS_GAIN * (float(item.retransmitted) - self.loss)
                if not item.retransmitted:
                    sample = now - item.sent_at
            self.acked = cand
            if sample is not None:
                self._rtt_sample(sample)
            else:
                self.rto = self._rto_from_rtt()  # progress: no more backing off
            while self._queue and len(self._unacked) < self.size:
                item = self._queue.popleft()
                self._transmit(item)
                self._unacked.append(item)
        elif bare and self._unacked:
            # the device saw a gap (or a duplicate): resend from the oldest unacknowledged
            wait = max(0.01, self._srtt or 0.0)
            if now - self._last_fast >= wait:
                self._last_fast = now
                self._retransmit()

    def _rtt_sample(self, rtt: float) -> None:
        if self._srtt is None:
            self._srtt = rtt
            self._rttvar = rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self.rto = self._rto_from_rtt()

    def _rto_from_rtt(self) -> float:
        if self._srtt is None:
            return RTO_INIT
        return min(RTO_MAX, max(RTO_MIN, self._srtt + 4 * self._rttvar))

    def in_flight(self) -> int:
        """Frames sent or queued and not yet acknowledged."""
        return len(self._unacked) + len(self._queue)

    @property
    def lossy(self) -> bool:
        """Whether many frames need retransmitting: long frames then rarely get through."""
        return self.loss > LOSSY
