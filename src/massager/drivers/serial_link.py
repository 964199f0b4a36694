"""The host end of the wire protocol on a pyserial port: reliable delivery, replies, heartbeat.

A background thread reads the port, acknowledges, retransmits and keeps the
device's watchdog fed; callers send messages and wait for replies. Host frames
are numbered and acknowledged by the device (a window of them may be in
flight, as in Klipper's serial queue); a frame not acknowledged within the
retransmission timeout, or named by a bare acknowledgement that shows a gap,
is sent again with everything after it. Replies are matched to requests by a
token; a lost reply is asked for again, never retransmitted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from firmware_bridge import codec, codes, names


class Port(Protocol):
    """What the link needs of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


RTO_INIT = 0.1
RTO_MIN = 0.025
RTO_MAX = 0.1
"""Short: a serial link loses frames to noise, not to congestion, so waiting longer never helps,
and a frame must get through well within the device's watchdog time."""
WINDOW = 16
LOSS_GAIN = 0.05
LOSSY = 0.2
"""Above this share of frames needing a retransmission, the link counts as noisy."""
REOPEN_EVERY = 0.1


@dataclass(frozen=True, slots=True)
class Status:
    """One status report of the device, as decoded, with when it arrived."""

    token: int
    now_us: int
    flags: int
    faults: int
    cut_mask: int
    shift_us: int
    queued: int
    refused: int
    last_id: int
    last_code: int
    levels: list[float]
    temps: list[float | None]
    currents: list[float | None]
    received_at: float
    acked: int
    """Every host frame numbered below this had been handled when the report was made."""

    @property
    def paused(self) -> bool:
        """Whether the device's program is paused."""
        return bool(self.flags & codes.FLAG_PAUSED)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the device said about itself in its identify reply."""

    version: int
    nonce: int
    session: int
    channels: int
    caps: int
    queue_size: int
    max_payload: int
    now_us: int
    faults: int
    firmware: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message the device refused: its type, the command id or channel, and why."""

    mtype: int
    ident: int
    ch: int
    code: int

    @property
    def reason(self) -> str:
        """The refusal reason spelled out."""
        return names.reason_name(self.code)


@dataclass(slots=True)
class _Outgoing:
    n: int
    frame: bytes
    sent_at: float = 0.0
    first_sent: float = 0.0
    retransmitted: bool = False


class LinkClosed(Exception):
    """The link was closed while waiting."""


class SerialLink:
    """Reliable, acknowledged frames to one device over a port made by `opener`.

    `opener()` returns an open pyserial port; the link calls it again to
    reconnect after the port fails (a USB cable pulled), as long as
    `reconnect` is True.
    """

    def __init__(self, opener: Callable[[], Port], *, window: int = WINDOW) -> None:
        self._opener = opener
        self.window = window
        self._port: Port | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.decoder = codec.Decoder(self._on_frame)
        # sending
        self._next = 0  # number of the next host frame (its low byte goes on the wire)
        self._acked = 0  # every frame numbered below this is acknowledged
        self._unacked: deque[_Outgoing] = deque()
        self._queue: deque[_Outgoing] = deque()
        self.rto = RTO_INIT
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._last_fast = 0.0
        self._last_tx = 0.0
        # receiving
        self._token = 0
        self._replies: dict[tuple[int, int], tuple[bytes, float]] = {}
        self._nonce: int | None = None
        self.identity: Identity | None = None
        self.status: Status | None = None
        self.refusals: deque[Refusal] = deque(maxlen=64)
        self.last_rx = 0.0
        # the connection
        self.connected = False
        self.connections = 0
        self.reconnect = True
        self.port_error = ""
        self.failure = ""
        """Why the link thread stopped, if it failed."""
        self._last_open_try = 0.0
        # periodic traffic, set by the driver
        self.heartbeat_s = 0.0
        self.alive: Callable[[], bool] = lambda: True
        self.clock_period_s = 0.0
        self.on_clock: Callable[[float, float, int], object] | None = None
        self.on_status: Callable[[Status], object] | None = None
        """Called (in the link thread) with every status report as it arrives."""
        self._clock_pending: dict[int, _Outgoing] = {}
        self._last_clock = 0.0
        self._beats = 0
        # counters
        self.loss = 0.0
        """Share of recent frames that needed retransmitting (a moving average)."""
        self.tx_frames = 0
        self.retransmits = 0
        self.timeouts = 0
        self.bytes_out = 0
        self.bytes_in = 0

    # -- connection ------------------------------------------------------

    def open(self) -> None:
        """Open the port (raising what the opener raises) and start the link thread."""
        port = self._opener()
        self._attach(port)
        self._thread = threading.Thread(target=self._run, name="massager-serial", daemon=True)
        self._thread.start()

    def _attach(self, port: Port) -> None:
        with suppress(Exception):
            port.reset_input_buffer()  # stale replies from an earlier connection
        with self._lock:
            self._port = port
            self.decoder.reset()
            self.connected = True
            self.connections += 1
            self.port_error = ""
            self.last_rx = time.monotonic()
            self._cond.notify_all()

    def _detach(self, error: BaseException | None) -> None:
        with self._lock:
            port, self._port = self._port, None
            self.connected = False
            if error is not None:
                self.port_error = f"{type(error).__name__}: {error}"
            self._cond.notify_all()
        if port is not None:
            with suppress(Exception):
                port.close()

    def close(self) -> None:
        """Stop the link thread and close the port. Idempotent."""
        self._closing = True
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        self._detach(None)

    # -- the link thread ---------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # a bug: say so; the device's watchdog turns the outputs off
            self.failure = f"{type(exc).__name__}: {exc}"
            self._detach(exc)

    def _serve(self) -> None:
        while not self._closing:
            port = self._port
            if port is None:
                self._try_reopen()
                time.sleep(0.01)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # the port failed: USB pulled, terminal gone
                self._detach(exc)
                continue
            if data:
                self.bytes_in += len(data)
                with self._lock:
                    self.decoder.feed(data)
            self._timers(time.monotonic())

    def _try_reopen(self) -> None:
        now = time.monotonic()
        if not self.reconnect or now - self._last_open_try < REOPEN_EVERY:
            return
        self._last_open_try = now
        try:
            port = self._opener()
        except Exception as exc:
            self.port_error = f"{type(exc).__name__}: {exc}"
            return
        self._attach(port)

    def _timers(self, now: float) -> None:
        with self._lock:
            if not self.connected or self.identity is None:
                return
            if self._unacked and now - self._unacked[0].sent_at > self.rto:
                self.timeouts += 1
                self.rto = min(RTO_MAX, self.rto * 2)
                self._retransmit(now)
            alive = self.alive()
            # while frames are in flight, their retransmissions are the heartbeat: more
            # frames would only crowd a noisy link (one lost frame holds up all after it)
            idle = not self._unacked and not self._queue
            if self.heartbeat_s > 0 and alive and idle and now - self._last_tx >= self.heartbeat_s:
                # alternate a status query with a clock query, whose reply is short and
                # so gets through a noisy link more often (and feeds the clock sync)
                self._beats += 1
                if self._beats % 2 and self.on_clock is not None:
                    self._clock_query()
                else:
                    self._send_locked(codes.MSG_STATUS, codec.encode_token(self._new_token()))
            if (
                self.clock_period_s > 0
                and alive
                and idle
                and self.on_clock is not None
                and now - self._last_clock >= self.clock_period_s
            ):
                self._last_clock = now
                self._clock_query()

    def _clock_query(self) -> None:
        token = self._new_token()
        item = self._send_locked(codes.MSG_CLOCK, codec.encode_token(token))
        self._clock_pending[token] = item
        if len(self._clock_pending) > 32:
            self._clock_pending.pop(next(iter(self._clock_pending)))

    # -- sending -------------------------------------------------------------

    def _new_token(self) -> int:
        self._token = (self._token % 0xFFFF) + 1  # 0 marks unasked reports
        return self._token

    def send(self, mtype: int, payload: bytes = b"") -> int:
        """Send one message reliably; returns its frame number (see `wait_acked`)."""
        with self._lock:
            return self._send_locked(mtype, payload).n

    def _send_locked(self, mtype: int, payload: bytes) -> _Outgoing:
        n = self._next
        self._next += 1
        item = _Outgoing(n, codec.encode_frame(n & 0xFF, mtype, payload))
        if len(self._unacked) < self.window and not self._queue:
            self._transmit(item)
            self._unacked.append(item)
        else:
            self._queue.append(item)
        return item

    def _transmit(self, item: _Outgoing) -> None:
        now = time.monotonic()
        item.sent_at = now
        if not item.first_sent:
            item.first_sent = now
        self._last_tx = now
        self._write(item.frame)

    def _write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            return
        try:
            port.write(data)
            self.tx_frames += 1
            self.bytes_out += len(data)
        except Exception:
            pass  # not sent: retransmitted later, or the reader notices the port is gone

    def _retransmit(self, now: float) -> None:
        for item in self._unacked:
            item.retransmitted = True
            self.retransmits += 1
            self._transmit(item)

    def _fill_window(self) -> None:
        while self._queue and len(self._unacked) < self.window:
            item = self._queue.popleft()
            self._transmit(item)
            self._unacked.append(item)

    # -- receiving -------------------------------------------------------------

    def _on_frame(self, seq: int, mtype: int, payload: bytes) -> None:
        now = time.monotonic()
        if mtype == codes.MSG_IDENTIFY_REPLY:
            self._on_identify(payload, now)
            return
        if self.identity is None:
            return  # not ours yet: a reply from before this connection
        self.last_rx = now
        self._on_ack(seq, mtype == codes.MSG_ACK, now)
        with suppress(ValueError):  # a well-framed but malformed reply is ignored
            self._dispatch(mtype, payload, now)
        self._cond.notify_all()

    def _on_identify(self, payload: bytes, now: float) -> None:
        try:
            fields = codec.decode_identify_reply(payload)
        except ValueError:
            return
        identity = Identity(*fields)
        if identity.nonce != self._nonce:
            return
        self.identity = identity
        self.last_rx = now
        self._cond.notify_all()

    def _on_ack(self, seq: int, bare: bool, now: float) -> None:
        cand = self._acked + ((seq - self._acked) & 0xFF)
        if cand > self._next:
            return  # acknowledges something never sent: stale
        if cand > self._acked:
            sample = None
            while self._unacked and self._unacked[0].n < cand:
                item = self._unacked.popleft()
                self.loss += LOSS_GAIN * (float(item.retransmitted) - self.loss)
                if not item.retransmitted:
                    sample = now - item.sent_at
            self._acked = cand
            if sample is not None:
                self._rtt_sample(sample)
            else:
                self.rto = self._rto_from_rtt()  # progress: no more backing off
            self._fill_window()
        elif bare and self._unacked:
            # the device saw a gap (or a duplicate): resend from the oldest unacknowledged
            wait = max(0.01, self._srtt or 0.0)
            if now - self._last_fast >= wait:
                self._last_fast = now
                self._retransmit(now)

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

    def _dispatch(self, mtype: int, payload: bytes, now: float) -> None:
        if mtype == codes.MSG_STATUS_REPLY:
            fields = codec.decode_status_reply(payload)
            self.status = status = Status(*fields, received_at=now, acked=self._acked)
            self._replies[(mtype, fields[0])] = (payload, now)
            if self.on_status is not None:
                self.on_status(status)
        elif mtype == codes.MSG_CLOCK_REPLY:
            token, now_us = codec.decode_clock_reply(payload)
            item = self._clock_pending.pop(token, None)
            if item is not None and self.on_clock is not None:
                self.on_clock(item.first_sent, now, now_us)
            self._replies[(mtype, token)] = (payload, now)
        elif mtype == codes.MSG_REFUSED:
            self.refusals.append(Refusal(*codec.decode_refused(payload)))
        elif mtype == codes.MSG_STATS_REPLY:
            token, _ = codec.decode_stats_reply(payload)
            self._replies[(mtype, token)] = (payload, now)
        if len(self._replies) > 64:
            self._replies.pop(next(iter(self._replies)))

    # -- waiting -----------------------------------------------------------------

    def _wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or self._closing:
                    return result
                self._cond.wait(min(left, 0.05))

    def identify(self, nonce: int, timeout: float = 2.0, every: float = 0.1) -> Identity | None:
        """Say hello with `nonce` (again every `every` s, up to `timeout` s); the reply, or None.

        The hello restarts the sequence numbers: frames still unacknowledged from
        before are dropped, and the caller decides what to send again.
        """
        with self._lock:
            base = self._next
            self._next = base + 1
            self._acked = base + 1
            self._unacked.clear()
            self._queue.clear()
            self._clock_pending.clear()
            self.identity = None
            self.status = None
            self._nonce = nonce
            self.rto = RTO_INIT
            self._srtt = None
            frame = codec.encode_frame(
                base & 0xFF, codes.MSG_IDENTIFY, codec.encode_identify(nonce)
            )
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._write(frame)
                self._last_tx = time.monotonic()
            left = deadline - time.monotonic()
            found = self._wait(lambda: self.identity, min(every, max(left, 0.0)))
            if found is not None:
                return found  # type: ignore[no-any-return]
            if time.monotonic() >= deadline or self._closing:
                return None

    def request(
        self, mtype: int, reply_type: int, timeout: float = 2.0, every: float = 0.1
    ) -> tuple[bytes, float, float] | None:
        """Send a token request (clock, status, stats) and wait for its reply.

        A reply is never retransmitted, so the request is made again, with a new
        token, every `every` s until `timeout`. Returns (reply payload, first sent,
        received) in host time, or None.
        """
        deadline = time.monotonic() + timeout
        asked: list[tuple[tuple[int, int], _Outgoing]] = []
        while True:
            with self._lock:
                if not asked or len(self._unacked) + len(self._queue) <= 2:
                    token = self._new_token()
                    item = self._send_locked(mtype, codec.encode_token(token))
                    asked.append(((reply_type, token), item))

            def answered() -> tuple[bytes, float, _Outgoing] | None:
                for key, item in asked:
                    got = self._replies.get(key)
                    if got is not None:
                        return got[0], got[1], item
                return None

            left = deadline - time.monotonic()
            found = self._wait(answered, min(every, max(left, 0.0)))
            if found:
                payload, received, item = found
                return payload, item.first_sent or received, received
            if time.monotonic() >= deadline or self._closing:
                return None

    def wait_acked(self, n: int, timeout: float) -> bool:
        """Wait until frame `n` (from `send`) is acknowledged; whether it was."""
        return bool(self._wait(lambda: self._acked > n, timeout))

    def wait_status_after(self, n: int, timeout: float) -> Status | None:
        """Wait for a status report made after the device handled frame `n`."""

        def fresh() -> Status | None:
            st = self.status
            return st if st is not None and st.acked > n else None

        return self._wait(fresh, timeout)  # type: ignore[no-any-return]

    @property
    def last_tx(self) -> float:
        """time.monotonic() of the latest frame written."""
        return self._last_tx

    @property
    def lossy(self) -> bool:
        """Whether many frames need retransmitting: long frames then rarely get through."""
        return self.loss > LOSSY

    def in_flight(self) -> int:
        """Frames sent or queued and not yet acknowledged."""
        with self._lock:
            return len(self._unacked) + len(self._queue)
