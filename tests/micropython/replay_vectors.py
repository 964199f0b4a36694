"""Replay the pinned conversation (tests/data/vectors) through the firmware's Device.

Runs on MicroPython (and CPython): every vector file is decoded with the
codec and encoded again (printed as ``codec NAME ok`` or ``codec NAME DIFFERS``);
then each host frame in sequence is fed to a Device whose clock stands at
1000 us, and the frames it writes are printed as ``device NAME HEX,HEX...``.
The test compares them with the device vectors that follow in the files.
"""

import os

from firmware_bridge import codec
from firmware_bridge.device import Device

VECTORS = "/vectors"
SKIP = ("39-stuffing",)  # a framing example outside the conversation's sequence


class StillHal:
    """A clock standing at 1000 us, outputs recorded."""

    def __init__(self):
        self.outputs = {}

    def now_us(self):
        return 1000

    def set_output(self, ch, level):
        self.outputs[ch] = level

    def read_temp(self, ch):
        return 25.0


def read(name):
    with open(VECTORS + "/" + name) as f:
        lines = f.read().split("\n")
    sender = lines[0][2:6]
    data = "".join(ln.replace(" ", "") for ln in lines if ln and not ln.startswith("#"))
    return sender, bytes.fromhex(data)


def main():
    names = sorted(n for n in os.listdir(VECTORS) if n.endswith(".hex"))
    frames = []
    for name in names:
        sender, data = read(name)
        got = []
        codec.Decoder(lambda s, t, p: got.append((s, t, p))).feed(data)
        same = len(got) == 1 and codec.encode_frame(got[0][0], got[0][1], got[0][2]) == data
        print("codec", name[:-4], "ok" if same else "DIFFERS")
        frames.append((name[:-4], sender, data))
    written = []
    device = Device(StillHal(), 2, written.append)
    for name, sender, data in frames:
        if sender != "host" or name in SKIP:
            continue
        del written[:]
        device.feed(data)
        print("device", name, ",".join(w.hex() for w in written))


main()
