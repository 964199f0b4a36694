"""`massager serve`: API stop to every output at zero, status pushes with 5 clients, peak memory

Stop over the websocket (a real client) is timed from the moment the client
sends `session.stop` to the moment the device's outputs are at zero in the
device's own record (bench/stops.py): on the virtual Pico (a process of its
own, tracing every write on the system's monotonic clock) with `massager serve`
in a process of its own; on the simulator with the service in this process, so
the simulator's own output writes can be read. The baseline is the same stop
from `massager run`'s key path: `Session.stop()` called from another thread,
which is what the `q` key does, on the same device. The rig ramps at 100/s, so
the soft stop itself is under 10 ms.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from run import Row
from stops import FAST_RIG, PROFILE, PicoProcess, SimOutputs, percentile, rig_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from service_support import InProcess, Service, Ws

from massager import api
from massager.runtime.events import Finished, Progress
from massager.runtime.session import Session


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


def _wait_playing(ws: Ws) -> None:
    """Until the service's session has played 300 ms (the output is up at its level)."""
    deadline = time.monotonic() + 10
    while True:
        status = ws.call("status.get")
        if status["state"] == "running" and (status.get("session_ms") or 0) > 300:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the session never played: {status}")
        time.sleep(0.02)


def pico_api(n: int) -> tuple[list[float], list[float]]:
    """API stop over the websocket to `massager serve --device serial:PTY`, n times:
    (ms to the device's first ramp-down write, ms to its output at zero)."""
    reach, zero = [], []
    dev = PicoProcess()
    try:
        with rig_file() as rig, serving("--device", f"serial:{dev.port}", "--rig", str(rig)) as svc:
            ws = svc.ws()
            for _ in range(n):
                ws.call("session.start", {"text": PROFILE})
                _wait_playing(ws)
                sent = time.monotonic()
                ws.send("session.stop")
                ws.wait_state("idle")
                r, z = dev.stop_times(sent)
                reach.append(r)
                zero.append(z)
            ws.close()
    finally:
        dev.close()
    return reach, zero


def _session_thread(session: Session) -> tuple[threading.Thread, threading.Event]:
    """Play `session` in a thread; the event is set once it has played 300 ms."""
    playing = threading.Event()
    session.bus.subscribe(lambda e: e.t_ms > 300 and playing.set(), Progress)

    def play() -> None:
        with contextlib.suppress(Exception):
            session.run()

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread, playing


def pico_key(n: int) -> tuple[list[float], list[float]]:
    """The same stop from `massager run`'s key path: Session.stop() from another thread."""
    reach, zero = [], []
    dev = PicoProcess()
    rig = api.rig_from_data(yaml.safe_load(FAST_RIG))
    stream = api.compile_stream(api.profile_from_text(PROFILE), rig)
    try:
        for _ in range(n):
            session = api.open_session(stream, rig, f"serial:{dev.port}")
            thread, playing = _session_thread(session)
            if not playing.wait(10):
                raise RuntimeError("the session never played")
            sent = time.monotonic()
            session.stop()
            thread.join(10)
            r, z = dev.stop_times(sent)
            reach.append(r)
            zero.append(z)
    finally:
        dev.close()
    return reach, zero


def sim_stops(n: int, via_api: bool) -> tuple[list[float], list[float]]:
    """Stop on the simulator, n times: (ms to every output at zero in the simulator's own
    record, ms to the session's end: it saw every output at zero and finished)."""
    zero: list[float] = []
    ended: list[float] = []
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp, rig_file() as rig:
        service = InProcess(Path(tmp), deadman_s=None, speed=1.0, trace=None, rig=str(rig))
        ws = service.ws()
        core = service.core
        for _ in range(n):
            ws.call("session.start", {"text": PROFILE})
            _wait_playing(ws)
            session = core.run.session
            outputs = SimOutputs(session.driver)
            stamps: dict[str, float] = {}
            session.bus.subscribe(
                lambda e, stamps=stamps: stamps.setdefault("ended", time.monotonic()), Finished
            )
            outputs.arm()
            sent = time.monotonic()
            if via_api:
                ws.send("session.stop")
            else:
                session.stop()
            core.wait_idle(10)
            zero.append((outputs.zero_at() - sent) * 1000)
            ended.append((stamps["ended"] - sent) * 1000)
            ws.wait_state("idle")
        ws.close()
        service.close()
    return zero, ended


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
    # the simulator first: its service runs in this process
    sim_api_zero, sim_api_end = sim_stops(n, via_api=True)
    sim_key_zero, sim_key_end = sim_stops(n, via_api=False)
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
            "simulator: API stop (websocket) to every output at zero, p50",
            percentile(sim_api_zero, 50),
            "ms",
            "key path, p50",
            percentile(sim_key_zero, 50),
        ),
        Row(
            "simulator: API stop (websocket) to every output at zero, p99",
            percentile(sim_api_zero, 99),
            "ms",
            key,
            percentile(sim_key_zero, 99),
            "< 20 ms",
        ),
        Row(
            "simulator: API stop to the session's end (it saw every output at zero), p99",
            percentile(sim_api_end, 99),
            "ms",
            key,
            percentile(sim_key_end, 99),
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
