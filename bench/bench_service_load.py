"""Output lateness with `massager serve` and 5 clients running, beside the same run without them.

The same command stream is played twice on the same device in the same run:
once by `massager serve` (its core, its websocket server and its status
pusher on an asyncio loop in a thread of this process, exactly as in its own
process; the session started over the websocket) with 5 websocket clients in
a process of their own, each subscribed to the status pushes (10 a second
while outputs move); once by a session alone, opened as `massager run` opens
it (`api.open_session`), with no service and no client. Each output change's
lateness is measured as in bench_gpio.py and bench_serial.py, whose stream,
rig and measuring functions are used:

- GPIO: `--device gpio`, the GPIO device process on gpiozero mock pins that
  log every change with the system's monotonic clock; a change every 5 ms for
  10 s (bench_gpio.py's stream); lateness from each change's due time on the
  device's clock to its pin's first move.
- serial: the virtual Pico (firmware_bridge/virtual.py, its own process),
  writing every output change with its device time; a change every 50 ms
  (bench_serial.py's stream); lateness from the device time each change was
  sent for to its first write.

Run as a script (`bench_service_load.py clients WS_URL N`), it is the 5 clients.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import bench_gpio
import bench_serial
from run import Row
from service_support import InProcess, Ws

from massager import api
from massager.rig import Rig
from massager.runtime.session import Session
from massager.stream import CommandStream

CLIENTS = 5
GPIO_CHANGES = 2000
"""A change every 5 ms for 10 s: a hundred rounds of status pushes to the five clients."""
WITHOUT = "the same run without the service and clients"


@contextlib.contextmanager
def opened_sessions(hook: Callable[[Session], None]) -> Iterator[None]:
    """Call `hook(session)` on every session `api.open_session` opens meanwhile, before it runs
    (the service's and the lone session's alike: both open it there)."""
    real = api.open_session

    def open_session(*args: Any, **kwargs: Any) -> Session:
        session = real(*args, **kwargs)
        hook(session)
        return session

    api.open_session = open_session  # type: ignore[assignment]
    try:
        yield
    finally:
        api.open_session = real  # type: ignore[assignment]


@contextlib.contextmanager
def clients(ws_url: str, n: int) -> Iterator[list[int]]:
    """`n` websocket clients in a process of their own, subscribed to the status pushes until
    the block ends; then the pushes each received (a list filled on the way out)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "clients", ws_url, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "subscribed", "the clients did not start"
    counts: list[int] = []
    try:
        yield counts
    finally:
        proc.stdin.close()  # the clients leave
        out = proc.stdout.read()
        proc.wait(30)
        counts.extend(int(c) for c in out.split())


def _clients_main(ws_url: str, n: int) -> None:
    """The clients process: subscribe `n` clients, drain their pushes until stdin closes."""
    watchers = [Ws(ws_url) for _ in range(n)]
    for ws in watchers:
        ws.call("status.subscribe")
    done = threading.Event()

    def drain(ws: Ws) -> None:
        while not done.is_set():
            ws.drain(0.2)

    threads = [threading.Thread(target=drain, args=(ws,)) for ws in watchers]
    for thread in threads:
        thread.start()
    print("subscribed", flush=True)
    sys.stdin.read()
    done.set()
    for thread in threads:
        thread.join()
    print(" ".join(str(len(ws.pushes)) for ws in watchers), flush=True)
    for ws in watchers:
        ws.close()


def _rig_file(rig: Rig, folder: Path) -> Path:
    path = folder / "rig.yaml"
    path.write_text(yaml.safe_dump(rig.model_dump(mode="json", exclude_defaults=True)))
    return path


def played(stream: CommandStream, rig: Rig, device: str, with_service: bool) -> Session:
    """Play `stream` on `device` to its end: by the service (started over the websocket, 5
    clients watching) or by a session alone; the session that played it."""
    if not with_service:
        session = api.open_session(stream, rig, device)
        session.run()
        return session
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp:
        service = InProcess(
            Path(tmp), device=device, rig=str(_rig_file(rig, Path(tmp))), deadman_s=None,
            speed=1.0, trace=None,
        )  # fmt: skip
        core = service.core
        core.compile = lambda **_: stream  # any profile named: this stream, as compiled
        try:
            phone = service.ws()
            with clients(service.ws_url, CLIENTS) as pushes:
                phone.call("session.start", {"profile": "bench"})
                assert core.wait_idle(stream.duration_ms / 1000 + 60), "the session never ended"
            phone.close()
        finally:
            service.close()
        outcome = core.status()["last_outcome"]
        assert outcome["outcome"] == "done", outcome
        assert len(pushes) == CLIENTS and min(pushes) > 0, f"pushes per client: {pushes}"
        assert core.run is not None
        return core.run.session


def gpio_lateness(stream: CommandStream, with_service: bool) -> list[float]:
    """Each change's lateness (ms) on `--device gpio` (the device process, logged mock pins)."""
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as folder:
        log = Path(folder) / "pins.log"

        def logged(session: Session) -> None:
            session.driver.pin_log = log  # type: ignore[attr-defined]

        with opened_sessions(logged):
            session = played(stream, bench_gpio.RIG, "gpio", with_service)
        stamps = bench_gpio.logged_stamps(log)
    due = functools.partial(bench_gpio.device_due_s, session.driver)
    late = bench_gpio.lateness_ms(stream.commands, stamps, due)
    return _every(late, stream, "gpio")


def serial_lateness(stream: CommandStream, with_service: bool) -> list[float]:
    """Each change's lateness (ms) on the virtual Pico."""
    stamps: list[list[tuple[int, int]]] = []
    sets = sum(1 for c in stream.commands if c.op == "set")
    with bench_serial.virtual_pico() as (port, trace_path):
        with opened_sessions(lambda s: stamps.append(bench_serial.device_stamps(s, stream))):
            played(stream, bench_serial.RIG, f"serial:{port}", with_service)
        for _ in range(50):  # until the device's trace has the last changes (5 s at most)
            late = bench_serial.stamped_lateness(bench_serial.read_trace(trace_path), stamps[-1])
            if len(late) == sets:
                break
            time.sleep(0.1)
    return _every(late, stream, "serial")


def _every(late: list[float], stream: CommandStream, what: str) -> list[float]:
    """`late`, once sure it has a figure for every set command of `stream` (none went missing)."""
    sets = sum(1 for c in stream.commands if c.op == "set")
    assert len(late) == sets, f"{what}: {len(late)} of {sets} changes found on the device"
    return late


def _rows(what: str, ours: list[float], alone: list[float], target: str = "") -> list[Row]:
    rows = []
    for name, q in (("p50", 50.0), ("p99", 99.0), ("max", 100.0)):
        rows.append(
            Row(f"{what} output lateness {name}, the service and {CLIENTS} clients running",
                bench_serial.percentile(ours, q), "ms", f"{WITHOUT}, {name}",
                bench_serial.percentile(alone, q), target if name == "p99" else "")
        )  # fmt: skip
    return rows


def run(quick: bool) -> list[Row]:
    """GPIO and serial output lateness, with and without the service, in the same run: in
    rounds of both orders (without, with, with, without), so a machine growing busier or
    quieter during the run weighs on both alike."""
    with tempfile.TemporaryDirectory(prefix="massager-bench-run-") as runtime:
        os.environ["XDG_RUNTIME_DIR"] = runtime  # device claims of our own
        gpio = bench_gpio.stream(GPIO_CHANGES // (4 if quick else 1), 5.0)
        serial = bench_serial.toggle_stream(4.0 if quick else 15.0)
        order = (False, True) if quick else (False, True, True, False)
        late: dict[tuple[str, bool], list[float]] = {}
        for with_service in order:
            late.setdefault(("gpio", with_service), []).extend(gpio_lateness(gpio, with_service))
        for with_service in order:
            late.setdefault(("serial", with_service), []).extend(
                serial_lateness(serial, with_service)
            )
    return _rows(
        "GPIO (device process, mock pins):", late["gpio", True], late["gpio", False]
    ) + _rows("serial (virtual Pico):", late["serial", True], late["serial", False])


if __name__ == "__main__" and sys.argv[1:2] == ["clients"]:
    _clients_main(sys.argv[2], int(sys.argv[3]))
