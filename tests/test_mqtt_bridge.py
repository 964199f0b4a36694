"""The MQTT bridge against a real Mosquitto, with a recording stand-in for the Dispatcher.

These pin what the bridge does with the broker (announce, will, retained and repeated
commands, bad payloads, reconnects) by the API calls it makes; tests/test_mqtt_service.py
plays the same commands into the real service and reads the simulator's trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mqtt_support import BridgeThread, Broker, HomeAssistant, wait_until

from massager.service.discovery import Topics
from massager.service.mqtt import MqttBridge
from massager.service.mqtt_config import MqttConfig

TOPICS = Topics("homeassistant", "massager")
LEARN = {"status.subscribe", "profile.list", "server.info", "profile.describe"}


class Refusal(Exception):
    """What the stand-in raises for a call the service would refuse."""


class RecordingDispatcher:
    """Answers the bridge's questions with fixed facts and records every other call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.clients: list[Any] = []
        self.refuse: set[str] = set()
        self.status: dict[str, Any] = {"state": "idle", "intensity": 0.8, "temps": {}}

    async def call(self, client: Any, method: str, params: Any) -> Any:
        """Record the call; answer it, or raise `Refusal` for a method in `refuse`."""
        self.calls.append((method, params))
        if method in self.refuse:
            raise Refusal(f"{method}: no session is running")
        answers: dict[str, Any] = {
            "profile.list": [{"name": "classic"}, {"name": "quick"}],
            "server.info": {"device": "sim", "rig": "reference"},
            "profile.describe": {
                "actuators": [
                    {"id": "left_sole_heater", "kind": "heater"},
                    {"id": "left_roller", "kind": "roller"},
                ]
            },
        }
        return answers.get(method, self.status)

    def set_status(self, status: dict[str, Any]) -> None:
        """What the service would push: the new status, seen by every client."""
        self.status = status
        for client in self.clients:
            client.status = status

    def connect(self, client: Any) -> None:
        """Register the bridge."""
        self.clients.append(client)

    def disconnect(self, client: Any) -> None:
        """Unregister the bridge."""
        self.clients.remove(client)

    def actions(self) -> list[tuple[str, Any]]:
        """The calls that would change something (everything but the bridge's questions)."""
        return [c for c in self.calls if c[0] not in LEARN]


@pytest.fixture(scope="module")
def ha(mosquitto: Broker) -> Iterator[HomeAssistant]:
    """A client playing Home Assistant on the module's broker."""
    client = HomeAssistant(mosquitto.port)
    yield client
    client.close()


def _bridge(
    broker: Broker, refuse: tuple[str, ...] = (), **options: Any
) -> tuple[RecordingDispatcher, BridgeThread]:
    """A bridge on `broker`, waited for until it is connected."""
    dispatcher = RecordingDispatcher()
    dispatcher.refuse.update(refuse)
    config = MqttConfig(enabled=True, port=broker.port, **options)
    bridge = MqttBridge(config, dispatcher, "http://massager.local:8765/")
    runner = BridgeThread(bridge)
    wait_until(bridge.connected.is_set, 10, "the bridge to connect")
    return dispatcher, runner


@pytest.fixture
def bridge(mosquitto: Broker) -> Iterator[tuple[RecordingDispatcher, BridgeThread]]:
    """A bridge that allows remote start, closed after the test."""
    pair = _bridge(mosquitto, allow_remote_start=True)
    yield pair
    pair[1].close()


def test_announces_device_online_and_state(bridge: Any, ha: HomeAssistant) -> None:
    start = time.monotonic() - 30
    config = ha.wait(TOPICS.config, after=start)
    assert config.retain or ha.last(TOPICS.config) is not None
    golden = json.loads((_data() / "discovery.json").read_text())
    assert config.json() == golden
    assert ha.wait(TOPICS.availability, lambda m: m.text == "online", after=start)
    state = ha.wait(TOPICS.state, after=start).json()
    assert state["state"] == "idle" and state["intensity"] == 80 and state["profile"] == "classic"


def test_offline_on_close_and_retained_for_late_subscribers(mosquitto: Broker) -> None:
    _dispatcher, runner = _bridge(mosquitto)
    runner.close()
    late = HomeAssistant(mosquitto.port, client_id="late-subscriber")
    try:
        seen = late.wait(TOPICS.availability, timeout=5)
        assert seen.text == "offline" and seen.retain
        assert late.wait(TOPICS.config).retain
    finally:
        late.close()


@pytest.mark.parametrize(
    ("topic", "payload", "logged"),
    [
        (TOPICS.intensity_set, b"strong", "is not a number"),
        (TOPICS.intensity_set, b"150", "within 0..100"),
        (TOPICS.intensity_set, b"nan", "within 0..100"),
        (TOPICS.intensity_set, b"-1", "within 0..100"),
        (TOPICS.profile_set, b"no-such-profile", "unknown profile"),
        (TOPICS.command, b"explode", "unknown command"),
        (TOPICS.command, b"\xff\xfe\x00\x81", "not UTF-8"),
        (TOPICS.command, b"st\x00op", "control characters"),
        (TOPICS.command, b"x" * (1 << 20), "too large"),
    ],
)
def test_bad_payloads_are_refused_with_a_log_line(
    bridge: Any,
    ha: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    logged: str,
) -> None:
    dispatcher, _runner = bridge
    caplog.set_level(logging.INFO, logger="massager.mqtt")
    ha.publish(topic, payload)
    ha.publish(TOPICS.command, b"stop")  # a marker: once it is acted on, the bad one was read
    wait_until(lambda: ("session.stop", {}) in dispatcher.actions(), 5, "the stop marker")
    assert dispatcher.actions() == [("session.stop", {})]
    refusals = [r for r in caplog.records if "refused command" in r.getMessage()]
    assert len(refusals) == 1 and logged in refusals[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)


def test_commands_become_api_calls(bridge: Any, ha: HomeAssistant) -> None:
    dispatcher, _runner = bridge
    ha.publish(TOPICS.profile_set, "quick")
    ha.publish(TOPICS.intensity_set, "55")
    ha.publish(TOPICS.command, "start")
    wait_until(lambda: dispatcher.actions(), 5, "the start")
    dispatcher.set_status({"state": "running", "intensity": 0.55, "profile": "quick"})
    ha.publish(TOPICS.intensity_set, "40.5")
    for button in ("pause", "resume", "acknowledge", "stop"):
        ha.publish(TOPICS.command, button)
    wait_until(lambda: len(dispatcher.actions()) == 6, 5, "six calls")
    assert dispatcher.actions() == [
        ("session.start", {"profile": "quick", "intensity": 0.55}),
        ("session.set_intensity", {"value": 0.405}),
        ("session.pause", {}),
        ("session.resume", {}),
        ("fault.acknowledge", {}),
        ("session.stop", {}),
    ]


def test_start_is_refused_unless_allowed(mosquitto: Broker, ha: HomeAssistant, caplog: Any) -> None:
    dispatcher, runner = _bridge(mosquitto)
    try:
        caplog.set_level(logging.INFO, logger="massager.mqtt")
        ha.publish(TOPICS.command, "start")
        ha.publish(TOPICS.command, "stop")
        wait_until(lambda: dispatcher.actions(), 5, "the stop")
        assert dispatcher.actions() == [("session.stop", {})]
        assert any("remote start is off" in r.getMessage() for r in caplog.records)
    finally:
        runner.close()


def test_retained_command_is_ignored_and_cleared(mosquitto: Broker, ha: HomeAssistant) -> None:
    ha.publish(TOPICS.command, "start", retain=True)
    dispatcher, runner = _bridge(mosquitto, allow_remote_start=True)
    try:
        ha.publish(TOPICS.command, "pause", retain=True)  # live, but retained: ignored as well
        ha.publish(TOPICS.command, "stop")
        wait_until(lambda: dispatcher.actions(), 5, "the stop")
        assert dispatcher.actions() == [("session.stop", {})]
        late = HomeAssistant(mosquitto.port, client_id="late-subscriber-2")
        try:
            late.sync()  # every retained message is in
            assert late.on(TOPICS.availability)
            assert not [m for m in late.on(TOPICS.command) if m.payload]  # cleared
        finally:
            late.close()
    finally:
        runner.close()


def test_repeated_commands_are_dropped_but_stop_never(bridge: Any, ha: HomeAssistant) -> None:
    dispatcher, runner = bridge
    # repeats are dropped within a window of real time: an hour here, so that a loaded
    # machine spacing the publishes out cannot make a repeat count (the window itself is
    # pinned on its own clock in test_mqtt_discovery)
    runner.bridge.dedup.window_s = 3600.0
    for _ in range(3):
        ha.publish(TOPICS.command, "pause")
    ha.publish(TOPICS.command, "stop")
    ha.publish(TOPICS.command, "stop")
    ha.publish(TOPICS.command, "resume")  # the bridge acts in order: last in, last out
    wait_until(lambda: ("session.resume", {}) in dispatcher.actions(), 10, "the resume")
    assert dispatcher.actions() == [
        ("session.pause", {}),
        ("session.stop", {}),
        ("session.stop", {}),
        ("session.resume", {}),
    ]


def test_refused_call_is_a_log_line(bridge: Any, ha: HomeAssistant, caplog: Any) -> None:
    dispatcher, _runner = bridge
    caplog.set_level(logging.INFO, logger="massager.mqtt")
    dispatcher.refuse.add("session.pause")
    ha.publish(TOPICS.command, "pause")
    ha.publish(TOPICS.command, "stop")
    wait_until(lambda: ("session.stop", {}) in dispatcher.actions(), 5, "the stop")
    assert any("pause refused: session.pause: no session" in r.getMessage() for r in caplog.records)
    assert runner_alive(bridge)


def runner_alive(bridge: Any) -> bool:
    """The bridge thread still runs (a refusal did not end it)."""
    return bool(bridge[1]._thread.is_alive())


def test_announces_again_when_home_assistant_comes_online(bridge: Any, ha: HomeAssistant) -> None:
    ha.wait(TOPICS.config)
    mark = time.monotonic()
    ha.publish(TOPICS.ha_status, "online")
    assert ha.wait(TOPICS.config, after=mark).json()["device"]["name"] == "Foot massager"
    assert ha.wait(TOPICS.state, after=mark)


def test_reconnects_after_a_broker_restart(bridge: Any, mosquitto: Broker) -> None:
    dispatcher, _runner = bridge
    mosquitto.restart(down_s=1.0)
    ha = HomeAssistant(mosquitto.port, client_id="after-restart")
    try:
        config = ha.wait(TOPICS.config, timeout=5)  # the restarted broker kept nothing
        assert config.retain
        assert ha.wait(TOPICS.availability, lambda m: m.text == "online", timeout=5)
        assert ha.wait(TOPICS.state, timeout=5).json()["state"] == "idle"
        # the service side never noticed: still registered, nothing called, nothing asked again
        assert len(dispatcher.clients) == 1 and dispatcher.actions() == []
        assert [c for c in dispatcher.calls if c[0] == "status.subscribe"] == [
            ("status.subscribe", {})
        ]
    finally:
        ha.close()


def _data() -> Any:
    """tests/data/mqtt."""
    from pathlib import Path

    return Path(__file__).parent / "data" / "mqtt"


def test_a_failing_question_costs_the_sensors_not_the_bridge(
    mosquitto: Broker, ha: HomeAssistant
) -> None:
    mark = time.monotonic()
    _dispatcher, runner = _bridge(mosquitto, refuse=("profile.describe",))
    try:
        components = ha.wait(TOPICS.config, after=mark).json()["components"]
        assert "profile" in components and not [k for k in components if k.startswith("temp_")]
    finally:
        runner.close()


class SleepRecorder:
    """Stands in for the `asyncio` module inside the bridge: its sleeps are recorded and
    return at once (virtual time), everything else is asyncio's own."""

    def __init__(self, tries: int) -> None:
        self.sleeps: list[float] = []
        self.tries = tries

    def __getattr__(self, name: str) -> Any:
        import asyncio

        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        """Record the wait; after `tries` of them, end the bridge as the service would."""
        import asyncio

        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.tries:
            raise asyncio.CancelledError
        await asyncio.sleep(0)


def test_without_a_broker_the_bridge_tries_again_after_half_a_second_doubling_to_30(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/home-assistant.md: tries again after 0.5 s, then 1, 2, 4 ... up to every 30 s,
    each within 10 % (so that many services do not retry in step)."""
    import asyncio

    from mqtt_support import free_port

    from massager.service import mqtt

    recorder = SleepRecorder(tries=9)
    monkeypatch.setattr(mqtt, "asyncio", recorder)
    config = MqttConfig(enabled=True, port=free_port())  # nothing listens there
    bridge = MqttBridge(config, RecordingDispatcher(), "http://massager.local:8765/")
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(bridge.run())
    expected = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert len(recorder.sleeps) == len(expected)
    for slept, nominal in zip(recorder.sleeps, expected, strict=True):
        assert 0.9 * nominal <= slept <= 1.1 * nominal, (recorder.sleeps, expected)
    assert not bridge.connected.is_set()
