"""Discovery, state and command reading of the MQTT bridge, without a broker.

The golden discovery JSON (tests/data/mqtt/discovery.json) is checked field by field
against Home Assistant's discovery rules as the research notes give them.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from massager.service.discovery import BUTTONS, EVENT_TYPES, DeviceInfo, Topics, discovery_payload
from massager.service.mqtt_commands import MAX_PAYLOAD, Deduplicator, Refused, parse_command
from massager.service.mqtt_config import MqttConfig
from massager.service.mqtt_state import SLOW_FIELDS, StateThrottle, session_end_event, state_payload

GOLDEN = Path(__file__).parent / "data" / "mqtt" / "discovery.json"
TOPICS = Topics("homeassistant", "massager")
INFO = DeviceInfo(
    node_id="massager",
    sw_version="0.1.0",
    model="massager (sim, rig reference)",
    configuration_url="http://massager.local:8765/",
    profiles=("classic", "quick"),
    heaters=("left_sole_heater",),
)
PROFILES = ("classic", "quick")


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    """The pinned discovery payload."""
    data: dict[str, Any] = json.loads(GOLDEN.read_text())
    return data


def test_payload_is_the_golden_one(golden: dict[str, Any]) -> None:
    assert discovery_payload(TOPICS, INFO) == golden


def test_device_config_topic_is_device_based() -> None:
    assert TOPICS.config == "homeassistant/device/massager/config"
    assert Topics("ha/test", "pi2").config == "ha/test/device/pi2/config"
    assert TOPICS.ha_status == "homeassistant/status"


def test_device_and_origin(golden: dict[str, Any]) -> None:
    device = golden["device"]
    assert device["identifiers"] == ["massager_massager"]
    assert device["name"] and device["model"] and device["manufacturer"]
    assert device["sw_version"] == "0.1.0"
    assert re.match(r"^https?://", device["configuration_url"])
    assert golden["origin"]["name"] == "massager" and golden["origin"]["sw_version"] == "0.1.0"


def test_shared_options_are_inherited(golden: dict[str, Any]) -> None:
    assert golden["availability"] == [{"topic": TOPICS.availability}]
    assert golden["state_topic"] == TOPICS.state
    assert golden["qos"] == 1
    for key, component in golden["components"].items():
        assert "availability" not in component, key
        assert component.get("state_topic", TOPICS.state) in (TOPICS.state, TOPICS.event)


def test_every_component_has_a_platform_and_a_unique_id(golden: dict[str, Any]) -> None:
    components = golden["components"]
    ids = [c["unique_id"] for c in components.values()]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("massager_") for i in ids)
    names = [c["name"] for c in components.values()]
    assert len(set(names)) == len(names)
    platforms = {"select", "number", "button", "sensor", "binary_sensor", "event"}
    assert {c["platform"] for c in components.values()} == platforms


def _by_platform(golden: dict[str, Any], platform: str) -> dict[str, dict[str, Any]]:
    """The components of one platform, by key."""
    return {k: c for k, c in golden["components"].items() if c["platform"] == platform}


def test_the_entities_the_issue_asks_for(golden: dict[str, Any]) -> None:
    assert set(_by_platform(golden, "select")) == {"profile"}
    assert set(_by_platform(golden, "number")) == {"intensity"}
    assert set(_by_platform(golden, "button")) == set(BUTTONS)
    assert set(_by_platform(golden, "sensor")) == {
        "state",
        "step",
        "time_left",
        "session_time",
        "temp_left_sole_heater",
    }
    assert set(_by_platform(golden, "binary_sensor")) == {"running", "fault"}
    assert set(_by_platform(golden, "event")) == {"session_end"}


def test_select_number_buttons_and_event(golden: dict[str, Any]) -> None:
    profile = golden["components"]["profile"]
    assert profile["options"] == list(PROFILES) and profile["command_topic"] == TOPICS.profile_set
    number = golden["components"]["intensity"]
    assert (number["min"], number["max"], number["unit_of_measurement"]) == (0, 100, "%")
    assert number["command_topic"] == TOPICS.intensity_set
    for key, button in _by_platform(golden, "button").items():
        assert button["command_topic"] == TOPICS.command and button["payload_press"] == key
    event = golden["components"]["session_end"]
    assert event["state_topic"] == TOPICS.event and event["event_types"] == list(EVENT_TYPES)
    temp = golden["components"]["temp_left_sole_heater"]
    assert temp["device_class"] == "temperature" and temp["unit_of_measurement"] == "°C"
    for key in ("time_left", "session_time"):
        assert golden["components"][key]["device_class"] == "duration"


def test_command_topics_are_the_ones_subscribed(golden: dict[str, Any]) -> None:
    used = {c["command_topic"] for c in golden["components"].values() if "command_topic" in c}
    assert used == set(TOPICS.commands)
    for topic in (*used, TOPICS.state, TOPICS.event, TOPICS.availability, TOPICS.config):
        assert "#" not in topic and "+" not in topic


def test_templates_read_fields_the_state_has(golden: dict[str, Any]) -> None:
    state = state_payload(
        {"state": "idle", "temps": {"left_sole_heater": 30.0}}, profile="classic", intensity=1.0
    )
    for key, component in golden["components"].items():
        template = component.get("value_template")
        if template is None:
            continue
        field = re.match(r"^\{\{ value_json\.(\w+)", template)
        assert field and field.group(1) in state, key
    assert state["temps"]["left_sole_heater"] == 30.0


def test_config_defaults_and_refusals() -> None:
    config = MqttConfig()
    assert (config.enabled, config.host, config.port, config.node_id) == (
        False,
        "127.0.0.1",
        1883,
        "massager",
    )
    assert config.discovery_prefix == "homeassistant" and not config.allow_remote_start
    assert config.state_interval_s == 5.0
    for bad in (
        {"port": 0},
        {"port": 70000},
        {"node_id": "a/b"},
        {"node_id": "x#"},
        {"discovery_prefix": "home/#"},
        {"discovery_prefix": "/x"},
        {"state_interval": "200ms"},
        {"state_interval": "soon"},
        {"configuration_url": "ftp://x"},
        {"hots": "typo"},
    ):
        with pytest.raises(ValidationError):
            MqttConfig.model_validate(bad)


@given(st.binary(max_size=MAX_PAYLOAD + 10), st.sampled_from(TOPICS.commands))
def test_any_payload_is_a_command_or_a_refusal(payload: bytes, topic: str) -> None:
    try:
        command = parse_command(TOPICS, topic, payload, PROFILES)
    except Refused as exc:
        assert str(exc)
        return
    if command.kind == "intensity":
        assert 0.0 <= command.intensity <= 1.0
    elif command.kind == "profile":
        assert command.profile in PROFILES
    else:
        assert command.button in BUTTONS


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0.0), ("55", 0.55), (" 100.0 ", 1.0), ("12.5", 0.125)]
)
def test_intensity_percent(text: str, value: float) -> None:
    assert parse_command(TOPICS, TOPICS.intensity_set, text.encode(), PROFILES).intensity == value


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 0.4)), max_size=30))
def test_dedup_drops_only_a_repeat_within_the_window(gaps: list[tuple[str, float]]) -> None:
    dedup = Deduplicator(window_s=1.0)
    now = 0.0
    last: tuple[str, float] | None = None
    for payload, gap in gaps:
        now += gap
        dropped = dedup.repeated("t", payload.encode(), now)
        assert dropped == (last is not None and last[0] == payload and now - last[1] < 1.0)
        if not dropped:
            last = (payload, now)


def _status(state: str, session_ms: int, temp: float, step: str = "rub") -> dict[str, Any]:
    """A status object with the fields the bridge reads."""
    return {
        "state": state,
        "profile": "classic",
        "session_ms": session_ms,
        "time_left_ms": 600_000 - session_ms,
        "step": {"label": step},
        "intensity": 0.5,
        "temps": {"left_sole_heater": temp},
        "levels": {"left_roller": session_ms % 7 / 7},
    }


def test_levels_are_not_in_the_state() -> None:
    payload = state_payload(_status("running", 1234, 33.3), profile="quick", intensity=1.0)
    assert "levels" not in payload and "zones" not in payload
    assert payload["profile"] == "classic" and payload["intensity"] == 50
    assert payload["running"] == "ON" and payload["time_left_s"] == 599


@given(st.lists(st.floats(0.01, 0.5), min_size=1, max_size=200))
def test_slow_fields_publish_at_most_once_per_interval(gaps: list[float]) -> None:
    throttle = StateThrottle(interval_s=5.0)
    now, ms = 0.0, 0
    published: list[float] = []
    for gap in gaps:
        now += gap
        ms += int(gap * 1000)
        payload = state_payload(_status("running", ms, 30 + ms / 10_000), profile="x", intensity=1)
        if throttle.due(payload, now):
            throttle.published(payload, now)
            published.append(now)
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(published))


def test_fast_fields_publish_at_once() -> None:
    throttle = StateThrottle(interval_s=5.0)
    first = state_payload(_status("running", 0, 30), profile="x", intensity=1)
    throttle.published(first, 0.0)
    later = state_payload(_status("running", 300, 30.2, step="knead"), profile="x", intensity=1)
    assert throttle.due(later, 0.3)
    assert set(later) >= SLOW_FIELDS


@pytest.mark.parametrize(
    ("before", "status", "event_type"),
    [
        (
            "running",
            {"state": "idle", "last_outcome": {"outcome": "done", "message": "ok"}},
            "finished",
        ),
        ("paused", {"state": "idle", "last_outcome": {"outcome": "stopped"}}, "stopped"),
        ("running", {"state": "idle", "last_outcome": {"outcome": "cap"}}, "stopped"),
        ("stopping", {"state": "fault", "last_outcome": {"outcome": "fault"}}, "faulted"),
        ("running", {"state": "paused"}, None),
        ("idle", {"state": "idle", "last_outcome": {"outcome": "done"}}, None),
    ],
)
def test_session_end_events(before: str, status: dict[str, Any], event_type: str | None) -> None:
    event = session_end_event(before, status)
    assert (event and event["event_type"]) == event_type
