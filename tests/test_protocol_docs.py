"""docs/protocol.md, read the way an outsider reads it: an encoder and a decoder written
from its byte-by-byte description alone (zlib's CRC-32, the stuffing rule, the field
tables), checked against its example frames, the pinned vectors and the firmware's codec.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import codec

ROOT = Path(__file__).parents[1]
DOC = (ROOT / "docs" / "protocol.md").read_text()
VECTORS = ROOT / "tests" / "data" / "vectors"

# -- the outsider's implementation, from sections 1 and 4 -------------------------------------


def stuff(body: bytes) -> bytes:
    """Section 1: 7E is sent as 7D 5E and 7D as 7D 5D."""
    return body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


def frame(seq: int, mtype: int, payload: bytes = b"") -> bytes:
    """7E | LEN SEQ TYPE PAYLOAD CRC32 (stuffed) | 7E; the CRC is zlib's, little-endian."""
    body = bytes([len(payload), seq, mtype]) + payload
    return b"\x7e" + stuff(body + struct.pack("<I", zlib.crc32(body))) + b"\x7e"


def parse(wire: bytes) -> tuple[int, int, bytes]:
    """One frame's SEQ, TYPE and PAYLOAD; ValueError for anything the doc calls rejected."""
    if wire[:1] != b"\x7e" or wire[-1:] != b"\x7e":
        raise ValueError("no sync bytes")
    raw, escaped = bytearray(), False
    for byte in wire[1:-1]:
        if escaped:
            if byte not in (0x5E, 0x5D):
                raise ValueError("bad escape")
            raw.append(byte ^ 0x20)
            escaped = False
        elif byte == 0x7D:
            escaped = True
        else:
            raw.append(byte)
    if escaped or not 7 <= len(raw) <= 247 or raw[0] != len(raw) - 7:
        raise ValueError("bad length")
    if struct.unpack("<I", raw[-4:])[0] != zlib.crc32(bytes(raw[:-4])):
        raise ValueError("bad CRC")
    return raw[1], raw[2], bytes(raw[3:-4])


def command(t_us: int, ch: int, op: int, args: bytes = b"") -> bytes:
    """A SCHEDULE command: u32 t_us, u8 ch, u8 op, then the op's arguments."""
    return struct.pack("<IBB", t_us, ch, op) + args


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


NAME = b"massager-firmware 0.1"
FROM_THE_TEXT = {  # section 7's frames, built from the sentence above each one
    "IDENTIFY": frame(0x10, 0x01, struct.pack("<BI", 1, 0x12345678)),
    "IDENTIFY_REPLY": frame(
        0x11,
        0x81,
        struct.pack("<BIIBHHBIBB", 1, 0x12345678, 0, 2, 0, 64, 0xF0, 1000, 0, len(NAME)) + NAME,
    ),
    "SCHEDULE": frame(
        0x16,
        0x07,
        struct.pack("<HB", 1, 5)
        + command(200_000, 0, 1, f32(0.5))
        + command(300_000, 0, 2, f32(-0.5) + struct.pack("<I", 1_000_000))
        + command(1_300_000, 0, 3, f32(0.25, 0.75, 1.5) + b"\x01")
        + command(200_000, 1, 4, f32(0.5, 40.0))
        + command(2_000_000, 0, 5),
    ),
    "STATUS_REPLY": frame(
        0x18,
        0x83,
        struct.pack("<HIBBHIHHHBB", 8, 1000, 1 | 4, 0, 0, 0, 5, 0, 0xFFFF, 0, 2)
        + struct.pack("<hhH", 0, -32768, 65535)
        + struct.pack("<hhH", 0, 0, 65535),
    ),
    "late SCHEDULE": frame(0x18, 0x07, struct.pack("<HB", 6, 1) + command(500, 0, 1, f32(0.25))),
    "REFUSED": frame(0x19, 0x84, struct.pack("<BHBB", 0x07, 6, 0, 1)),
}


def _doc_frames() -> list[bytes]:
    """Every hex frame printed in section 7, in order (separators and labels dropped)."""
    section = DOC[DOC.index("## 7. Example frames") : DOC.index("## 8.")]
    frames: list[bytes] = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        lines = [ln for ln in block.splitlines() if re.match(r"^\s*(7e|[0-9a-f]{2}\s)", ln)]
        hexes = re.findall(r"\b[0-9a-f]{2}\b", " ".join(lines))
        data = bytes.fromhex(" ".join(hexes))
        frames += [b"\x7e" + part + b"\x7e" for part in data.split(b"\x7e") if part]
    return frames


def _vector_frames() -> set[bytes]:
    out = set()
    for path in VECTORS.glob("*.hex"):
        text = " ".join(ln for ln in path.read_text().splitlines() if not ln.startswith("#"))
        out.add(bytes.fromhex(text))
    return out


def test_the_crc_is_the_one_the_doc_names() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926 == codec.crc32(b"123456789")


def test_every_example_frame_is_what_its_description_says() -> None:
    frames = _doc_frames()
    for built in FROM_THE_TEXT.values():
        assert built in frames, built.hex(" ")
    # the stuffing example: SEQ 0x7E and a payload byte 0x7D
    stuffed = bytes.fromhex("7e 04 7d 5e 0a 65 c4 6e 7d 5d 78 fd 2f 5d 7e")
    assert stuffed in frames
    assert parse(stuffed) == (0x7E, 0x0A, bytes.fromhex("65 c4 6e 7d"))
    assert len(frames) == len(FROM_THE_TEXT) + 1


def test_every_example_frame_is_pinned_and_the_codec_makes_it() -> None:
    pinned = _vector_frames()
    for wire in _doc_frames():
        assert wire in pinned, wire.hex(" ")
        seq, mtype, payload = parse(wire)
        assert codec.encode_frame(seq, mtype, payload) == wire


def test_the_pinned_conversation_has_the_documented_sizes() -> None:
    sizes = {0x01: 5, 0x02: 6, 0x03: 22, 0x04: 1, 0x05: 2, 0x06: 2, 0x0A: 4, 0x0D: 1, 0x0E: 2}
    sizes |= {0x08: 0, 0x09: 0, 0x0B: 0, 0x0C: 0, 0x0F: 0, 0x80: 0, 0x82: 6, 0x84: 5, 0x85: 30}
    command_sizes = {1: 10, 2: 14, 3: 19, 4: 14, 5: 6}
    seen = set()
    for wire in _vector_frames():
        _, mtype, p = parse(wire)
        seen.add(mtype)
        if mtype in sizes:
            assert len(p) == sizes[mtype], hex(mtype)
        elif mtype == 0x81:
            assert len(p) == 21 + p[20]
        elif mtype == 0x83:
            assert len(p) == 22 + 6 * p[21]
        elif mtype == 0x07:
            at = 3
            for _ in range(p[2]):
                at += command_sizes[p[at + 5]]
            assert at == len(p)
    assert seen >= set(sizes) | {0x81, 0x83, 0x07}


@given(
    seq=st.integers(0, 255),
    mtype=st.sampled_from([*range(0x01, 0x10), *range(0x80, 0x86)]),
    payload=st.binary(max_size=240),
)
def test_the_outsiders_encoder_and_the_codec_agree_on_any_frame(
    seq: int, mtype: int, payload: bytes
) -> None:
    wire = frame(seq, mtype, payload)
    assert codec.encode_frame(seq, mtype, payload) == wire
    assert parse(wire) == (seq, mtype, payload)
    received: list[tuple[int, int, bytes]] = []
    decoder = codec.Decoder(lambda s, t, p: received.append((s, t, bytes(p))))
    decoder.feed(b"garbage\x7d" + wire + wire)
    assert received == [(seq, mtype, payload)] * 2


@pytest.mark.parametrize("flip", [3, 5, -3])
def test_a_damaged_frame_is_rejected_by_both(flip: int) -> None:
    wire = bytearray(FROM_THE_TEXT["IDENTIFY"])
    wire[flip] ^= 0x01
    with pytest.raises(ValueError):
        parse(bytes(wire))
    received: list[object] = []
    codec.Decoder(lambda *frame: received.append(frame)).feed(bytes(wire))
    assert received == []
