"""The wire protocol spoken between the host and the Pico: frames, CRC-32 and messages.

One module for both ends (MicroPython on the Pico, CPython on the host); the
byte-by-byte description with example frames is docs/protocol.md.

A frame on the wire::

    7E | LEN SEQ TYPE PAYLOAD[LEN] CRC32[4] (byte-stuffed) | 7E

The CRC-32 (the one zlib uses) covers LEN, SEQ, TYPE and the payload and is
sent little-endian. Between the two sync bytes a 7E is sent as 7D 5E and a 7D
as 7D 5D, so a sync byte never occurs inside a frame and a receiver finds the
next frame after any garbage. Every run of bytes between two sync bytes is
either one valid frame or one rejected segment; nothing in between.

Host frames carry a sequence number (0..255, wrapping) and are acknowledged;
device frames carry, in the same byte, the next sequence number the device
expects (the acknowledgement). Multi-byte fields are little-endian; levels are
float32 in commands and int16 (level x 32767) in status reports.
"""

import struct

from firmware_bridge.codes import OP_HEAT, OP_OFF, OP_RAMP, OP_SET, OP_WAVE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    FrameHandler = Callable[[int, int, bytes], None]
    Levels = list[float]
    Optionals = list[float | None]
    StatusFields = tuple[
        int, int, int, int, int, int, int, int, int, int, Levels, Optionals, Optionals
    ]

PROTOCOL_VERSION = 1
SYNC = 0x7E
ESC = 0x7D
ESC_XOR = 0x20
MAX_PAYLOAD = 240
OVERHEAD = 7  # LEN SEQ TYPE + 4 CRC bytes
MAX_BODY = MAX_PAYLOAD + OVERHEAD

# the code tables (message types, ops, kinds, faults, refusals, caps, flags): codes.py;
# their names and wording (host only): names.py

LEVEL_SCALE = 32767
TEMP_NONE = -32768
CURRENT_NONE = 0xFFFF


# -- CRC-32 (reflected, polynomial 0xEDB88320, as zlib), in 16-bit halves --
# Halves keep every intermediate value a small int on MicroPython (no heap use).


def _tables() -> "tuple[list[int], list[int]]":
    hi_t = [0] * 256
    lo_t = [0] * 256
    for n in range(256):
        hi = 0
        lo = n
        for _ in range(8):
            carry = lo & 1
            lo = (lo >> 1) | ((hi & 1) << 15)
            hi >>= 1
            if carry:
                hi ^= 0xEDB8
                lo ^= 0x8320
        hi_t[n] = hi
        lo_t[n] = lo
    return hi_t, lo_t


_CRC_HI, _CRC_LO = _tables()


def crc32_halves(data: "bytes | bytearray | memoryview", start: int, end: int) -> "tuple[int, int]":
    """CRC-32 of data[start:end] as (high 16 bits, low 16 bits)."""
    hi = 0xFFFF
    lo = 0xFFFF
    hi_t = _CRC_HI
    lo_t = _CRC_LO
    for i in range(start, end):
        idx = (lo ^ data[i]) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ lo_t[idx]
        hi = (hi >> 8) ^ hi_t[idx]
    return hi ^ 0xFFFF, lo ^ 0xFFFF


def crc32(data: "bytes | bytearray") -> int:
    """CRC-32 of `data` as one integer (host-side convenience; equals zlib.crc32)."""
    hi, lo = crc32_halves(data, 0, len(data))
    return (hi << 16) | lo


# -- frames --------------------------------------------------------------


def encode_frame(seq: int, mtype: int, payload: "bytes | bytearray" = b"") -> bytes:
    """The complete frame on the wire (sync bytes included) for one message."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload too long")
    body = bytearray(struct.pack("<BBB", n, seq & 0xFF, mtype & 0xFF))
    body.extend(payload)
    hi, lo = crc32_halves(body, 0, n + 3)
    body.extend(struct.pack("<HH", lo, hi))
    out = bytearray()
    out.append(SYNC)
    for b in body:
        if b == SYNC or b == ESC:
            out.append(ESC)
            out.append(b ^ ESC_XOR)
        else:
            out.append(b)
    out.append(SYNC)
    return bytes(out)


class Decoder:
    """Turns a byte stream into frames, resynchronising on the sync byte after any damage.

    `on_frame(seq, mtype, payload)` is called for every valid frame. Counters:
    ``frames`` (valid frames), ``rejected`` (segments between sync bytes that
    were not a valid frame: bad length, bad CRC, bad escape, too long).
    """

    def __init__(self, on_frame: "FrameHandler") -> None:
        self._on_frame = on_frame
        self._buf = bytearray(MAX_BODY)
        self._n = 0
        self._esc = False
        self._bad = False
        self._seen = False  # a non-sync byte since the last sync
        self.frames = 0
        self.rejected = 0

    def reset(self) -> None:
        """Forget a partly received frame (after a reconnect)."""
        self._n = 0
        self._esc = False
        self._bad = False
        self._seen = False

    def feed(self, data: "bytes | bytearray | memoryview") -> None:
        """Consume received bytes, calling `on_frame` for each complete valid frame."""
        buf = self._buf
        for b in data:
            if b == SYNC:
                if self._seen:
                    self._end()
                continue
            self._seen = True
            if self._bad:
                continue
            if self._esc:
                self._esc = False
                b ^= ESC_XOR
                if b != SYNC and b != ESC:
                    self._bad = True
                    continue
            elif b == ESC:
                self._esc = True
                continue
            if self._n >= MAX_BODY:
                self._bad = True
                continue
            buf[self._n] = b
            self._n += 1

    def _end(self) -> None:
        n = self._n
        buf = self._buf
        ok = not self._bad and not self._esc and n >= OVERHEAD and buf[0] == n - OVERHEAD
        if ok:
            hi, lo = crc32_halves(buf, 0, n - 4)
            ok = buf[n - 4] == lo & 0xFF and buf[n - 3] == lo >> 8
            ok = ok and buf[n - 2] == hi & 0xFF and buf[n - 1] == hi >> 8
        self._n = 0
        self._esc = False
        self._bad = False
        self._seen = False
        if not ok:
            self.rejected += 1
            return
        self.frames += 1
        self._on_frame(buf[1], buf[2], bytes(buf[3 : n - 4]))


# -- message payloads ----------------------------------------------------
# encode_* build a payload; decode_* take one apart and raise ValueError when
# it is malformed (wrong size, bad count).


def _need(payload: "bytes", size: int) -> None:
    if len(payload) != size:
        raise ValueError("payload size " + str(len(payload)) + ", expected " + str(size))


def encode_identify(nonce: int, version: int = PROTOCOL_VERSION) -> bytes:
    """IDENTIFY: the host's protocol version and a nonce naming this connection."""
    return struct.pack("<BI", version, nonce & 0xFFFFFFFF)


def decode_identify(p: bytes) -> "tuple[int, int]":
    """(version, nonce) of an IDENTIFY payload."""
    _need(p, 5)
    return struct.unpack("<BI", p)


def encode_identify_reply(
    nonce: int,
    session: int,
    channels: int,
    caps: int,
    queue_size: int,
    now_us: int,
    faults: int,
    firmware: str,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """IDENTIFY_REPLY: who the device is and what it can do."""
    name = firmware.encode()[:64]
    head = struct.pack(
        "<BIIBHHBIB",
        version,
        nonce & 0xFFFFFFFF,
        session & 0xFFFFFFFF,
        channels,
        caps,
        queue_size,
        MAX_PAYLOAD,
        now_us & 0xFFFFFFFF,
        faults,
    )
    return head + bytes([len(name)]) + name


def decode_identify_reply(p: bytes) -> "tuple[int, int, int, int, int, int, int, int, int, str]":
    """(version, nonce, session, channels, caps, queue_size, max_payload, now_us, faults,
    firmware)."""
    if len(p) < 21 or len(p) != 21 + p[20]:
        raise ValueError("bad identify reply size")
    fields = struct.unpack("<BIIBHHBIB", p[:20])
    return fields + (bytes(p[21:]).decode(),)


def encode_config_begin(session: int, watchdog_ms: int) -> bytes:
    """CONFIG_BEGIN: a new session (outputs off, channels forgotten) with its watchdog."""
    return struct.pack("<IH", session & 0xFFFFFFFF, watchdog_ms)


def decode_config_begin(p: bytes) -> "tuple[int, int]":
    """(session, watchdog_ms) of a CONFIG_BEGIN payload."""
    _need(p, 6)
    return struct.unpack("<IH", p)


def encode_config_channel(
    ch: int,
    kind: int,
    max_level: float,
    min_level: float,
    max_slew: float,
    max_on_ms: int,
    max_temp_c: "float | None",
) -> bytes:
    """CONFIG_CHANNEL: one channel's kind and limits (max_temp_c NaN when None)."""
    temp = float("nan") if max_temp_c is None else max_temp_c
    return struct.pack("<BBfffIf", ch, kind, max_level, min_level, max_slew, max_on_ms, temp)


def decode_config_channel(p: bytes) -> "tuple[int, int, float, float, float, int, float | None]":
    """(ch, kind, max_level, min_level, max_slew, max_on_ms, max_temp_c or None)."""
    _need(p, 22)
    ch, kind, hi, lo, slew, on_ms, temp = struct.unpack("<BBfffIf", p)
    return ch, kind, hi, lo, slew, on_ms, (None if temp != temp else temp)


def encode_config_end(channels: int) -> bytes:
    """CONFIG_END: how many channels the host configured (a check)."""
    return bytes([channels])


def decode_config_end(p: bytes) -> int:
    """The channel count of a CONFIG_END payload."""
    _need(p, 1)
    return p[0]


def encode_token(token: int) -> bytes:
    """CLOCK, STATUS and STATS requests: a token the reply echoes."""
    return struct.pack("<H", token & 0xFFFF)


def decode_token(p: bytes) -> int:
    """The token of a CLOCK, STATUS or STATS request."""
    _need(p, 2)
    return struct.unpack("<H", p)[0]  # type: ignore[no-any-return]


def encode_clock_reply(token: int, now_us: int) -> bytes:
    """CLOCK_REPLY: the token and the device clock when the request was handled."""
    return struct.pack("<HI", token & 0xFFFF, now_us & 0xFFFFFFFF)


def decode_clock_reply(p: bytes) -> "tuple[int, int]":
    """(token, now_us) of a CLOCK_REPLY payload."""
    _need(p, 6)
    return struct.unpack("<HI", p)


# SCHEDULE: first_id u16, count u8, then per command t_us u32, ch u8, op u8 and
# the op's arguments: set f(level); ramp f(target) I(duration_us);
# wave f(low) f(high) f(hz) B(shape); heat f(ceiling) f(target_c); off nothing.
_OP_ARGS = ("", "<f", "<fI", "<fffB", "<ff", "")
_OP_SIZES = (-1, 4, 8, 13, 8, 0)


def command_size(op: int) -> int:
    """Bytes one command with op code `op` takes in a SCHEDULE payload."""
    if op <= 0 or op >= len(_OP_SIZES):
        raise ValueError("unknown op " + str(op))
    return 6 + _OP_SIZES[op]


def encode_schedule(
    first_id: int, commands: "list[tuple[int, int, int, float, float, float, float]]"
) -> bytes:
    """SCHEDULE: timed commands (t_us, ch, op, a, b, c, d) numbered from `first_id`."""
    out = bytearray(struct.pack("<HB", first_id & 0xFFFF, len(commands)))
    for t_us, ch, op, a, b, c, d in commands:
        out += struct.pack("<IBB", t_us & 0xFFFFFFFF, ch, op)
        if op == OP_SET:
            out += struct.pack("<f", a)
        elif op == OP_RAMP:
            out += struct.pack("<fI", a, int(b))
        elif op == OP_WAVE:
            out += struct.pack("<fffB", a, b, c, int(d))
        elif op == OP_HEAT:
            out += struct.pack("<ff", a, b)
        elif op != OP_OFF:
            raise ValueError("unknown op " + str(op))
    if len(out) > MAX_PAYLOAD:
        raise ValueError("too many commands for one frame")
    return bytes(out)


def decode_schedule(
    p: bytes,
) -> "tuple[int, list[tuple[int, int, int, float, float, float, float]]]":
    """(first_id, commands) of a SCHEDULE payload; ValueError if any command is malformed."""
    if len(p) < 3:
        raise ValueError("short schedule")
    first_id, count = struct.unpack_from("<HB", p, 0)
    pos = 3
    out = []
    for _ in range(count):
        if pos + 6 > len(p):
            raise ValueError("truncated schedule")
        t_us, ch, op = struct.unpack_from("<IBB", p, pos)
        pos += 6
        if op <= 0 or op >= len(_OP_SIZES):
            raise ValueError("unknown op " + str(op))
        size = _OP_SIZES[op]
        if pos + size > len(p):
            raise ValueError("truncated schedule")
        a = b = c = d = 0.0
        if op == OP_SET:
            a = struct.unpack_from("<f", p, pos)[0]
        elif op == OP_RAMP:
            a, bi = struct.unpack_from("<fI", p, pos)
            b = float(bi)
        elif op == OP_WAVE:
            a, b, c, di = struct.unpack_from("<fffB", p, pos)
            d = float(di)
        elif op == OP_HEAT:
            a, b = struct.unpack_from("<ff", p, pos)
        pos += size
        out.append((t_us, ch, op, a, b, c, d))
    if pos != len(p):
        raise ValueError("trailing bytes in schedule")
    return first_id, out


def encode_intensity(scale: float) -> bytes:
    """INTENSITY: the user intensity 0..1."""
    return struct.pack("<f", scale)


def decode_intensity(p: bytes) -> float:
    """The scale of an INTENSITY payload."""
    _need(p, 4)
    return struct.unpack("<f", p)[0]  # type: ignore[no-any-return]


def encode_clear_faults(mask: int) -> bytes:
    """CLEAR_FAULTS: which latched fault bits the host acknowledges (0xFF: all)."""
    return bytes([mask & 0xFF])


def decode_clear_faults(p: bytes) -> int:
    """The mask of a CLEAR_FAULTS payload."""
    _need(p, 1)
    return p[0]


def encode_status_reply(
    token: int,
    now_us: int,
    flags: int,
    faults: int,
    cut_mask: int,
    shift_us: int,
    queued: int,
    refused: int,
    last_id: int,
    last_code: int,
    levels: "list[float]",
    temps: "list[float | None]",
    currents: "list[float | None]",
) -> bytes:
    """STATUS_REPLY: the device's state (token 0 when sent unasked, e.g. on a new fault)."""
    out = bytearray(
        struct.pack(
            "<HIBBHIHHHBB",
            token & 0xFFFF,
            now_us & 0xFFFFFFFF,
            flags,
            faults,
            cut_mask & 0xFFFF,
            shift_us & 0xFFFFFFFF,
            queued,
            refused & 0xFFFF,
            last_id & 0xFFFF,
            last_code,
            len(levels),
        )
    )
    for i in range(len(levels)):
        lv = int(round(levels[i] * LEVEL_SCALE))
        lv = -LEVEL_SCALE if lv < -LEVEL_SCALE else (LEVEL_SCALE if lv > LEVEL_SCALE else lv)
        t = temps[i]
        ti = TEMP_NONE if t is None else int(round(t * 100))
        ti = TEMP_NONE if ti <= TEMP_NONE or ti > 32767 else ti
        cur = currents[i]
        ci = CURRENT_NONE if cur is None else int(round(cur * 1000))
        ci = CURRENT_NONE if ci < 0 or ci > 0xFFFE else ci
        out += struct.pack("<hhH", lv, ti, ci)
    return bytes(out)


def decode_status_reply(p: bytes) -> "StatusFields":
    """(token, now_us, flags, faults, cut_mask, shift_us, queued, refused, last_id,
    last_code, levels, temps in C or None, currents in A or None)."""
    if len(p) < 22:
        raise ValueError("short status")
    head = struct.unpack_from("<HIBBHIHHHBB", p, 0)
    n = head[10]
    _need(p, 22 + 6 * n)
    levels = []
    temps = []  # type: list[float | None]
    currents = []  # type: list[float | None]
    for i in range(n):
        lv, ti, ci = struct.unpack_from("<hhH", p, 22 + 6 * i)
        levels.append(lv / LEVEL_SCALE)
        temps.append(None if ti == TEMP_NONE else ti / 100.0)
        currents.append(None if ci == CURRENT_NONE else ci / 1000.0)
    return head[:10] + (levels, temps, currents)


def encode_refused(mtype: int, ident: int, ch: int, code: int) -> bytes:
    """REFUSED: a message (type), the command id or channel it names, and why."""
    return struct.pack("<BHBB", mtype, ident & 0xFFFF, ch, code)


def decode_refused(p: bytes) -> "tuple[int, int, int, int]":
    """(type, id, ch, code) of a REFUSED payload."""
    _need(p, 5)
    return struct.unpack("<BHBB", p)


STATS_FIELDS = (
    "rx_frames",
    "rx_rejected",
    "rx_duplicates",
    "rx_out_of_order",
    "rx_invalid",
    "tx_frames",
    "refused",
)


def encode_stats_reply(token: int, counters: "list[int]") -> bytes:
    """STATS_REPLY: the token and the link counters named in STATS_FIELDS."""
    out = bytearray(struct.pack("<H", token & 0xFFFF))
    for v in counters:
        out += struct.pack("<I", v & 0xFFFFFFFF)
    return bytes(out)


def decode_stats_reply(p: bytes) -> "tuple[int, list[int]]":
    """(token, counters) of a STATS_REPLY payload."""
    _need(p, 2 + 4 * len(STATS_FIELDS))
    token = struct.unpack_from("<H", p, 0)[0]
    return token, [struct.unpack_from("<I", p, 2 + 4 * i)[0] for i in range(len(STATS_FIELDS))]
