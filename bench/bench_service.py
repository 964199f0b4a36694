"""`massager serve`: API stop to every output at zero, status pushes with 5 clients, peak memory

Stop over the websocket (a real `massager serve` and a real client) is timed
from the moment the client sends `session.stop` to the device: on the virtual
Pico (a pty in this process, recording every output write on the same
monotonic clock) until its output is at zero, and until the first write of the
ramp-down ("reaches the device"); on the simulator (the service in this
process, its driver's `stop()` stamped) until the driver is told to stop and
until the session sees every output at zero. The baseline is the same stop from
`massager run`'s key path: `Session.stop()` called from another thread, which
is what the `q` key does. The rig ramps at 100/s, so the ramp itself is
under 10 ms.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from run import Row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from service_support import InProcess, Service, Ws

from firmware_bridge.virtual import VirtualDevice
from massager import api
from massager.runtime.events import Finished
from massager.runtime.session import Session

RIG = """\
name: bench-serial
watchdog_ms: 250
actuators:
  - id: vib
    kind: vibration
    foot: left
    reaches: [heel]
    max_slew: 100.0
    bindings: {serial: {channel: 3}}
"""
PROFILE = """\
name: hum
steps:
  - technique: vibrate
    zones: [heel]
    feet: left
    duration: 60s
    intensity: 0.6
"""
SIM_PROFILE = PROFILE.replace("[heel]", "[arch]").replace("feet: left", "feet: both")
"""The same on the reference rig (its vibration motors reach the arch)."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextlib.contextmanager
def serving(*args: str) -> Iterator[Service]:
    """A `massager serve` subprocess on 127.0.0.1 (tests/service_support.py), with `args`, at
    real speed on its own device (the simulator unless `args` name one), stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp:
        service = Service(Path(tmp), *args, speed=None)
        try:
            yield service
        finally:
            service.close()


def _after(
    history: list[tuple[float, int, int, float]], since: float, pred: Callable[[float], bool]
) -> float | None:
    for wall, _dev, ch, level in list(history):
        if wall >= since and ch == 3 and pred(level):
            return wall
    return None


def _pico_stop(dev: VirtualDevice, stop: Callable[[], None], playing: float) -> tuple[float, float]:
    """Send a stop; (ms to the first ramp-down write, ms to the output at zero)."""
    history = dev.hal.history
    assert history is not None
    sent = time.monotonic()
    stop()
    deadline = sent + 10
    zero = None
    while zero is None and time.monotonic() < deadline:
        time.sleep(0.001)
        zero = _after(history, sent, lambda v: v == 0.0)
    assert zero is not None, f"the output never reached zero (at {dev.hal.levels[3]})"
    reach = _after(history, sent, lambda v: v < playing - 1e-6) or zero
    return (reach - sent) * 1000, (zero - sent) * 1000


def _playing(dev: VirtualDevice) -> float:
    deadline = time.monotonic() + 10
    level = 0.0
    while time.monotonic() < deadline:
        level = dev.hal.levels[3]
        if level > 0.5:
            time.sleep(0.05)  # settled at its level
            return dev.hal.levels[3]
        time.sleep(0.005)
    raise RuntimeError(f"the output never rose (at {level})")


def pico_api(n: int) -> tuple[list[float], list[float]]:
    """API stop over the websocket to `massager serve --device serial:PTY`, n times."""
    reach, zero = [], []
    dev = VirtualDevice(channels=16, record=True).start()
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp:
        rig = Path(tmp) / "rig.yaml"
        rig.write_text(RIG)
        with serving("--device", f"serial:{dev.port}", "--rig", str(rig)) as service:
            ws = service.ws()
            for _ in range(n):
                ws.call("session.start", {"text": PROFILE})
                level = _playing(dev)
                r, z = _pico_stop(dev, lambda: ws.send("session.stop"), level)
                reach.append(r)
                zero.append(z)
                ws.wait_state("idle")
            ws.close()
    dev.close()
    return reach, zero


def _session_thread(session: Session) -> threading.Thread:
    def play() -> None:
        with contextlib.suppress(Exception):
            session.run()

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def pico_key(n: int) -> tuple[list[float], list[float]]:
    """The same stop from `massager run`'s key path: Session.stop() from another thread."""
    reach, zero = [], []
    dev = VirtualDevice(channels=16, record=True).start()
    rig = api.rig_from_data(yaml.safe_load(RIG))
    stream = api.compile_stream(api.profile_from_text(PROFILE), rig)
    for _ in range(n):
        session = api.open_session(stream, rig, f"serial:{dev.port}")
        thread = _session_thread(session)
        level = _playing(dev)
        r, z = _pico_stop(dev, session.stop, level)
        reach.append(r)
        zero.append(z)
        thread.join(10)
    dev.close()
    return reach, zero


def sim_stops(n: int, via_api: bool) -> tuple[list[float], list[float]]:
    """Stop on the simulator: ms to the driver's stop(), ms to the session seeing zero."""
    reach: list[float] = []
    zero: list[float] = []
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp:
        service = InProcess(Path(tmp), deadman_s=None, speed=1.0, trace=None)
        ws = service.ws()
        core = service.core
        for _ in range(n):
            ws.call("session.start", {"text": SIM_PROFILE})
            deadline = time.monotonic() + 10
            while core.run is None or not core.status()["levels"].get("right_arch_vibration"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the sim never moved")
                time.sleep(0.01)
            session = core.run.session
            stamps: dict[str, float] = {}
            driver_stop = session.driver.stop

            def stamped_stop(
                stop: Callable[[], None] = driver_stop, stamps: dict[str, float] = stamps
            ) -> None:
                stamps.setdefault("stop", time.monotonic())
                stop()

            session.driver.stop = stamped_stop
            session.bus.subscribe(
                lambda e, stamps=stamps: stamps.setdefault("zero", time.monotonic()), Finished
            )
            sent = time.monotonic()
            if via_api:
                ws.send("session.stop")
            else:
                session.stop()
            core.wait_idle(10)
            reach.append((stamps["stop"] - sent) * 1000)
            zero.append((stamps["zero"] - sent) * 1000)
            ws.wait_state("idle")
        ws.close()
        service.close()
    return reach, zero


def _count_pushes(ws: Ws, seconds: float) -> int:
    """How many status notifications `ws` gets in the next `seconds`."""
    before = len(ws.pushes)
    ws.drain(seconds)
    return len(ws.pushes) - before


def pushes(clients: int, seconds: float) -> list[float]:
    """Status notifications per second each of `clients` websocket clients got."""
    with serving() as service:
        watchers = [service.ws() for _ in range(clients)]
        watchers[0].call("session.start", {"profile": "classic"})
        for w in watchers:
            w.call("status.subscribe")
        counters = [0] * clients

        def count(i: int) -> None:
            counters[i] = _count_pushes(watchers[i], seconds)

        threads = [threading.Thread(target=count, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rates = [c / seconds for c in counters]
        watchers[0].call("session.stop")
        for w in watchers:
            w.close()
        return rates


def serve_peak_mb(seconds: float) -> float:
    """Peak resident memory (VmHWM) of `massager serve` on the sim, a session and 5 clients."""
    with serving() as service:
        watchers = [service.ws() for _ in range(5)]
        watchers[0].call("session.start", {"profile": "classic"})
        for w in watchers:
            w.call("status.subscribe")
            w.call("profile.list")
            w.call("profile.describe", {"profile": "classic"})
        _count_pushes(watchers[0], seconds)
        text = Path(f"/proc/{service.proc.pid}/status").read_text()
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))  # type: ignore[union-attr]
        watchers[0].call("session.stop")
        for w in watchers:
            w.close()
        return hwm / 1024


def run(quick: bool) -> list[Row]:
    """The rows of this benchmark."""
    from bench_run_memory import peak_mb

    n = 8 if quick else 40
    # the simulator first: its service runs in this process, and the virtual Pico's
    # threads would share its interpreter lock
    sim_api_reach, sim_api_zero = sim_stops(n, via_api=True)
    sim_key_reach, sim_key_zero = sim_stops(n, via_api=False)
    api_reach, api_zero = pico_api(n)
    key_reach, key_zero = pico_key(n)
    seconds = 3.0 if quick else 10.0
    five = pushes(5, seconds)
    one = pushes(1, seconds)
    rss = serve_peak_mb(seconds)
    run_rss = peak_mb(["-m", "massager", "run", "quick", "--speed", "100"])
    key = "the same stop from `massager run`'s key path, p99"
    rows = [
        Row(
            "virtual Pico: API stop (websocket) to the output at zero, p50",
            percentile(api_zero, 50),
            "ms",
            "key path, p50",
            percentile(key_zero, 50),
        ),
        Row(
            "virtual Pico: API stop (websocket) to the output at zero, p99",
            percentile(api_zero, 99),
            "ms",
            key,
            percentile(key_zero, 99),
            "< 20 ms",
        ),
        Row(
            "virtual Pico: API stop reaches the device (first ramp-down write), p99",
            percentile(api_reach, 99),
            "ms",
            key,
            percentile(key_reach, 99),
        ),
        Row(
            "simulator: API stop (websocket) to the driver's stop(), p99",
            percentile(sim_api_reach, 99),
            "ms",
            key,
            percentile(sim_key_reach, 99),
            "< 20 ms",
        ),
        Row(
            "simulator: API stop to the session seeing every output at zero, p99",
            percentile(sim_api_zero, 99),
            "ms",
            key,
            percentile(sim_key_zero, 99),
        ),
        Row(
            "status pushes per client, 5 clients watching (slowest client)",
            min(five),
            "Hz",
            "1 client watching",
            one[0],
            "10 Hz",
        ),
        Row(
            "`massager serve` peak RSS, simulator, a session and 5 clients",
            rss,
            "MB",
            "`massager run quick` peak RSS",
            run_rss,
            "< 60 MB",
        ),
    ]
    return rows
