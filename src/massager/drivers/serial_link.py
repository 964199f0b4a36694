"""The host end of the wire protocol on a pyserial port: reliable delivery, replies, heartbeat.

A reader (a thread of its own on real time; a step of `SteppedTime` on a
virtual clock) reads the port, hands acknowledgements to the send window
(serial_window) and every other message to the handlers registered for its
type, and keeps the device's watchdog fed; callers send messages and wait for
replies. Replies are matched to requests by a token; a lost reply is asked for
again, never retransmitted. All time comes from one `HostTime`.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

from firmware_bridge import codec, codes
from massager.clock import REAL_TIME, HostTime
from massager.drivers.serial_messages import TOKEN_REPLIES, Identity, Refusal, Status
from massager.drivers.serial_window import WINDOW, Outgoing, SendWindow

REOPEN_EVERY = 0.1

Handler = Callable[[bytes, float], object]
"""What a message handler gets: the payload and when it arrived (host seconds)."""


class Port(Protocol):
    """What the link needs of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


class SerialLink:
    """Reliable, acknowledged frames to one device over a port made by `opener`.

    `opener()` returns an open pyserial port; the link calls it again to
    reconnect after the port fails (a USB cable pulled), as long as
    `reconnect` is True. `handle(mtype, handler)` registers what to do with a
    message; status reports, refusals and token replies are handled here.
    """

    def __init__(
        self, opener: Callable[[], Port], *, window: int = WINDOW, time: HostTime = REAL_TIME
    ) -> None:
        self._opener = opener
        self.time = time
        self._port: Port | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.decoder = codec.Decoder(self._on_frame)
        self.frames = SendWindow(self._write, time.now, window)
        self._handlers: dict[int, list[Handler]] = {}
        self._token = 0
        self._replies: dict[tuple[int, int], tuple[bytes, float]] = {}
        self._nonce: int | None = None
        self.identity: Identity | None = None
        self.status: Status | None = None
        self.refusals: deque[Refusal] = deque(maxlen=64)
        self.on_status: Callable[[Status], object] | None = None
        """Called (by the reader) with every status report as it arrives."""
        self.last_rx = 0.0
        self.connected = False
        self.connections = 0
        self.reconnect = True
        self.port_error = ""
        self.failure = ""
        """Why the reader stopped, if it failed."""
        self._last_open_try = 0.0
        self.alive: Callable[[], bool] = lambda: True
        """Whether the host program is alive; if not, the timers stop (so does the watchdog)."""
        self.timers: list[Callable[[float], object]] = []
        """Called at each pass of the reader, link lock held, with the time (the heartbeat,
        the clock sync's sampling)."""
        self.tx_frames = 0
        self.bytes_out = 0
        self.bytes_in = 0
        for mtype in TOKEN_REPLIES:
            self.handle(mtype, functools.partial(self._on_token_reply, mtype))
        self.handle(codes.MSG_STATUS_REPLY, self._on_status)
        self.handle(codes.MSG_REFUSED, lambda p, _: self.refusals.append(Refusal.decode(p)))

    def handle(self, mtype: int, handler: Handler) -> None:
        """Call `handler(payload, received_at)` (reader, link lock held) for each `mtype`."""
        self._handlers.setdefault(mtype, []).append(handler)

    # -- connection ------------------------------------------------------

    def open(self) -> None:
        """Open the port (raising what the opener raises) and start reading it."""
        self._attach(self._opener())
        if self.time.threaded:
            self._thread = threading.Thread(target=self._run, name="massager-serial", daemon=True)
            self._thread.start()
        else:
            self.time.attach(self._step)

    def _attach(self, port: Port) -> None:
        with suppress(Exception):
            port.reset_input_buffer()  # stale replies from an earlier connection
        with self._lock:
            self._port = port
            self.decoder.reset()
            self.connected = True
            self.connections += 1
            self.port_error = ""
            self.last_rx = self.time.now()
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
        """Stop reading and close the port. Idempotent."""
        self._closing = True
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        self._detach(None)

    # -- the reader ---------------------------------------------------------

    def _run(self) -> None:
        while not self._closing and self._step():
            if self._port is None:
                self.time.sleep(0.01)

    def _step(self) -> bool:
        """One pass: read what arrived, run the timers. False once the reader failed."""
        if self._closing or self.failure:
            return False
        try:
            self._serve()
        except Exception as exc:  # a bug: say so; the device's watchdog turns the outputs off
            self.failure = f"{type(exc).__name__}: {exc}"
            self._detach(exc)
            return False
        return True

    def _serve(self) -> None:
        port = self._port
        if port is None:
            self._try_reopen()
            return
        try:
            data = port.read(max(1, port.in_waiting))
        except Exception as exc:  # the port failed: USB pulled, terminal gone
            self._detach(exc)
            return
        if data:
            self.bytes_in += len(data)
            with self._lock:
                self.decoder.feed(data)
        self._timers(self.time.now())

    def _try_reopen(self) -> None:
        now = self.time.now()
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
            self.frames.check(now)
            if self.alive():
                for timer in self.timers:
                    timer(now)

    # -- sending -------------------------------------------------------------

    def send(self, mtype: int, payload: bytes = b"") -> int:
        """Send one message reliably; returns its frame number (see `wait_acked`)."""
        with self._lock:
            return self.frames.send(mtype, payload).n

    def query(self, mtype: int) -> tuple[int, Outgoing]:
        """Send a token request (no waiting): its token and its frame."""
        with self._lock:
            self._token = (self._token % 0xFFFF) + 1  # 0 marks unasked reports
            return self._token, self.frames.send(mtype, codec.encode_token(self._token))

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

    # -- receiving -------------------------------------------------------------

    def _on_frame(self, seq: int, mtype: int, payload: bytes) -> None:
        now = self.time.now()
        if mtype == codes.MSG_IDENTIFY_REPLY:
            with suppress(ValueError):
                identity = Identity.decode(payload)
                if identity.nonce == self._nonce:
                    self.identity = identity
                    self.last_rx = now
                    self._cond.notify_all()
            return
        if self.identity is None:
            return  # not ours yet: a reply from before this connection
        self.last_rx = now
        self.frames.on_ack(seq, mtype == codes.MSG_ACK, now)
        with suppress(ValueError):  # a well-framed but malformed reply is ignored
            for handler in self._handlers.get(mtype, ()):
                handler(payload, now)
        self._cond.notify_all()

    def _on_status(self, payload: bytes, now: float) -> None:
        self.status = status = Status.decode(payload, now, self.frames.acked)
        if self.on_status is not None:
            self.on_status(status)

    def _on_token_reply(self, mtype: int, payload: bytes, now: float) -> None:
        self._replies[(mtype, TOKEN_REPLIES[mtype](payload))] = (payload, now)
        if len(self._replies) > 64:
            self._replies.pop(next(iter(self._replies)))

    # -- waiting -----------------------------------------------------------------

    def _wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = self.time.now() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - self.time.now()
                if left <= 0 or self._closing:
                    return result
                if self.time.threaded:
                    self._cond.wait(min(left, 0.05))
                else:
                    self.time.sleep(min(left, 0.05))

    def identify(self, nonce: int, timeout: float = 2.0, every: float = 0.1) -> Identity | None:
        """Say hello with `nonce` (again every `every` s, up to `timeout` s); the reply, or None.

        The hello restarts the sequence numbers: frames still unacknowledged from
        before are dropped, and the caller decides what to send again.
        """
        with self._lock:
            base = self.frames.restart()
            self.identity = None
            self.status = None
            self._nonce = nonce
            frame = codec.encode_frame(
                base & 0xFF, codes.MSG_IDENTIFY, codec.encode_identify(nonce)
            )
        deadline = self.time.now() + timeout
        while True:
            with self._lock:
                self.frames.write_now(frame)
            left = deadline - self.time.now()
            found = self._wait(lambda: self.identity, min(every, max(left, 0.0)))
            if found is not None:
                return found  # type: ignore[no-any-return]
            if self.time.now() >= deadline or self._closing:
                return None

    def request(
        self, mtype: int, reply_type: int, timeout: float = 2.0, every: float = 0.1
    ) -> tuple[bytes, float, float] | None:
        """Send a token request (clock, status, stats) and wait for its reply.

        A reply is never retransmitted, so the request is made again, with a new
        token, every `every` s until `timeout`. Returns (reply payload, first sent,
        received) in host time, or None.
        """
        deadline = self.time.now() + timeout
        asked: list[tuple[tuple[int, int], Outgoing]] = []
        while True:
            if not asked or self.in_flight() <= 2:
                token, item = self.query(mtype)
                asked.append(((reply_type, token), item))

            def answered() -> tuple[bytes, float, Outgoing] | None:
                for key, item in asked:
                    got = self._replies.get(key)
                    if got is not None:
                        return got[0], got[1], item
                return None

            left = deadline - self.time.now()
            found = self._wait(answered, min(every, max(left, 0.0)))
            if found:
                payload, received, item = found
                return payload, item.first_sent or received, received
            if self.time.now() >= deadline or self._closing:
                return None

    def wait_acked(self, n: int, timeout: float) -> bool:
        """Wait until frame `n` (from `send`) is acknowledged; whether it was."""
        return bool(self._wait(lambda: self.frames.acked > n, timeout))

    def wait_status_after(self, n: int, timeout: float) -> Status | None:
        """Wait for a status report made after the device handled frame `n`."""

        def fresh() -> Status | None:
            st = self.status
            return st if st is not None and st.acked > n else None

        return self._wait(fresh, timeout)  # type: ignore[no-any-return]

    def in_flight(self) -> int:
        """Frames sent or queued and not yet acknowledged."""
        with self._lock:
            return self.frames.in_flight()


def status_after(link: SerialLink, n: int, timeout: float = 2.0) -> Status | None:
    """A status report made after the device handled frame `n` (asking again if need be)."""
    deadline = link.time.now() + timeout
    while True:
        st = link.wait_status_after(n, 0.03)
        if st is not None or link.time.now() >= deadline:
            return st
        if link.in_flight() <= 2:  # never clog the window with questions
            link.send(codes.MSG_STATUS, codec.encode_token(0xFFFF))
