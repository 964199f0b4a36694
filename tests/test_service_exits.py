"""Every way out of a session started through the API leaves every output at zero.

On the simulator (its trace, written by the service) and on the virtual Pico
(the outputs it recorded): stop, the remote dead-man, a client that vanishes,
SIGTERM of the service; on the virtual Pico also SIGKILL of the service (the
device's watchdog) and a device error (the link cut).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from serial_support import wait_for
from service_support import SHORT_PROFILE, Service, Ws, all_zero_at_end

from firmware_bridge.codes import FAULT_WATCHDOG
from firmware_bridge.ticks import ticks_diff
from firmware_bridge.virtual import VirtualDevice

SERIAL_RIG = """\
name: serial-test
watchdog_ms: 250
actuators:
  - id: roller
    kind: roller
    foot: left
    reaches: [sole]
    max_level: 0.9
    max_slew: 20.0
    bindings: {serial: {channel: 0}}
  - id: roller_r
    kind: roller
    foot: right
    reaches: [sole]
    max_level: 0.9
    max_slew: 20.0
    bindings: {serial: {channel: 8}}
  - id: vib
    kind: vibration
    foot: left
    reaches: [heel]
    max_slew: 20.0
    bindings: {serial: {channel: 3}}
"""


def _moving(ws: Ws) -> dict[str, float]:
    """Wait until some output is above zero; the levels."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        levels = ws.call("status.get")["levels"]
        if any(abs(v) > 0.05 for v in levels.values()):
            return levels  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the outputs never moved")


def _levels_zero(ws: Ws, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(abs(v) < 1e-6 for v in ws.call("status.get")["levels"].values()):
            return True
        time.sleep(0.05)
    return False


# -- the simulator ----------------------------------------------------------------------------


def test_sim_deadman_ramps_down_and_pauses_when_the_controller_leaves(tmp_path: Path) -> None:
    svc = Service(tmp_path, "--deadman", "1s", speed=5.0)
    try:
        phone, watcher = svc.ws(name="phone"), svc.ws(name="watcher")
        phone.call("session.start", {"text": SHORT_PROFILE})
        _moving(watcher)
        phone.close()  # the phone went away: nobody controls the session now
        status = watcher.call("status.get")
        assert status["controller"] is None and status["deadman_in_s"] is not None
        assert watcher.wait_state("paused", timeout=5)["state"] == "paused"
        assert _levels_zero(watcher)
        status = watcher.call("status.get")
        assert any("dead-man" in w for w in status["warnings"])
        watcher.call("session.stop")
        assert watcher.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        assert all_zero_at_end(svc.trace_levels()) == {}
        watcher.close()
    finally:
        svc.close()


def test_sim_a_vanished_controller_trips_the_deadman(tmp_path: Path) -> None:
    svc = Service(tmp_path, "--deadman", "1s", speed=5.0)
    try:
        phone, watcher = svc.ws(name="phone"), svc.ws(name="watcher")
        phone.call("session.start", {"text": SHORT_PROFILE})
        _moving(watcher)
        phone.vanish()  # no closing handshake
        assert watcher.wait_state("paused", timeout=8)["state"] == "paused"
        assert _levels_zero(watcher)
        watcher.call("session.stop")
        watcher.wait_state("idle")
        assert all_zero_at_end(svc.trace_levels()) == {}
        watcher.close()
    finally:
        svc.close()


def test_sim_deadman_off_keeps_playing(tmp_path: Path) -> None:
    svc = Service(tmp_path, "--deadman", "off", speed=5.0)
    try:
        phone, watcher = svc.ws(), svc.ws()
        assert phone.call("server.info")["deadman_s"] is None
        phone.call("session.start", {"text": SHORT_PROFILE})
        phone.close()
        watcher.drain(1.5)
        status = watcher.call("status.get")
        assert status["state"] == "running" and status["deadman_in_s"] is None
        watcher.call("session.stop")
        watcher.wait_state("idle")
        watcher.close()
    finally:
        svc.close()


def test_sim_sigterm_ramps_down_and_exits(tmp_path: Path) -> None:
    svc = Service(tmp_path, speed=5.0)
    try:
        ws = svc.ws()
        ws.call("session.start", {"text": SHORT_PROFILE})
        _moving(ws)
        assert svc.terminate(signal.SIGTERM) == 0
        assert all_zero_at_end(svc.trace_levels()) == {}
        assert not svc.socket.exists()
    finally:
        svc.close()
    # the history kept the session, and the next start reads it
    again = Service(tmp_path, speed=5.0)
    try:
        ws = again.ws()
        assert ws.call("history.list")[0]["outcome"] == "stopped"
        ws.close()
    finally:
        again.close()


def test_sim_sigterm_with_a_unix_client_connected_says_only_that_it_stops(
    tmp_path: Path,
) -> None:
    """`massager remote button` stays connected: stopping the service is no traceback."""
    svc = Service(tmp_path, speed=5.0)
    try:
        with socket.socket(socket.AF_UNIX) as held:
            held.connect(str(svc.socket))
            held.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "status.subscribe"}\n')
            assert b'"result"' in held.recv(65536)
            assert svc.terminate(signal.SIGTERM) == 0
        assert svc.stderr() == "SIGTERM: stopping\n"
    finally:
        svc.close()


# -- the virtual Pico -------------------------------------------------------------------------


@pytest.fixture
def pico() -> Iterator[VirtualDevice]:
    dev = VirtualDevice(channels=16, record=True).start()
    yield dev
    dev.close()


def _serve_pico(tmp_path: Path, port: str, *args: str) -> Service:
    rig = tmp_path / "serial-test.yaml"
    rig.write_text(SERIAL_RIG)
    return Service(tmp_path, "--device", f"serial:{port}", "--rig", str(rig), *args, speed=None)


def _ends_at_zero(pico: VirtualDevice) -> None:
    assert wait_for(pico.hal.all_zero, timeout=15.0)
    history = pico.hal.history
    assert history is not None
    assert any(abs(level) > 0.05 for _, _, _, level in history)  # it really moved
    last = {ch: level for _, _, ch, level in history}
    assert all(abs(v) < 1e-6 for v in last.values()), last


def test_pico_stop(tmp_path: Path, pico: VirtualDevice) -> None:
    svc = _serve_pico(tmp_path, pico.port)
    try:
        ws = svc.ws()
        ws.call("session.start", {"text": SHORT_PROFILE})
        assert wait_for(lambda: abs(pico.hal.levels[0]) > 0.1, timeout=30)
        ws.call("session.stop")
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        _ends_at_zero(pico)
        assert pico.device.executor.faults == 0
        ws.close()
    finally:
        svc.close()


def test_pico_deadman_and_sigterm(tmp_path: Path, pico: VirtualDevice) -> None:
    svc = _serve_pico(tmp_path, pico.port, "--deadman", "1s")
    try:
        phone, watcher = svc.ws(), svc.ws()
        phone.call("session.start", {"text": SHORT_PROFILE})
        assert wait_for(lambda: abs(pico.hal.levels[0]) > 0.1, timeout=30)
        phone.vanish()
        assert watcher.wait_state("paused", timeout=8)["state"] == "paused"
        assert wait_for(pico.hal.all_zero, timeout=10.0)  # ramped down, held (a hang guard)
        assert pico.device.executor.faults == 0
        watcher.call("session.resume")  # the watcher takes control and resumes
        assert wait_for(lambda: not pico.hal.all_zero(), timeout=5)
        watcher.close()
        assert svc.terminate(signal.SIGTERM) == 0
        _ends_at_zero(pico)
        assert pico.device.executor.faults == 0  # ramped down and off, not the watchdog
    finally:
        svc.close()


def test_pico_sigkill_of_the_service_trips_the_device_watchdog(
    tmp_path: Path, pico: VirtualDevice
) -> None:
    svc = _serve_pico(tmp_path, pico.port)
    try:
        ws = svc.ws()
        ws.call("session.start", {"text": SHORT_PROFILE})
        assert wait_for(lambda: abs(pico.hal.levels[0]) > 0.1, timeout=30)
        svc.terminate(signal.SIGKILL)
        assert wait_for(pico.hal.all_zero, timeout=15.0)  # 15 s: only a guard against a hang
        assert pico.device.executor.faults == FAULT_WATCHDOG  # the watchdog, nothing else
        # on the device's own clock: its last writes (every output to zero) came once the
        # host had been silent for more than the watchdog's 250 ms, not before
        heard, history = pico.device.heard_us, pico.hal.history
        assert heard is not None and history
        assert ticks_diff(history[-1][1], heard) > 250_000
        _ends_at_zero(pico)
    finally:
        svc.close()


def test_pico_a_cut_link_is_a_device_error_latched_until_acknowledged(
    tmp_path: Path, pico: VirtualDevice
) -> None:
    proxy = FaultProxy(pico.port, rate=0.0)
    proxy.faults = False
    svc = _serve_pico(tmp_path, proxy.port)
    try:
        ws = svc.ws()
        ws.call("session.start", {"text": SHORT_PROFILE})
        assert wait_for(lambda: abs(pico.hal.levels[0]) > 0.1, timeout=30)
        proxy.cut(float("inf"))
        status = ws.wait_state("fault", timeout=15)
        assert status["state"] == "fault" and status["fault"]["reason"] == "device"
        assert wait_for(pico.hal.all_zero, timeout=2.0)  # the device's watchdog
        refused = ws.request("session.start", {"text": SHORT_PROFILE})
        assert refused["error"] == {
            "code": -32003,
            "message": "a fault is latched: acknowledge it first",
        }
        assert ws.call("fault.acknowledge")["state"] == "idle"
        assert ws.call("history.list")[0]["outcome"] == "error"
        _ends_at_zero(pico)
        ws.close()
    finally:
        svc.close()
        proxy.close()


def test_pico_held_by_the_service(tmp_path: Path, pico: VirtualDevice) -> None:
    """The service claims its device: a `massager run` on it is refused (exit 3, naming
    the service), and `massager off` stops the session (every output at zero) while the
    service keeps the device and goes on serving."""
    from massager.cli import run as cli
    from massager.runtime.owner import device_key, holder

    svc = _serve_pico(tmp_path, pico.port)
    try:
        key = device_key("serial", pico.port)
        assert key is not None
        info = holder(key)
        assert info is not None and info.command == "serve" and info.pid == svc.proc.pid
        device = f"serial:{pico.port}"
        assert cli(["run", "quick", "--device", device, "--rig", "pico-serial"]) == 3
        ws = svc.ws()
        ws.call("session.start", {"text": SHORT_PROFILE})
        assert wait_for(lambda: abs(pico.hal.levels[0]) > 0.1, timeout=30)
        assert cli(["off", "--device", device]) == 0
        assert wait_for(pico.hal.all_zero, timeout=15)
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        assert holder(key) == info  # the service keeps its device
        assert pico.device.executor.faults == 0
        _ends_at_zero(pico)
        ws.close()
    finally:
        svc.close()
