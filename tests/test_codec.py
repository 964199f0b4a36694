"""The wire codec: CRC, byte stuffing, every message's encoding, and resynchronisation."""

from __future__ import annotations

import math
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import codec, codes, names

Frame = tuple[int, int, bytes]


def decode_all(data: bytes) -> tuple[list[Frame], codec.Decoder]:
    """Every frame in `data`, and the decoder (for its counters)."""
    frames: list[Frame] = []
    dec = codec.Decoder(lambda s, t, p: frames.append((s, t, p)))
    dec.feed(data)
    return frames, dec


payloads = st.binary(max_size=codec.MAX_PAYLOAD)
seqs = st.integers(0, 255)
types = st.integers(0, 255)


@given(st.binary(max_size=600))
def test_crc32_is_zlibs(data: bytes) -> None:
    assert codec.crc32(data) == zlib.crc32(data)


@given(seqs, types, payloads)
def test_a_frame_round_trips_and_holds_no_sync_byte_inside(seq: int, mtype: int, p: bytes) -> None:
    frame = codec.encode_frame(seq, mtype, p)
    assert frame[0] == codec.SYNC and frame[-1] == codec.SYNC
    assert codec.SYNC not in frame[1:-1]
    frames, dec = decode_all(frame)
    assert frames == [(seq, mtype, p)]
    assert dec.rejected == 0


def test_a_payload_too_long_for_one_frame_is_refused() -> None:
    with pytest.raises(ValueError):
        codec.encode_frame(0, 1, bytes(codec.MAX_PAYLOAD + 1))


@given(st.binary(max_size=300), seqs, types, payloads)
def test_any_garbage_before_a_frame_is_one_rejected_segment_per_run(
    garbage: bytes, seq: int, mtype: int, p: bytes
) -> None:
    frames, dec = decode_all(garbage + codec.encode_frame(seq, mtype, p))
    assert frames[-1] == (seq, mtype, p)
    runs = [r for r in garbage.split(bytes([codec.SYNC])) if r]
    # a run of garbage may by chance be a valid frame; it never may when it is short
    assert dec.rejected + len(frames) - 1 == len(runs)


@given(seqs, types, st.binary(min_size=1, max_size=80), st.data())
def test_one_damaged_byte_rejects_that_frame_only(
    seq: int, mtype: int, p: bytes, data: st.DataObject
) -> None:
    frame = bytearray(codec.encode_frame(seq, mtype, p))
    i = data.draw(st.integers(1, len(frame) - 2), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    frame[i] ^= mask
    if frame[i] == codec.SYNC:
        # keep the frame in one piece, still damaged (0x01 would undo a mask of 0x01)
        frame[i] = codec.SYNC ^ (0x02 if mask == 0x01 else 0x01)
    after = codec.encode_frame(seq + 1, mtype, p)
    frames, dec = decode_all(bytes(frame) + after)
    assert frames == [((seq + 1) & 0xFF, mtype, p)]
    assert dec.rejected == 1


@given(seqs, types, st.binary(min_size=1, max_size=80), st.data())
def test_a_dropped_or_doubled_byte_rejects_that_frame_only(
    seq: int, mtype: int, p: bytes, data: st.DataObject
) -> None:
    frame = codec.encode_frame(seq, mtype, p)
    i = data.draw(st.integers(1, len(frame) - 2), label="index")
    damaged = (
        frame[:i] + frame[i + 1 :]
        if data.draw(st.booleans(), label="drop")
        else frame[: i + 1] + frame[i:]
    )
    frames, dec = decode_all(damaged + codec.encode_frame(seq, mtype, p))
    assert frames == [(seq, mtype, p)]
    assert dec.rejected == 1


def test_frames_split_across_reads_and_idle_syncs_between() -> None:
    a = codec.encode_frame(1, 2, b"\x7e\x7d\x00abc")
    b = codec.encode_frame(2, 3, b"")
    stream = bytes([codec.SYNC] * 3) + a + bytes([codec.SYNC] * 5) + b
    frames: list[Frame] = []
    dec = codec.Decoder(lambda s, t, p: frames.append((s, t, p)))
    for byte in stream:
        dec.feed(bytes([byte]))
    assert frames == [(1, 2, b"\x7e\x7d\x00abc"), (2, 3, b"")]
    assert dec.rejected == 0 and dec.frames == 2


def test_an_endless_segment_is_bounded_and_rejected_once() -> None:
    frames, dec = decode_all(b"\x7e" + b"\x01" * 100_000 + codec.encode_frame(9, 9, b"ok"))
    assert frames == [(9, 9, b"ok")]
    assert dec.rejected == 1


def test_a_bad_escape_is_rejected() -> None:
    frame = codec.encode_frame(0, 1, b"x")
    bad = frame[:-1] + b"\x7d\x41\x7e"
    frames, dec = decode_all(bad)
    assert frames == [] and dec.rejected == 1


# -- messages ------------------------------------------------------------

f32 = st.floats(width=32, allow_nan=False)


def f32_of(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


@st.composite
def commands(draw: st.DrawFn) -> tuple[int, int, int, float, float, float, float]:
    op = draw(
        st.sampled_from([codes.OP_SET, codes.OP_RAMP, codes.OP_WAVE, codes.OP_HEAT, codes.OP_OFF])
    )
    t = draw(st.integers(0, 2**30 - 1))
    ch = draw(st.integers(0, 15))
    a = b = c = d = 0.0
    if op == codes.OP_SET:
        a = draw(f32)
    elif op == codes.OP_RAMP:
        a, b = draw(f32), float(draw(st.integers(0, 2**32 - 1)))
    elif op == codes.OP_WAVE:
        a, b, c, d = draw(f32), draw(f32), draw(f32), float(draw(st.integers(0, 1)))
    elif op == codes.OP_HEAT:
        a, b = draw(f32), draw(f32)
    return (t, ch, op, a, b, c, d)


@given(st.integers(0, 0xFFFF), st.lists(commands(), min_size=0, max_size=13))
def test_schedule_round_trips(
    first: int, cmds: list[tuple[int, int, int, float, float, float, float]]
) -> None:
    payload = codec.encode_schedule(first, cmds)
    assert len(payload) == 3 + sum(codec.command_size(c[2]) for c in cmds)
    got_first, got = codec.decode_schedule(payload)
    assert got_first == first
    expected = [(t, ch, op, f32_of(a), f32_of(b) if op != codes.OP_RAMP else b, f32_of(c), d)
                for t, ch, op, a, b, c, d in cmds]  # fmt: skip
    assert got == expected


@given(st.binary(max_size=120))
def test_any_schedule_payload_decodes_or_raises_value_error(p: bytes) -> None:
    try:
        first, cmds = codec.decode_schedule(p)
    except ValueError:
        return
    assert codec.encode_schedule(first, cmds) == p


def test_too_many_commands_for_one_frame_are_refused() -> None:
    wave = (0, 0, codes.OP_WAVE, 0.1, 0.2, 1.0, 0.0)
    with pytest.raises(ValueError):
        codec.encode_schedule(0, [wave] * 13)


@given(
    st.lists(st.floats(-1, 1), min_size=0, max_size=16),
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
)
def test_status_round_trips_levels_to_int16_precision(
    levels: list[float], shift: int, faults: int
) -> None:
    n = len(levels)
    temps: list[float | None] = [None if i % 2 else 20.0 + i for i in range(n)]
    currents: list[float | None] = [0.25 * i if i % 3 else None for i in range(n)]
    p = codec.encode_status_reply(
        7, 123, 3, faults, 0x8001, shift, 5, 2, 9, 1, levels, temps, currents
    )
    got = codec.decode_status_reply(p)
    assert got[:10] == (7, 123, 3, faults, 0x8001, shift, 5, 2, 9, 1)
    assert all(abs(a - b) <= 0.5 / codec.LEVEL_SCALE for a, b in zip(got[10], levels, strict=True))
    assert got[11] == [None if t is None else pytest.approx(t) for t in temps]
    assert got[12] == [None if c is None else pytest.approx(c) for c in currents]


def test_the_small_messages_round_trip() -> None:
    assert codec.decode_identify(codec.encode_identify(0xDEADBEEF)) == (1, 0xDEADBEEF)
    reply = codec.encode_identify_reply(1, 2, 16, 3, 64, 99, 4, "fw é")
    assert codec.decode_identify_reply(reply) == (1, 1, 2, 16, 3, 64, 240, 99, 4, "fw é")
    assert codec.decode_config_begin(codec.encode_config_begin(5, 250)) == (5, 250)
    ch = codec.decode_config_channel(codec.encode_config_channel(3, 2, 0.5, 0.25, 2.0, 30000, None))
    assert ch == (3, 2, 0.5, 0.25, 2.0, 30000, None)
    heater = codec.decode_config_channel(codec.encode_config_channel(7, 3, 0.5, 0, 1, 1, 42.0))
    assert heater[6] == 42.0
    assert codec.decode_config_end(codec.encode_config_end(16)) == 16
    assert codec.decode_token(codec.encode_token(0x1234)) == 0x1234
    assert codec.decode_clock_reply(codec.encode_clock_reply(3, 2**30 - 1)) == (3, 2**30 - 1)
    assert codec.decode_intensity(codec.encode_intensity(0.5)) == 0.5
    assert math.isnan(codec.decode_intensity(codec.encode_intensity(float("nan"))))
    assert codec.decode_clear_faults(codec.encode_clear_faults(0xFF)) == 0xFF
    assert codec.decode_refused(codec.encode_refused(7, 513, 2, 1)) == (7, 513, 2, 1)
    counters = list(range(len(codec.STATS_FIELDS)))
    assert codec.decode_stats_reply(codec.encode_stats_reply(4, counters)) == (4, counters)


@pytest.mark.parametrize(
    "decode",
    [
        codec.decode_identify,
        codec.decode_identify_reply,
        codec.decode_config_begin,
        codec.decode_config_channel,
        codec.decode_config_end,
        codec.decode_token,
        codec.decode_clock_reply,
        codec.decode_intensity,
        codec.decode_clear_faults,
        codec.decode_status_reply,
        codec.decode_refused,
        codec.decode_stats_reply,
        codec.decode_schedule,
    ],
)
def test_every_decoder_refuses_a_wrong_size_with_value_error(decode: object) -> None:
    for size in (0, 300):
        with pytest.raises(ValueError):
            decode(bytes([1]) * size)  # type: ignore[operator]


def test_every_refusal_code_is_worded_once() -> None:
    errors = [getattr(codes, n) for n in dir(codes) if n.startswith("ERR_")]
    assert len(errors) == 9
    assert sorted(names.REFUSALS) == sorted(errors)
    assert len(set(names.REFUSALS.values())) == len(errors)
    assert names.reason_name(codes.ERR_LATE).startswith("its time had already passed")
    assert names.reason_name(99) == "refusal code 99"
