"""`massager serve` with its MQTT bridge on a real Mosquitto, a client playing Home Assistant.

Commands sent over MQTT must change what the simulator did (its trace) exactly as the
same commands over the websocket would; the broker's troubles must not touch a session.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import Broker, HomeAssistant, wait_until
from service_support import Service, all_zero_at_end

import massager
from massager import api
from massager.service.discovery import Topics
from massager.trace import Trace

TOPICS = Topics("homeassistant", "massager")


def _config(tmp: Path, broker: Broker, **extra: Any) -> Path:
    """A config file enabling the bridge on `broker`."""
    lines = ["[mqtt]", "enabled = true", f"port = {broker.port}"]
    lines += [
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in extra.items()
    ]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


def _serve(tmp: Path, broker: Broker, *, speed: float = 20.0, **extra: Any) -> Service:
    """The service with its bridge, once the bridge said `online`."""
    service = Service(tmp, "--config", str(_config(tmp, broker, **extra)), speed=speed)
    return service


@pytest.fixture
def ha(mosquitto: Broker) -> Iterator[HomeAssistant]:
    """A client playing Home Assistant, fresh for each test."""
    client = HomeAssistant(mosquitto.port, client_id=f"ha-{time.monotonic_ns()}")
    yield client
    client.close()


def _online(ha: HomeAssistant, after: float) -> None:
    """Wait until the bridge announced itself after `after`."""
    ha.wait(TOPICS.availability, lambda m: m.text == "online", timeout=15, after=after)
    ha.wait(TOPICS.state, timeout=5, after=after)


def _state(ha: HomeAssistant, after: float, **fields: Any) -> dict[str, Any]:
    """The first state JSON published after `after` whose fields have these values."""
    seen = ha.wait(
        TOPICS.state,
        lambda m: all(m.json().get(k) == v for k, v in fields.items()),
        timeout=10,
        after=after,
    )
    state: dict[str, Any] = seen.json()
    return state


def _stop(service: Service) -> str:
    """Stop the service; what it wrote to stderr (its log)."""
    service.terminate()
    err = service.stderr()
    service.close()
    return err


def _peak(trace: Trace, start_ms: float, end_ms: float) -> float:
    """The largest |level| of any actuator between two trace times (100 ms samples)."""
    times = [start_ms + i * 100 for i in range(int((end_ms - start_ms) / 100) + 1)]
    return max(abs(trace.level_at(a, t)) for a in trace.actuators for t in times)


def _longest_all_zero(trace: Trace, end_ms: float) -> tuple[float, float]:
    """The longest stretch (start, end) before `end_ms` in which every output was at zero."""
    best, run_from = (0.0, 0.0), None
    t = 0.0
    while t <= end_ms:
        zero = all(abs(trace.level_at(a, t)) < 0.01 for a in trace.actuators)  # trace tolerance
        if zero and run_from is None:
            run_from = t
        if (not zero or t + 100 > end_ms) and run_from is not None:
            if t - run_from > best[1] - best[0]:
                best = (run_from, t)
            run_from = None
        t += 100
    return best


def test_start_intensity_pause_resume_stop_over_mqtt_change_the_trace(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant
) -> None:
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto, allow_remote_start=True)
    try:
        _online(ha, mark)
        ws = service.ws()
        ha.publish(TOPICS.profile_set, "quick")
        ha.publish(TOPICS.intensity_set, "100")
        ha.publish(TOPICS.command, "start")
        running = _state(ha, mark, state="running", profile="quick", intensity=100)
        assert running["running"] == "ON"
        wait_until(lambda: ws.call("status.get")["session_ms"] > 15_000, 10, "15 s of session")
        asked_at = ws.call("status.get")["session_ms"]
        ha.publish(TOPICS.intensity_set, "50")
        _state(ha, mark, state="running", intensity=50)
        changed_at = ws.call("status.get")["session_ms"]  # the change happened in between
        wait_until(lambda: ws.call("status.get")["session_ms"] > changed_at + 9000, 10, "9 s more")
        ha.publish(TOPICS.command, "pause")
        _state(ha, mark, state="paused")
        # At least 12 s of device time at --speed 20 (the session's clock stands still while
        # paused, so there is nothing to wait for): a loaded machine only oversleeps, which
        # lengthens the pause, and the trace needs only 5 s of it at zero.
        time.sleep(0.6)
        paused_at = ws.call("status.get")["session_ms"]
        ha.publish(TOPICS.command, "resume")
        resumed = time.monotonic()
        _state(ha, resumed, state="running")
        wait_until(lambda: ws.call("status.get")["session_ms"] > paused_at + 6000, 30, "6 s more")
        ha.publish(TOPICS.command, "stop")
        ended = ha.wait(TOPICS.event, timeout=10, after=mark).json()
        assert ended["event_type"] == "stopped" and ended["outcome"] == "stopped"
        assert _state(ha, mark, state="idle")["running"] == "OFF"
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        ws.close()
    finally:
        service.close()
    trace = service.trace_levels()
    assert all_zero_at_end(trace) == {}
    before = _peak(trace, asked_at - 8000, asked_at - 500)
    after = _peak(trace, changed_at + 1500, changed_at + 8000)
    assert before > 0.1
    assert 0.35 * before < after < 0.65 * before  # intensity 100 % -> 50 %
    zero_from, zero_to = _longest_all_zero(trace, trace.end_ms - 2000)
    assert zero_to - zero_from >= 5000  # the pause held every output at zero
    assert zero_from > changed_at + 8000
    assert _peak(trace, zero_to, zero_to + 3000) > 0.05  # and resume moved them again


def test_a_retained_start_is_never_acted_on(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant
) -> None:
    ha.publish(TOPICS.command, "start", retain=True)
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto, allow_remote_start=True)
    try:
        _online(ha, mark)
        ws = service.ws()
        ha.publish(TOPICS.command, "start", retain=True)  # a live one flagged retained, too
        # the bridge acts on its messages in order: once it shows the intensity sent after
        # the start, it has done whatever it did with the start (a session would be running)
        ha.publish(TOPICS.intensity_set, "37")
        _state(ha, mark, intensity=37)
        assert ws.call("status.get")["state"] == "idle"
        assert ws.call("history.list") == []
        ha.publish(TOPICS.command, "start")  # the same command, not retained: acted on
        assert ws.wait_state("running")["state"] == "running"
        ws.call("session.stop")
        ws.close()
    finally:
        err = _stop(service)
    assert "ignored a retained command" in err


def test_start_is_refused_when_remote_start_is_off(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant
) -> None:
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto)
    try:
        _online(ha, mark)
        ws = service.ws()
        ws.call("session.start", {"profile": "quick"})
        ha.publish(TOPICS.command, "start")
        ha.publish(TOPICS.intensity_set, "150")
        ha.publish(TOPICS.intensity_set, "lots")
        ha.publish(TOPICS.profile_set, "no-such-profile")
        ha.publish(TOPICS.command, b"\xff\x00junk")
        ha.publish(TOPICS.intensity_set, "x" * (1 << 20))
        ha.publish(TOPICS.command, "stop")  # not the controller, but stop is always honoured
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        assert ws.call("status.get")["intensity"] == 1.0
        ws.close()
    finally:
        err = _stop(service)
    assert "remote start is off" in err
    assert err.count("refused command") == 5
    assert "Traceback" not in err


def test_broker_restart_leaves_the_session_alone_and_the_bridge_catches_up(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant
) -> None:
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto, speed=1.0)
    try:
        _online(ha, mark)
        ws = service.ws()
        ws.call("status.subscribe")
        ws.call("session.start", {"profile": "classic", "intensity": 0.6})
        ws.drain(1.0)
        ws.pushes.clear()  # from here on: the session, while the broker goes away and back
        before_ms = ws.call("status.get")["session_ms"]
        mosquitto.restart(down_s=1.5)
        back = time.monotonic()
        fresh = HomeAssistant(mosquitto.port, client_id="ha-after-restart")
        try:
            # the bridge tries again after 0.5, 1, 2, 4 ... s (pinned on a virtual clock in
            # test_mqtt_bridge): 30 s is a hang guard, not a timing
            fresh.wait(TOPICS.availability, lambda m: m.text == "online", timeout=30, after=back)
            state = fresh.wait(TOPICS.state, timeout=30, after=back)
            assert fresh.wait(TOPICS.config, timeout=30, after=back).retain
            now = ws.call("status.get")
            assert state.json()["state"] == "running"
            # the session's time then, not a state kept from before the outage (at least
            # 1.5 s of it at --speed 1), nor from after now; session_s is rounded to 1 s
            session_ms = state.json()["session_s"] * 1000
            assert before_ms + 1500 - 500 <= session_ms <= now["session_ms"] + 500
        finally:
            fresh.close()
        ws.drain(0.5)
        states = {p["state"] for _, p in ws.pushes}
        assert states == {"running"}  # no pause, no stop, no fault while the broker was gone
        times = [p["session_ms"] for _, p in ws.pushes]
        assert times == sorted(times) and times[-1] > 3000
        ws.call("session.stop")
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        ws.close()
    finally:
        service.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_service_gone_shows_offline(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant, sig: int
) -> None:
    """SIGKILL: the broker publishes the will; SIGTERM: the bridge says so on its way out."""
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto)
    try:
        _online(ha, mark)
        gone = time.monotonic()
        service.proc.send_signal(sig)
        service.proc.wait(15)
        offline = ha.wait(
            TOPICS.availability, lambda m: m.text == "offline", timeout=10, after=gone
        )
        assert offline.retain
    finally:
        service.close()


def test_announces_the_real_device_and_forget_removes_it(
    tmp_path: Path, mosquitto: Broker, ha: HomeAssistant
) -> None:
    mark = time.monotonic()
    service = _serve(tmp_path, mosquitto)
    try:
        _online(ha, mark)
        page = service.url.split("?")[0]
        config = ha.wait(  # this service's, not the one a test before left retained
            TOPICS.config,
            lambda m: bool(m.payload) and m.json()["device"]["configuration_url"] == page,
            after=mark,
        )
        assert config.retain
        announced = config.json()
        components = announced["components"]
        assert sorted(components["profile"]["options"]) == sorted(api.bundled_profiles())
        heaters = [a.id for a in api.load_rig("reference").actuators if a.kind == "heater"]
        assert {k for k in components if k.startswith("temp_")} == {f"temp_{h}" for h in heaters}
        assert announced["device"]["sw_version"] == massager.__version__
        assert announced["device"]["model"] == "massager (sim, rig reference)"
    finally:
        service.close()
    config = tmp_path / "config.toml"
    forgotten = time.monotonic()
    done = _massager("serve", "--config", str(config), "--mqtt-forget")
    assert done.returncode == 0, done.stderr
    removed = ha.wait(TOPICS.config, lambda m: m.payload == b"", timeout=5, after=forgotten)
    assert removed.retain
    late = HomeAssistant(mosquitto.port, client_id="ha-late")
    try:
        late.sync()  # every retained message is in
        assert late.on(TOPICS.config) == [] and late.on(TOPICS.state) == []
    finally:
        late.close()


def _massager(*args: str) -> Any:
    """Run `python -m massager ARGS` (bounded); the completed process."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "massager", *args], capture_output=True, text=True, timeout=30
    )


def test_print_config_shows_the_mqtt_table_with_the_password_masked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[mqtt]\nenabled = true\nusername = "ha"\npassword = "secret"\nport = 1884\n')
    done = _massager("serve", "--config", str(config), "--print-config")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[mqtt]" in out and "secret" not in out
    assert f"enabled = true  # {config}" in out
    assert f"port = 1884  # {config}" in out
    assert 'discovery_prefix = "homeassistant"  # default' in out
    assert "allow_remote_start = false  # default" in out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("port = 0", "mqtt.port"),
        ('node_id = "a/b"', "mqtt.node_id: must be letters"),
        ('state_interval = "100ms"', "mqtt.state_interval: must be at least 1s"),
        ('hots = "x"', "mqtt.hots"),
    ],
)
def test_a_bad_mqtt_table_is_one_clear_message(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[mqtt]\n{table}\n")
    done = _massager("serve", "--config", str(config), "--print-config")
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_forget_without_a_broker_says_so(tmp_path: Path) -> None:
    from mqtt_support import free_port

    config = tmp_path / "config.toml"
    config.write_text(f"[mqtt]\nport = {free_port()}\n")
    done = _massager("serve", "--config", str(config), "--mqtt-forget")
    assert done.returncode == 3
    assert "mqtt: cannot reach the broker at 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr
