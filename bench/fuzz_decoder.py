"""A long fuzz run of the device's frame decoder: random bytes and random frames, nothing acts.

Usage: python bench/fuzz_decoder.py [--mb 20] [--frames 200000] [--seed 1]

Feeds a configured device (identified, channels set up, watchdog armed, as in
a session) with (1) random bytes, in random-sized reads, and (2) random frames
with valid CRCs but random sequence numbers, types and payloads. It checks
after every read that no exception escaped and that nothing reached the
executor unless it came in a frame that was in sequence; after (1) it also
checks that no output moved at all. Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import random
import time

from firmware_bridge import codec, codes, names
from firmware_bridge import device as device_module
from firmware_bridge import executor as ex
from firmware_bridge.device import Device
from firmware_bridge.ticks import TICKS_MAX

ACTS = ("schedule", "pause", "resume", "stop", "off", "set_scale", "configure", "clear_faults")


class Hal:
    """A clock that advances 1 ms a tick, and recorded outputs."""

    def __init__(self) -> None:
        self.us = 0
        self.outputs: dict[int, float] = {}

    def now_us(self) -> int:
        return self.us & TICKS_MAX

    def set_output(self, ch: int, level: float) -> None:
        self.outputs[ch] = level

    def read_temp(self, ch: int) -> float:
        return 30.0


class Spy(ex.Executor):
    """The executor, counting every call that can move an output."""

    calls = 0

    def __getattribute__(self, name: str) -> object:
        if name in ACTS:
            Spy.calls += 1
        return super().__getattribute__(name)


def configured() -> tuple[Device, Hal]:
    hal = Hal()
    dev = Device(hal, 4, lambda frame: None)
    dev.feed(codec.encode_frame(0, codes.MSG_IDENTIFY, codec.encode_identify(42)))
    dev.feed(codec.encode_frame(1, codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(7, 5000)))
    for ch in range(4):
        payload = codec.encode_config_channel(ch, ch % 4, 0.9, 0.0, 2.0, 600_000, 42.0)
        dev.feed(codec.encode_frame(2 + ch, codes.MSG_CONFIG_CHANNEL, payload))
    dev.feed(codec.encode_frame(6, codes.MSG_CONFIG_END, codec.encode_config_end(4)))
    assert dev.configured and dev.expected == 7
    return dev, hal


def fuzz_bytes(megabytes: float, rng: random.Random) -> tuple[int, int]:
    """Random bytes into a configured device; (bytes fed, frames that passed the CRC)."""
    dev, hal = configured()
    Spy.calls = 0
    total = int(megabytes * 1_000_000)
    fed = 0
    while fed < total:
        chunk = bytearray(rng.randbytes(rng.randint(1, 4096)))
        if rng.random() < 0.5:  # dense sync and escape bytes: many short segments to check
            for _ in range(len(chunk) // 16):
                chunk[rng.randrange(len(chunk))] = rng.choice((codec.SYNC, codec.ESC))
        dev.feed(chunk)
        hal.us += 1000
        dev.tick()
        fed += len(chunk)
    if Spy.calls or any(v != 0.0 for v in hal.outputs.values()) or dev.executor.queued():
        raise SystemExit(f"random bytes reached the executor ({Spy.calls} calls)")
    return fed, dev.decoder.frames - 7


def fuzz_damaged(count: int, rng: random.Random) -> int:
    """Valid, in-sequence SCHEDULE frames with 1..8 bytes changed: none may act."""
    dev, hal = configured()
    Spy.calls = 0
    for k in range(count):
        command = (hal.now_us() + 50_000, k % 4, 1, 0.5, 0.0, 0.0, 0.0)
        good = codec.encode_frame(dev.expected, codes.MSG_SCHEDULE,
                                  codec.encode_schedule(k, [command]))  # fmt: skip
        frame = bytearray(good)
        while frame == good:  # damage that cancels out is no damage
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(1, len(frame) - 1)
                frame[i] ^= rng.randrange(1, 256)
        dev.feed(bytes(frame))
        hal.us += 1000
        dev.tick()
    if Spy.calls or dev.executor.queued():
        raise SystemExit(f"a damaged frame reached the executor ({Spy.calls} calls)")
    return dev.decoder.rejected


def fuzz_frames(count: int, rng: random.Random) -> tuple[int, int]:
    """Random valid-CRC frames; (frames fed, frames that acted because they were in sequence)."""
    dev, hal = configured()
    types = sorted(names.MSG_NAMES)
    acted = 0
    for _ in range(count):
        seq = dev.expected if rng.random() < 0.05 else rng.randrange(256)
        mtype = rng.choice(types) if rng.random() < 0.7 else rng.randrange(256)
        payload = rng.randbytes(rng.choice((0, 1, 2, 4, 5, 6, 13, 22, rng.randint(0, 240))))
        before = Spy.calls
        in_sequence = seq == dev.expected and mtype != codes.MSG_IDENTIFY
        dev.feed(codec.encode_frame(seq, mtype, payload))
        hal.us += 1000
        dev.tick()
        if Spy.calls != before:
            if not in_sequence:
                raise SystemExit(f"an out-of-sequence frame acted: {seq} {mtype} {payload.hex()}")
            acted += 1
        for level in hal.outputs.values():
            if not -0.9 - 1e-9 <= level <= 0.9 + 1e-9:
                raise SystemExit(f"an output left its limits: {level}")
    return count, acted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="megabytes of random bytes")
    parser.add_argument("--frames", type=int, default=200_000, help="random frames")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    device_module.Executor = Spy  # type: ignore[misc]
    rng = random.Random(args.seed)
    started = time.perf_counter()
    fed, passed = fuzz_bytes(args.mb, rng)
    took = time.perf_counter() - started
    print(
        f"random bytes: {fed:,} fed in {took:.1f} s ({fed / took / 1e6:.2f} MB/s); "
        f"{passed} passed the CRC by chance; nothing reached the executor"
    )
    rejected = fuzz_damaged(args.frames, rng)
    print(f"damaged frames: {args.frames:,} fed, {rejected:,} segments rejected; none acted")
    started = time.perf_counter()
    count, acted = fuzz_frames(args.frames, rng)
    took = time.perf_counter() - started
    print(
        f"random frames: {count:,} fed in {took:.1f} s; {acted:,} were in sequence and well "
        "formed and acted; no other frame did; every output stayed within its limits"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
