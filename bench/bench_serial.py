"""Serial link: bytes on the wire, command timing on the virtual Pico, stop and watchdog latency.

The virtual Pico runs in its own process on a pseudo-terminal
(`python -m firmware_bridge.virtual`), writing every output change with its
device time and the system's monotonic time; the host drives it through the
real serial driver. "Host busy" means two CPU-bound processes run meanwhile,
one per core, and the virtual device shares those cores with them (a real
Pico would not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from run import Row

import massager  # noqa: F401  (first: massager.compiled decides which modules run compiled)
from firmware_bridge import codec, codes
from firmware_bridge.ticks import ticks_diff
from massager import api
from massager.drivers.base import DriverOptions
from massager.drivers.serial import SerialDriver
from massager.rig import Rig
from massager.runtime.session import Session
from massager.stream import Command, CommandStream

LINK_BYTES_PER_S = 115200 / 10  # 8N1: ten bits a byte
CHANNELS = 4
RIG = Rig.model_validate(
    {
        "name": "bench",
        "watchdog_ms": 250,
        "actuators": [
            {
                "id": f"vib{ch}",
                "kind": "vibration",
                "foot": "left",
                "reaches": ["heel"],
                "max_slew": 100.0,
                "bindings": {"serial": {"channel": ch}},
            }
            for ch in range(CHANNELS)
        ],
    }
)


# -- the virtual Pico in its own process ------------------------------------------------


@contextmanager
def virtual_pico() -> Iterator[tuple[str, Path]]:
    """A virtual Pico process: (its port, its trace file)."""
    with tempfile.TemporaryDirectory(prefix="bench-serial-") as tmp:
        link = Path(tmp) / "pico"
        trace = Path(tmp) / "trace.csv"
        proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_bridge.virtual", "--channels", str(CHANNELS),
             "--trace", str(trace), "--link", str(link)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # ready
            yield str(link), trace
        finally:
            proc.terminate()
            proc.wait(5)


def read_trace(path: Path) -> list[tuple[float, int, int, float]]:
    """(monotonic s, device us, channel, level) of every output change so far."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        parts = line.split(",")
        if len(parts) == 4:
            rows.append((float(parts[0]), int(parts[1]), int(parts[2]), float(parts[3])))
    return rows


@contextmanager
def host_busy(n: int = 2) -> Iterator[None]:
    """`n` CPU-bound processes (one per core) for the duration."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.3)
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@contextmanager
def host_thread_busy() -> Iterator[None]:
    """A CPU-bound thread inside the host process (it holds the GIL 5 ms at a time)."""
    import threading

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, nearest rank."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def first_change_after(
    trace: list[tuple[float, int, int, float]], ch: int, device_us: int, within_us: int = 200_000
) -> tuple[float, int] | None:
    """(monotonic s, device us) of the first write on `ch` at or after `device_us`."""
    for wall, dev, c, _ in trace:
        if c == ch and 0 <= ticks_diff(dev, device_us) <= within_us:
            return wall, dev
    return None


# -- bytes on the wire -------------------------------------------------------------------


def schedule_bytes(stream: CommandStream, channels: dict[str, int]) -> tuple[int, int]:
    """(host-to-device bytes, device-to-host ack bytes) the commands take, sent as the session
    sends them: every 100 ms, what falls due within the next second, packed into frames."""
    up = down = 0
    ack = len(codec.encode_frame(0, codes.MSG_ACK))
    commands = stream.commands
    i = 0
    t = 0
    while i < len(commands):
        batch = []
        while i < len(commands) and commands[i].at_ms < t + 1000:
            batch.append(commands[i])
            i += 1
        frame: list[tuple[int, int, int, float, float, float, float]] = []
        size = 3
        for c in batch:
            op, a, b, cc, d = c.args()
            n = codec.command_size(op)
            if frame and size + n > codec.MAX_PAYLOAD:
                up += len(
                    codec.encode_frame(0, codes.MSG_SCHEDULE, codec.encode_schedule(0, frame))
                )
                down += ack
                frame, size = [], 3
            frame.append((c.at_ms * 1000, channels[c.actuator], op, a, b, cc, d))
            size += n
        if frame:
            up += len(codec.encode_frame(0, codes.MSG_SCHEDULE, codec.encode_schedule(0, frame)))
            down += ack
        t += 100
    return up, down


def idle_rates(seconds: float) -> tuple[float, float]:
    """Bytes per second each way of a running session with no commands (heartbeat, clock)."""
    from firmware_bridge.virtual import VirtualDevice

    rig = api.load_rig("pico-serial")

    with VirtualDevice(channels=16) as dev:
        driver = SerialDriver(rig, DriverOptions(target=dev.port))
        driver.open()
        driver.start()
        link = driver.last_link
        assert link is not None
        time.sleep(0.6)
        out0, in0 = link.bytes_out, link.bytes_in
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            driver.poll()
            time.sleep(0.1)
        took = time.monotonic() - started
        out1, in1 = link.bytes_out, link.bytes_in
        driver.close()
    return (out1 - out0) / took, (in1 - in0) / took


def wire(quick: bool) -> list[Row]:
    """Bytes the classic profile puts on the wire, against its JSON Lines stream."""
    rig = api.load_rig("pico-serial")
    stream = api.compile_stream(api.load_profile("classic"), rig)
    channels = {a.id: a.bindings.serial.channel for a in rig.actuators if a.bindings.serial}
    jsonl = len(stream.to_jsonl().encode())
    cmd_up, ack_down = schedule_bytes(stream, channels)
    up_rate, down_rate = idle_rates(2.0 if quick else 6.0)
    seconds = stream.duration_ms / 1000
    total_up = cmd_up + up_rate * seconds
    total_down = ack_down + down_rate * seconds
    jsonl_share = jsonl / seconds / LINK_BYTES_PER_S * 100
    return [
        Row("classic: commands as SCHEDULE frames", cmd_up, "bytes", "its JSON Lines stream",
            jsonl),
        Row("classic: host to device, all traffic (commands, heartbeat, clock)", total_up,
            "bytes", "its JSON Lines stream", jsonl),
        Row("classic: host to device, share of a 115200-baud link", total_up / seconds
            / LINK_BYTES_PER_S * 100, "%", "JSON Lines streamed over the session", jsonl_share),
        Row("classic: device to host (status, clock replies, acks), share of the link",
            total_down / seconds / LINK_BYTES_PER_S * 100, "%",
            "JSON Lines streamed over the session", jsonl_share),
    ]  # fmt: skip


# -- timing ------------------------------------------------------------------------------


def toggle_stream(seconds: float, period_ms: int = 50) -> CommandStream:
    """A channel changes level every `period_ms`, the channels in turn."""
    commands = []
    n = int(seconds * 1000 / period_ms)
    for k in range(n):
        ch = k % CHANNELS
        level = 0.6 if (k // CHANNELS) % 2 == 0 else 0.2
        commands.append(Command(200 + k * period_ms, f"vib{ch}", "set", level=level))
    end = 200 + n * period_ms + 100
    commands += [Command(end, f"vib{ch}", "off") for ch in range(CHANNELS)]
    names = tuple(f"vib{ch}" for ch in range(CHANNELS))
    return CommandStream("toggle", "bench", end, names, [], commands)


def device_stamps(session: Session, stream: CommandStream) -> list[tuple[int, int]]:
    """(device us, channel) of each set command of `stream`, filled in when `session` (on a
    serial driver) starts: where the host's clock estimate puts each on the device's clock."""
    from massager.runtime.events import SessionStarted

    driver = session.driver
    stamps: list[tuple[int, int]] = []

    def stamp(_: object) -> None:
        if not stamps:
            stamps.extend(
                (driver.device_time(c.at_ms), int(c.actuator[3:]))  # type: ignore[attr-defined]
                for c in stream.commands
                if c.op == "set"
            )

    session.bus.subscribe(stamp, SessionStarted)
    return stamps


def stamped_lateness(
    trace: list[tuple[float, int, int, float]], stamps: list[tuple[int, int]]
) -> list[float]:
    """Lateness (ms) of each stamped change: its channel's first write at or after its time."""
    late = []
    for t, ch in stamps:
        found = first_change_after(trace, ch, t)
        if found is not None:
            late.append(ticks_diff(found[1], t) / 1000)
    return late


def device_timed(seconds: float, busy: object = host_busy) -> list[float]:
    """Lateness (ms) of each output change against its device time, commands sent ahead."""
    stream = toggle_stream(seconds)
    with virtual_pico() as (port, trace_path):
        driver = SerialDriver(RIG, DriverOptions(target=port))
        session = Session(stream, driver)
        stamps = device_stamps(session, stream)
        with busy():  # type: ignore[operator]
            session.run()
        time.sleep(0.3)
        trace = read_trace(trace_path)
    return stamped_lateness(trace, stamps)


def host_timed(seconds: float, busy: object = host_busy) -> list[float]:
    """Lateness (ms) of output changes when the host sleeps until each time, then writes."""
    period = 50
    n = int(seconds * 1000 / period)
    late = []
    with virtual_pico() as (port, trace_path):
        driver = SerialDriver(RIG, DriverOptions(target=port))
        driver.open()
        driver.send([Command(0, "vib0", "set", level=1.0)])
        driver.start()
        targets = []
        with busy():  # type: ignore[operator]
            for k in range(n):
                at = 300 + k * period
                delay = driver.host_time(at) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                driver.set_intensity(0.6 if k % 2 == 0 else 0.2)
                targets.append(driver.device_time(at))
                if k % 2:
                    driver.poll()  # the heartbeat, as a session would
        driver.close()
        time.sleep(0.3)
        trace = read_trace(trace_path)
    for t in targets:
        found = first_change_after(trace, 0, t)
        if found is not None:
            late.append(ticks_diff(found[1], t) / 1000)
    return late


def timing(quick: bool) -> list[Row]:
    """Output-change lateness, device-timed against host-timed, with the host busy."""
    seconds = 4.0 if quick else 15.0
    rows = []
    for busy, how in ((host_busy, "2 CPU-bound processes"), (host_thread_busy, "a CPU-bound "
                      "thread in the host")):  # fmt: skip
        dev = device_timed(seconds, busy)
        host = host_timed(seconds, busy)
        for name, q in (("p50", 50.0), ("p99", 99.0), ("max", 100.0)):
            rows.append(
                Row(f"output change lateness {name} ({how}): sent ahead, device-timed",
                    percentile(dev, q), "ms", "host-timed: sleep, then write",
                    percentile(host, q))
            )  # fmt: skip
    return rows


# -- stopping ----------------------------------------------------------------------------


def all_zero_after(trace: list[tuple[float, int, int, float]], since: float) -> float | None:
    """The monotonic time after `since` when every channel is first at zero."""
    levels = dict.fromkeys(range(CHANNELS), 1.0)
    for wall, _, ch, level in trace:
        levels[ch] = level
        if wall >= since and all(v == 0.0 for v in levels.values()):
            return wall
    return None


def stop_latency(quick: bool) -> list[Row]:
    """Host stop request to every output at zero, against a clock round trip on the same link.

    OFF (what a stop of the run ends with: `off()`, `massager off`) is measured to the
    later of the host receiving the device's acknowledgement and every output at zero;
    STOP (the user's stop: a ramp down at the slew limits) to every output at zero.
    """
    repeats = 10 if quick else 40
    trips = []
    with virtual_pico() as (port, trace_path):
        driver = SerialDriver(RIG, DriverOptions(target=port))
        driver.open()
        driver.start()
        link = driver.last_link
        assert link is not None
        marks: dict[int, list[tuple[float, float]]] = {codes.MSG_OFF: [], codes.MSG_STOP: []}
        for k in range(2 * repeats):
            kind = codes.MSG_OFF if k % 2 == 0 else codes.MSG_STOP
            now = driver.poll().session_ms
            driver.send([Command(int(now) + 100, f"vib{ch}", "set", level=0.8) for ch in range(4)])
            time.sleep(0.3)
            mark = time.monotonic()
            n = link.send(kind)
            acked = mark if not link.wait_acked(n, 1.0) else time.monotonic()
            marks[kind].append((mark, acked))
            time.sleep(0.1)
            got = link.request(codes.MSG_CLOCK, codes.MSG_CLOCK_REPLY)
            if got is not None:
                trips.append((got[2] - got[1]) * 1000)
        driver.close()
        time.sleep(0.3)
        trace = read_trace(trace_path)
    offs = []
    for mark, acked in marks[codes.MSG_OFF]:
        zero = all_zero_after(trace, mark)
        if zero is not None and acked > mark:
            offs.append((max(zero, acked) - mark) * 1000)
    ramps = []
    for mark, _ in marks[codes.MSG_STOP]:
        zero = all_zero_after(trace, mark)
        if zero is not None:
            ramps.append((zero - mark) * 1000)
    return [
        Row("stop request (OFF) to acknowledged and every output at zero, p50",
            percentile(offs, 50), "ms", "clock request round trip p50", percentile(trips, 50),
            "< 20 ms"),
        Row("stop request (OFF) to acknowledged and every output at zero, p99",
            percentile(offs, 99), "ms", "clock request round trip p99", percentile(trips, 99),
            "< 20 ms"),
        Row("user stop (STOP, ramp down at 100/s from 0.8) to every output at zero, p50",
            percentile(ramps, 50), "ms", "clock request round trip p50", percentile(trips, 50)),
        Row("user stop (STOP, ramp down at 100/s from 0.8) to every output at zero, p99",
            percentile(ramps, 99), "ms", "clock request round trip p99", percentile(trips, 99)),
    ]  # fmt: skip


def watchdog(quick: bool) -> list[Row]:
    """The host falls silent: time to every output at zero, and beyond the watchdog's expiry."""
    repeats = 3 if quick else 10
    silent = []
    beyond = []
    with virtual_pico() as (port, trace_path):
        marks = []
        for _ in range(repeats):
            driver = SerialDriver(RIG, DriverOptions(target=port))
            driver.open()
            driver.send([Command(0, f"vib{ch}", "set", level=0.8) for ch in range(4)])
            driver.start()
            time.sleep(0.8)
            link = driver.last_link
            assert link is not None
            link.close()  # the host process dies: not another byte
            marks.append((time.monotonic(), link.frames.last_tx))
            time.sleep(0.6)
        time.sleep(0.3)
        trace = read_trace(trace_path)
    for killed, last_tx in marks:
        zero = all_zero_after(trace, killed)
        if zero is not None:
            silent.append((zero - killed) * 1000)
            beyond.append((zero - last_tx) * 1000 - RIG.watchdog_ms)
    return [
        Row("host silent to every output at zero, max", max(silent), "ms",
            "the watchdog setting", RIG.watchdog_ms, "within the watchdog"),
        Row("watchdog expiry to every output at zero, max", max(beyond), "ms",
            "the watchdog setting", RIG.watchdog_ms),
    ]  # fmt: skip


def decoder_speed(quick: bool) -> list[Row]:
    """How fast the shared decoder reads frames (CPython), against what a 115200 link carries."""
    frames = b"".join(
        codec.encode_frame(k, codes.MSG_SCHEDULE, codec.encode_schedule(k, [
            (k * 1000, k % 16, 3, 0.1, 0.9, 1.5, 0.0), (k * 1000, 1, 1, 0.5, 0, 0, 0)]))
        for k in range(256)
    )  # fmt: skip
    data = frames * (8 if quick else 40)
    count = [0]
    dec = codec.Decoder(lambda s, t, p: count.__setitem__(0, count[0] + 1))
    started = time.perf_counter()
    dec.feed(data)
    took = time.perf_counter() - started
    assert dec.rejected == 0
    return [
        Row("frame decoder throughput (CPython)", len(data) / took, "bytes/s",
            "a 115200-baud link", LINK_BYTES_PER_S),
    ]  # fmt: skip


def run(quick: bool) -> list[Row]:
    """Every serial measure."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return (
        wire(quick) + timing(quick) + stop_latency(quick) + watchdog(quick) + decoder_speed(quick)
    )
