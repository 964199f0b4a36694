"""The device end of the wire protocol: received bytes in, executor calls and replies out.

The same class runs on the Pico (main.py) and in the virtual device
(virtual.py). It never lets a frame that failed its checks (sync, length,
CRC, sequence, payload) touch an output: damaged bytes only move counters.

Transport-agnostic: the owner calls ``feed(data)`` with bytes read from the
link and ``tick()`` often (100 Hz or more); replies go out through the
``write(frame_bytes)`` callable given at construction.

The HAL is the executor's (``now_us``, ``set_output``, ``read_temp``) plus,
optionally, ``estop() -> bool`` (True while the emergency stop is pressed),
``read_current(ch) -> float`` (amperes) and ``configure(ch, kind) -> bool``
(False if the hardware cannot drive that kind on that channel).
"""

from firmware_bridge import codec
from firmware_bridge.codec import PROTOCOL_VERSION
from firmware_bridge.codes import (
    CAP_CURRENT,
    CAP_ESTOP,
    ERR_ARG,
    ERR_CHANNEL,
    ERR_MALFORMED,
    ERR_NOT_CONFIGURED,
    ERR_VERSION,
    FAULT_ESTOP,
    FAULT_HAL,
    FLAG_BUSY,
    FLAG_CONFIGURED,
    FLAG_PAUSED,
    KIND_HEATER,
    MSG_ACK,
    MSG_BYE,
    MSG_CLEAR_FAULTS,
    MSG_CLOCK,
    MSG_CLOCK_REPLY,
    MSG_CONFIG_BEGIN,
    MSG_CONFIG_CHANNEL,
    MSG_CONFIG_END,
    MSG_IDENTIFY,
    MSG_IDENTIFY_REPLY,
    MSG_INTENSITY,
    MSG_OFF,
    MSG_PAUSE,
    MSG_REFUSED,
    MSG_RESUME,
    MSG_SCHEDULE,
    MSG_STATS,
    MSG_STATS_REPLY,
    MSG_STATUS,
    MSG_STATUS_REPLY,
    MSG_STOP,
)
from firmware_bridge.executor import QUEUE_SIZE, Executor

FIRMWARE = "massager-firmware 0.1"
DEFAULT_WATCHDOG_MS = 250
MIN_WATCHDOG_MS = 20
MAX_WATCHDOG_MS = 5000
_NO_CHANNEL = 0xFF
_NO_ID = 0xFFFF
_CONTROLS = {MSG_PAUSE: "pause", MSG_RESUME: "resume", MSG_STOP: "stop", MSG_OFF: "off"}
"""The executor's method for each control message (each answered with a status report)."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    Writer = Callable[[bytes], Any]


class Device:
    """The firmware's protocol endpoint around one executor."""

    def __init__(
        self,
        hal: "Any",
        channels: int,
        write: "Writer",
        firmware: str = FIRMWARE,
        caps: int = 0,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.hal = hal
        self.channels = channels
        self.firmware = firmware
        self.queue_size = queue_size
        self._write = write
        self._estop = getattr(hal, "estop", None)
        self._current = getattr(hal, "read_current", None)
        self._hal_configure = getattr(hal, "configure", None)
        if self._estop is not None:
            caps |= CAP_ESTOP
        if self._current is not None:
            caps |= CAP_CURRENT
        self.caps = caps
        self.decoder = codec.Decoder(self._on_frame)
        self.executor = Executor(hal, channels, DEFAULT_WATCHDOG_MS, queue_size)
        self.kinds = [-1] * channels
        self.nonce = 0
        self.identified = False
        self.session = 0
        self.configured = False
        self.expected = 0
        self.rx_duplicates = 0
        self.rx_out_of_order = 0
        self.rx_invalid = 0
        self.tx_frames = 0
        self.refused = 0
        self.last_refused_id = _NO_ID
        self.last_refused_code = 0
        self._reported_faults = 0

    # -- the owner's calls ---------------------------------------------

    def feed(self, data: "bytes | bytearray | memoryview") -> None:
        """Bytes received from the host."""
        self.decoder.feed(data)

    def tick(self) -> None:
        """Run the executor up to now; check the emergency stop; report new faults."""
        ex = self.executor
        if self._estop is not None:
            try:
                pressed = self._estop()
            except Exception:
                pressed = True
            if pressed:
                ex.latch(FAULT_ESTOP)
        try:
            ex.tick()
        except Exception:
            ex.latch(FAULT_HAL)
        if ex.faults != self._reported_faults:
            self._reported_faults = ex.faults
            if self.identified:
                self._send(MSG_STATUS_REPLY, self._status(0))

    def all_off(self) -> None:
        """Every output to zero now (power-up, shutdown, exceptions in the owner's loop)."""
        self.executor.off()
        for ch in range(self.channels):
            try:
                self.hal.set_output(ch, 0.0)
            except Exception:
                pass

    def counters(self) -> "list[int]":
        """The link counters, in the order of codec.STATS_FIELDS."""
        dec = self.decoder
        return [
            dec.frames,
            dec.rejected,
            self.rx_duplicates,
            self.rx_out_of_order,
            self.rx_invalid,
            self.tx_frames,
            self.refused,
        ]

    # -- frames --------------------------------------------------------

    def _send(self, mtype: int, payload: bytes = b"") -> None:
        self.tx_frames += 1
        self._write(codec.encode_frame(self.expected, mtype, payload))

    def _refuse(self, mtype: int, ident: int, ch: int, code: int) -> None:
        self.refused += 1
        self.last_refused_id = ident
        self.last_refused_code = code
        self._send(MSG_REFUSED, codec.encode_refused(mtype, ident, ch, code))

    def _on_frame(self, seq: int, mtype: int, payload: bytes) -> None:
        if mtype == MSG_IDENTIFY:
            self._identify(seq, payload)
            return
        if not self.identified:
            self.rx_invalid += 1  # nobody said hello: no sequence to check against
            return
        if seq != self.expected:
            if (self.expected - seq) & 0xFF <= 128:
                self.rx_duplicates += 1  # already done: acknowledge again, do nothing
                self._alive()
            else:
                self.rx_out_of_order += 1  # one was lost: ask for it again
            self._send(MSG_ACK)
            return
        self.expected = (seq + 1) & 0xFF
        self._alive()
        try:
            replied = self._handle(mtype, payload)
        except Exception:
            self.rx_invalid += 1
            self._refuse(mtype, _NO_ID, _NO_CHANNEL, ERR_MALFORMED)
            return
        if not replied:
            self._send(MSG_ACK)

    def _alive(self) -> None:
        if self.configured:
            self.executor.feed()

    def _identify(self, seq: int, payload: bytes) -> None:
        try:
            version, nonce = codec.decode_identify(payload)
        except Exception:
            self.rx_invalid += 1
            return
        if not self.identified or nonce != self.nonce:
            # a new connection: its sequence numbers start after this frame
            self.identified = True
            self.nonce = nonce
            self.expected = (seq + 1) & 0xFF
        self._send(
            MSG_IDENTIFY_REPLY,
            codec.encode_identify_reply(
                nonce,
                self.session,
                self.channels,
                self.caps,
                self.queue_size,
                self.hal.now_us(),
                self.executor.faults,
                self.firmware,
            ),
        )
        if version != PROTOCOL_VERSION:
            self._refuse(MSG_IDENTIFY, _NO_ID, _NO_CHANNEL, ERR_VERSION)

    def _handle(self, mtype: int, p: bytes) -> bool:
        """Carry out one in-sequence message; True if a reply (which acknowledges) was sent."""
        ex = self.executor
        if mtype == MSG_SCHEDULE:
            return self._schedule(p)
        if mtype == MSG_STATUS:
            self._send(MSG_STATUS_REPLY, self._status(codec.decode_token(p)))
            return True
        if mtype == MSG_CLOCK:
            token = codec.decode_token(p)
            self._send(MSG_CLOCK_REPLY, codec.encode_clock_reply(token, self.hal.now_us()))
            return True
        if mtype == MSG_INTENSITY:
            ex.set_scale(codec.decode_intensity(p))
            return False
        if mtype in _CONTROLS:
            if p:
                raise ValueError("unexpected payload")
            getattr(ex, _CONTROLS[mtype])()
            self._send(MSG_STATUS_REPLY, self._status(0))
            return True
        if mtype == MSG_CLEAR_FAULTS:
            keep = ex.faults & ~codec.decode_clear_faults(p)
            ex.clear_faults()
            if keep:
                ex.latch(keep)
            self._send(MSG_STATUS_REPLY, self._status(0))
            return True
        if mtype == MSG_CONFIG_BEGIN:
            return self._config_begin(p)
        if mtype == MSG_CONFIG_CHANNEL:
            return self._config_channel(p)
        if mtype == MSG_CONFIG_END:
            codec.decode_config_end(p)
            self.configured = True
            ex.feed()  # arms the watchdog: from now on the host must keep talking
            return False
        if mtype == MSG_STATS:
            token = codec.decode_token(p)
            self._send(MSG_STATS_REPLY, codec.encode_stats_reply(token, self.counters()))
            return True
        if mtype == MSG_BYE:
            if p:
                raise ValueError("unexpected payload")
            ex.off()
            self.configured = False
            self.session = 0
            return False
        raise ValueError("unknown message type")

    def _config_begin(self, p: bytes) -> bool:
        session, watchdog_ms = codec.decode_config_begin(p)
        if not (MIN_WATCHDOG_MS <= watchdog_ms <= MAX_WATCHDOG_MS):
            self._refuse(MSG_CONFIG_BEGIN, _NO_ID, _NO_CHANNEL, ERR_ARG)
            return True
        old = self.executor
        faults = old.faults
        old.off()
        # latched faults survive a new configuration: only CLEAR_FAULTS clears them
        self.executor = Executor(self.hal, self.channels, watchdog_ms, self.queue_size)
        if faults:
            self.executor.latch(faults)
        self.kinds = [-1] * self.channels
        self.session = session
        self.configured = False
        return False

    def _config_channel(self, p: bytes) -> bool:
        ch, kind, hi, lo, slew, on_ms, temp = codec.decode_config_channel(p)
        if ch >= self.channels:
            self._refuse(MSG_CONFIG_CHANNEL, ch, ch, ERR_CHANNEL)
            return True
        if self._hal_configure is not None and not self._hal_configure(ch, kind):
            self._refuse(MSG_CONFIG_CHANNEL, ch, ch, ERR_CHANNEL)
            return True
        code = self.executor.configure(ch, kind, hi, lo, slew, on_ms, temp)
        if code:
            self._refuse(MSG_CONFIG_CHANNEL, ch, ch, code)
            return True
        self.kinds[ch] = kind
        return False

    def _schedule(self, p: bytes) -> bool:
        try:
            first_id, commands = codec.decode_schedule(p)
        except Exception:
            self.rx_invalid += 1
            first = p[0] | (p[1] << 8) if len(p) >= 2 else _NO_ID
            self._refuse(MSG_SCHEDULE, first, _NO_CHANNEL, ERR_MALFORMED)
            return True
        replied = False
        ex = self.executor
        for i in range(len(commands)):
            t_us, ch, op, a, b, c, d = commands[i]
            if not self.configured:
                code = ERR_NOT_CONFIGURED
            else:
                code = ex.schedule(t_us & 0x3FFFFFFF, ch, op, a, b, c, d)
            if code:
                self._refuse(MSG_SCHEDULE, (first_id + i) & 0xFFFF, ch, code)
                replied = True
        return replied

    def _status(self, token: int) -> bytes:
        ex = self.executor
        flags = 0
        if self.configured:
            flags |= FLAG_CONFIGURED
        if ex.paused:
            flags |= FLAG_PAUSED
        if ex.busy():
            flags |= FLAG_BUSY
        # channels up to the highest configured one: a short report gets through noise better
        n = 0
        for ch in range(self.channels):
            if self.kinds[ch] >= 0:
                n = ch + 1
        temps = [None] * n  # type: list[float | None]
        currents = [None] * n  # type: list[float | None]
        for ch in range(n):
            if self.kinds[ch] == KIND_HEATER:
                temps[ch] = ex.temps[ch]
            if self._current is not None:
                try:
                    currents[ch] = self._current(ch)
                except Exception:
                    currents[ch] = None
        return codec.encode_status_reply(
            token,
            self.hal.now_us(),
            flags,
            ex.faults,
            ex.cut_mask,
            ex.shift_us,
            ex.queued(),
            self.refused,
            self.last_refused_id,
            self.last_refused_code,
            ex.levels[:n],
            temps,
            currents,
        )
