"""Test vectors: a host-device conversation, frame by frame, pinned as hex in tests/data/vectors.

Both ends must produce exactly these bytes: the codec encodes each frame from
its fields and decodes it back; the device, fed the host's frames, answers
with exactly the device's frames. Regenerate (after a deliberate protocol
change, with a new protocol version) with: python tests/test_codec_vectors.py --write
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import codec, codes, names
from firmware_bridge.device import Device

VECTORS = Path(__file__).resolve().parent / "data" / "vectors"
NOW_US = 1_000


class StillHal:
    """A HAL whose clock stands at NOW_US: the device's replies are byte-for-byte repeatable."""

    def __init__(self) -> None:
        self.outputs: dict[int, float] = {}

    def now_us(self) -> int:
        return NOW_US

    def set_output(self, ch: int, level: float) -> None:
        self.outputs[ch] = level

    def read_temp(self, ch: int) -> float:
        return 25.0


@dataclass(frozen=True)
class Vector:
    """One frame of the conversation."""

    name: str
    sender: str  # "host" or "device"
    seq: int
    mtype: int
    payload: bytes
    fields: tuple[Any, ...]
    decode: Callable[[bytes], Any] | None
    note: str

    @property
    def frame(self) -> bytes:
        return codec.encode_frame(self.seq, self.mtype, self.payload)

    @property
    def path(self) -> Path:
        return VECTORS / f"{self.name}.hex"


def v(
    name: str,
    sender: str,
    seq: int,
    mtype: int,
    encode: Callable[..., bytes] | None,
    fields: tuple[Any, ...],
    decode: Callable[[bytes], Any] | None,
    note: str,
) -> Vector:
    payload = encode(*fields) if encode is not None else b""
    return Vector(name, sender, seq, mtype, payload, fields, decode, note)


SCHEDULE = [
    (200_000, 0, codes.OP_SET, 0.5, 0.0, 0.0, 0.0),
    (300_000, 0, codes.OP_RAMP, -0.5, 1_000_000.0, 0.0, 0.0),
    (1_300_000, 0, codes.OP_WAVE, 0.25, 0.75, 1.5, float(codes.SHAPE_TRIANGLE)),
    (200_000, 1, codes.OP_HEAT, 0.5, 40.0, 0.0, 0.0),
    (2_000_000, 0, codes.OP_OFF, 0.0, 0.0, 0.0, 0.0),
]
FW = "massager-firmware 0.1"
C = codec
K = codes
H, D = "host", "device"
CONVERSATION = [
    v("01-identify", H, 0x10, K.MSG_IDENTIFY, C.encode_identify, (0x12345678,),
      C.decode_identify, "hello, nonce 0x12345678; sequence numbers continue from 0x11"),
    v("02-identify-reply", D, 0x11, K.MSG_IDENTIFY_REPLY, C.encode_identify_reply,
      (0x12345678, 0, 2, 0, 64, NOW_US, 0, FW), C.decode_identify_reply,
      "version 1, nonce echoed, no session yet, 2 channels, queue 64, clock 1000 us"),
    v("03-config-begin", H, 0x11, K.MSG_CONFIG_BEGIN, C.encode_config_begin, (0xCAFEF00D, 250),
      C.decode_config_begin, "session 0xCAFEF00D, watchdog 250 ms"),
    v("04-ack", D, 0x12, K.MSG_ACK, None, (), None, "acknowledges 0x11: expects 0x12 next"),
    v("05-config-channel-roller", H, 0x12, K.MSG_CONFIG_CHANNEL, C.encode_config_channel,
      (0, 0, 0.9, 0.15, 3.0, 600_000, None), C.decode_config_channel,
      "channel 0: roller, max 0.9, min 0.15, slew 3/s, on-time 600000 ms, no temperature cap"),
    v("06-ack", D, 0x13, K.MSG_ACK, None, (), None, "acknowledges 0x12"),
    v("07-config-channel-heater", H, 0x13, K.MSG_CONFIG_CHANNEL, C.encode_config_channel,
      (1, 3, 0.7, 0.0, 1.0, 1_200_000, 42.0), C.decode_config_channel,
      "channel 1: heater, max duty 0.7, slew 1/s, on-time 1200000 ms, cap 42 C"),
    v("08-ack", D, 0x14, K.MSG_ACK, None, (), None, "acknowledges 0x13"),
    v("09-config-end", H, 0x14, K.MSG_CONFIG_END, C.encode_config_end, (2,),
      C.decode_config_end, "2 channels configured; the watchdog is armed"),
    v("10-ack", D, 0x15, K.MSG_ACK, None, (), None, "acknowledges 0x14"),
    v("11-clock", H, 0x15, K.MSG_CLOCK, C.encode_token, (7,), C.decode_token,
      "clock query, token 7"),
    v("12-clock-reply", D, 0x16, K.MSG_CLOCK_REPLY, C.encode_clock_reply, (7, NOW_US),
      C.decode_clock_reply, "token 7, device clock 1000 us"),
    v("13-schedule", H, 0x16, K.MSG_SCHEDULE, C.encode_schedule, (1, SCHEDULE),
      C.decode_schedule, "commands 1..5: set, ramp, wave (triangle), heat, off"),
    v("14-ack", D, 0x17, K.MSG_ACK, None, (), None, "acknowledges 0x16: all five queued"),
    v("15-status", H, 0x17, K.MSG_STATUS, C.encode_token, (8,), C.decode_token,
      "status query (the heartbeat), token 8"),
    v("16-status-reply", D, 0x18, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (8, NOW_US, K.FLAG_CONFIGURED | K.FLAG_BUSY, 0, 0, 0, 5, 0, 0xFFFF, 0,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "configured and busy, 5 queued, levels 0, heater at 0.00 C"),
    v("17-schedule-late", H, 0x18, K.MSG_SCHEDULE, C.encode_schedule,
      (6, [(500, 0, codes.OP_SET, 0.25, 0.0, 0.0, 0.0)]), C.decode_schedule,
      "command 6: set at 500 us, already past"),
    v("18-refused", D, 0x19, K.MSG_REFUSED, C.encode_refused, (K.MSG_SCHEDULE, 6, 0, 1),
      C.decode_refused, "schedule command 6 on channel 0 refused: late (1)"),
    v("19-schedule-limit", H, 0x19, K.MSG_SCHEDULE, C.encode_schedule,
      (7, [(400_000, 0, codes.OP_SET, 0.95, 0.0, 0.0, 0.0)]), C.decode_schedule,
      "command 7: set 0.95, above the roller's max 0.9"),
    v("20-refused", D, 0x1A, K.MSG_REFUSED, C.encode_refused, (K.MSG_SCHEDULE, 7, 0, 2),
      C.decode_refused, "schedule command 7 on channel 0 refused: limit (2)"),
    v("21-intensity", H, 0x1A, K.MSG_INTENSITY, C.encode_intensity, (0.5,),
      C.decode_intensity, "user intensity 0.5"),
    v("22-ack", D, 0x1B, K.MSG_ACK, None, (), None, "acknowledges 0x1A"),
    v("23-pause", H, 0x1B, K.MSG_PAUSE, None, (), None, "pause"),
    v("24-status-reply", D, 0x1C, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (0, NOW_US, K.FLAG_CONFIGURED | K.FLAG_PAUSED | K.FLAG_BUSY, 0, 0, 0, 5, 2, 7, 2,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "unasked (token 0): paused, 2 refused so far, the last #7 (limit)"),
    v("25-resume", H, 0x1C, K.MSG_RESUME, None, (), None, "resume"),
    v("26-status-reply", D, 0x1D, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (0, NOW_US, K.FLAG_CONFIGURED | K.FLAG_BUSY, 0, 0, 0, 5, 2, 7, 2,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "running again; shift_us 0 (the clock stood still)"),
    v("27-stop", H, 0x1D, K.MSG_STOP, None, (), None, "stop: drop the queue, ramp down"),
    v("28-status-reply", D, 0x1E, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (0, NOW_US, K.FLAG_CONFIGURED, 0, 0, 0, 0, 2, 7, 2,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "queue empty, nothing moving"),
    v("29-clear-faults", H, 0x1E, K.MSG_CLEAR_FAULTS, C.encode_clear_faults, (0xFF,),
      C.decode_clear_faults, "clear every latched fault"),
    v("30-status-reply", D, 0x1F, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (0, NOW_US, K.FLAG_CONFIGURED, 0, 0, 0, 0, 2, 7, 2,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "no faults"),
    v("31-stats", H, 0x1F, K.MSG_STATS, C.encode_token, (9,), C.decode_token,
      "link counters, token 9"),
    v("32-stats-reply", D, 0x20, K.MSG_STATS_REPLY, C.encode_stats_reply,
      (9, [16, 0, 0, 0, 0, 15, 2]), C.decode_stats_reply,
      "16 frames in, 0 rejected, 0 duplicates, 0 out of order, 0 invalid, 15 out, 2 refused"),
    v("33-duplicate", H, 0x1F, K.MSG_STATS, C.encode_token, (9,), C.decode_token,
      "0x1F again (a retransmission): not handled twice"),
    v("34-ack", D, 0x20, K.MSG_ACK, None, (), None, "acknowledged again, still expects 0x20"),
    v("35-off", H, 0x20, K.MSG_OFF, None, (), None, "every output off now"),
    v("36-status-reply", D, 0x21, K.MSG_STATUS_REPLY, C.encode_status_reply,
      (0, NOW_US, K.FLAG_CONFIGURED, 0, 0, 0, 0, 2, 7, 2,
       [0.0, 0.0], [None, 0.0], [None, None]),
      C.decode_status_reply, "off"),
    v("37-bye", H, 0x21, K.MSG_BYE, None, (), None, "end of session: off, watchdog disarmed"),
    v("38-ack", D, 0x22, K.MSG_ACK, None, (), None, "acknowledges 0x21"),
    v("39-stuffing", H, 0x7E, K.MSG_INTENSITY, C.encode_intensity, (1.9836e37,),
      C.decode_intensity, "sequence 0x7E and a payload byte 7D, sent as 7D 5E and 7D 5D"),
]  # fmt: skip


def read_hex(path: Path) -> bytes:
    """The bytes of a .hex vector file (comment lines start with #)."""
    text = " ".join(ln for ln in path.read_text().splitlines() if not ln.startswith("#"))
    return bytes.fromhex(text)


def render(vector: Vector) -> str:
    return f"# {vector.sender} -> {'device' if vector.sender == H else 'host'}: " + (
        f"{names.MSG_NAMES[vector.mtype]}, seq 0x{vector.seq:02X}: {vector.note}\n"
        f"{vector.frame.hex(' ')}\n"
    )


def play() -> list[tuple[Vector, list[bytes]]]:
    """Feed every host frame to a device; what the device wrote after each one."""
    written: list[bytes] = []
    device = Device(StillHal(), 2, written.append)
    out = []
    for vector in CONVERSATION:
        if vector.sender == H and vector.name != "39-stuffing":
            written.clear()
            device.feed(vector.frame)
            out.append((vector, list(written)))
    return out


@pytest.mark.parametrize("vector", CONVERSATION, ids=[c.name for c in CONVERSATION])
def test_the_codec_encodes_and_decodes_each_vector(vector: Vector) -> None:
    data = read_hex(vector.path)
    assert vector.frame == data, f"{vector.name}: encoding differs from the pinned vector"
    frames: list[tuple[int, int, bytes]] = []
    codec.Decoder(lambda s, t, p: frames.append((s, t, p))).feed(data)
    assert frames == [(vector.seq, vector.mtype, vector.payload)]
    if vector.decode is not None:
        assert reencode(vector.mtype, vector.decode(vector.payload)) == vector.payload
    else:
        assert vector.payload == b""


def reencode(mtype: int, d: Any) -> bytes:
    """Encode decoded fields again (the decoders' shapes differ a little from the encoders')."""
    if mtype == codes.MSG_IDENTIFY:
        return codec.encode_identify(d[1], d[0])
    if mtype == codes.MSG_IDENTIFY_REPLY:
        assert d[6] == codec.MAX_PAYLOAD
        return codec.encode_identify_reply(d[1], d[2], d[3], d[4], d[5], d[7], d[8], d[9], d[0])
    single = {
        codes.MSG_CONFIG_END: codec.encode_config_end,
        codes.MSG_CLOCK: codec.encode_token,
        codes.MSG_STATUS: codec.encode_token,
        codes.MSG_STATS: codec.encode_token,
        codes.MSG_INTENSITY: codec.encode_intensity,
        codes.MSG_CLEAR_FAULTS: codec.encode_clear_faults,
    }
    if mtype in single:
        return single[mtype](d)
    several: dict[int, Callable[..., bytes]] = {
        codes.MSG_CONFIG_BEGIN: codec.encode_config_begin,
        codes.MSG_CONFIG_CHANNEL: codec.encode_config_channel,
        codes.MSG_CLOCK_REPLY: codec.encode_clock_reply,
        codes.MSG_SCHEDULE: codec.encode_schedule,
        codes.MSG_STATUS_REPLY: codec.encode_status_reply,
        codes.MSG_REFUSED: codec.encode_refused,
        codes.MSG_STATS_REPLY: codec.encode_stats_reply,
    }
    return several[mtype](*d)


def device_mismatches(frame_of: Callable[[Vector], bytes]) -> list[str]:
    """The host vectors the device does not answer with exactly the device vectors after them.

    `frame_of` gives a device vector's expected bytes (from its file, or from the codec).
    """
    names = [c.name for c in CONVERSATION]
    wrong = []
    for host_vector, written in play():
        i = names.index(host_vector.name) + 1
        expected = []
        while i < len(CONVERSATION) and CONVERSATION[i].sender == D:
            expected.append(frame_of(CONVERSATION[i]))
            i += 1
        if written != expected:
            wrong.append(host_vector.name)
    return wrong


def test_the_device_answers_each_host_vector_with_the_next_device_vectors() -> None:
    assert device_mismatches(lambda v: read_hex(v.path)) == []


def test_no_vector_file_is_left_over() -> None:
    assert sorted(p.stem for p in VECTORS.glob("*.hex")) == sorted(c.name for c in CONVERSATION)


def write() -> None:
    """Write the vectors from the codec, checking first the device produces the same bytes."""
    wrong = device_mismatches(lambda v: v.frame)
    if wrong:
        raise SystemExit(
            "the device does not answer as the conversation says after "
            + ", ".join(wrong)
            + "; no vector written"
        )
    VECTORS.mkdir(parents=True, exist_ok=True)
    for vector in CONVERSATION:
        vector.path.write_text(render(vector))


def test_write_refuses_vectors_the_device_does_not_produce(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    i = next(i for i, v in enumerate(CONVERSATION) if v.name == "18-refused")
    wrong = replace(CONVERSATION[i], payload=codec.encode_refused(codes.MSG_SCHEDULE, 6, 0, 2))
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "CONVERSATION", [*CONVERSATION[:i], wrong, *CONVERSATION[i + 1 :]])
    monkeypatch.setattr(module, "VECTORS", tmp_path / "vectors")
    with pytest.raises(SystemExit, match=f"after {CONVERSATION[i - 1].name}; no vector written"):
        write()
    assert not (tmp_path / "vectors").exists()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote {len(CONVERSATION)} vectors to {VECTORS}")
