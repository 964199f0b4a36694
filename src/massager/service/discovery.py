"""Home Assistant MQTT discovery for the bridge: topic names and the device config payload.

One retained message, `<prefix>/device/<node_id>/config`, announces the whole massager
(device-based discovery): the device, the origin, and its components, each with its
`platform` and a `unique_id`. Options every component shares (availability, the state
topic, QoS) sit at the top level and are inherited. An empty retained payload on the
same topic removes the device and all its entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BUTTONS", "EVENT_TYPES", "DeviceInfo", "Topics", "discovery_payload"]

BUTTONS: tuple[str, ...] = ("start", "pause", "resume", "stop", "acknowledge")
"""The button payloads on the command topic, one per Home Assistant button."""

EVENT_TYPES: tuple[str, ...] = ("finished", "stopped", "faulted")
"""What the event entity reports when a session ends."""

_BUTTON_NAMES = {
    "start": ("Start", "mdi:play"),
    "pause": ("Pause", "mdi:pause"),
    "resume": ("Resume", "mdi:play-pause"),
    "stop": ("Stop", "mdi:stop"),
    "acknowledge": ("Acknowledge fault", "mdi:alert-remove"),
}

STATES: tuple[str, ...] = ("idle", "running", "paused", "stopping", "fault")
"""The service's states, the options of the state sensor."""


@dataclass(frozen=True)
class Topics:
    """Every topic of one bridge, derived from the discovery prefix and the node id."""

    prefix: str
    node_id: str

    @property
    def config(self) -> str:
        """The retained device discovery config."""
        return f"{self.prefix}/device/{self.node_id}/config"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces itself (`online` / `offline`)."""
        return f"{self.prefix}/status"

    @property
    def availability(self) -> str:
        """Retained `online` while the bridge is connected; the broker's will says `offline`."""
        return f"{self.node_id}/availability"

    @property
    def state(self) -> str:
        """Retained JSON state (see `massager.service.mqtt_state`)."""
        return f"{self.node_id}/state"

    @property
    def event(self) -> str:
        """Session endings, not retained."""
        return f"{self.node_id}/event"

    @property
    def command(self) -> str:
        """Button presses: `start`, `pause`, `resume`, `stop`, `acknowledge`."""
        return f"{self.node_id}/command"

    @property
    def profile_set(self) -> str:
        """The profile select's commands: a bundled profile's name."""
        return f"{self.node_id}/profile/set"

    @property
    def intensity_set(self) -> str:
        """The intensity number's commands: a percentage 0..100."""
        return f"{self.node_id}/intensity/set"

    @property
    def commands(self) -> tuple[str, ...]:
        """Every topic the bridge subscribes to for commands."""
        return (self.command, self.profile_set, self.intensity_set)


@dataclass(frozen=True)
class DeviceInfo:
    """What discovery says about this massager."""

    node_id: str
    sw_version: str
    model: str
    configuration_url: str
    profiles: tuple[str, ...]
    heaters: tuple[str, ...]
    name: str = "Foot massager"


def _sensor(uid: str, name: str, template: str, **extra: Any) -> dict[str, Any]:
    """A `sensor` component reading one field of the state JSON."""
    base = {"platform": "sensor", "unique_id": uid, "name": name, "value_template": template}
    return base | extra


def discovery_payload(topics: Topics, info: DeviceInfo) -> dict[str, Any]:
    """The device discovery config announcing `info` on `topics` (JSON-able)."""
    uid = info.node_id
    components: dict[str, dict[str, Any]] = {
        "profile": {
            "platform": "select",
            "unique_id": f"{uid}_profile",
            "name": "Profile",
            "icon": "mdi:foot-print",
            "command_topic": topics.profile_set,
            "options": list(info.profiles),
            "value_template": "{{ value_json.profile }}",
        },
        "intensity": {
            "platform": "number",
            "unique_id": f"{uid}_intensity",
            "name": "Intensity",
            "icon": "mdi:gauge",
            "command_topic": topics.intensity_set,
            "min": 0,
            "max": 100,
            "step": 1,
            "mode": "slider",
            "unit_of_measurement": "%",
            "value_template": "{{ value_json.intensity }}",
        },
    }
    for button in BUTTONS:
        name, icon = _BUTTON_NAMES[button]
        components[button] = {
            "platform": "button",
            "unique_id": f"{uid}_{button}",
            "name": name,
            "icon": icon,
            "command_topic": topics.command,
            "payload_press": button,
        }
    components["state"] = _sensor(
        f"{uid}_state",
        "State",
        "{{ value_json.state }}",
        device_class="enum",
        options=list(STATES),
    )
    components["step"] = _sensor(
        f"{uid}_step", "Step", "{{ value_json.step }}", icon="mdi:shoe-print"
    )
    components["time_left"] = _sensor(
        f"{uid}_time_left",
        "Time left",
        "{{ value_json.time_left_s }}",
        device_class="duration",
        unit_of_measurement="s",
    )
    components["session_time"] = _sensor(
        f"{uid}_session_time",
        "Session time",
        "{{ value_json.session_s }}",
        device_class="duration",
        unit_of_measurement="s",
    )
    for heater in info.heaters:
        key = f"temp_{heater}"  # rig ids are [a-z][a-z0-9_]*: safe in keys and templates
        components[key] = _sensor(
            f"{uid}_{key}",
            f"Temperature {heater}",
            f"{{{{ value_json.temps['{heater}'] }}}}",
            device_class="temperature",
            unit_of_measurement="°C",
            state_class="measurement",
        )
    components["running"] = {
        "platform": "binary_sensor",
        "unique_id": f"{uid}_running",
        "name": "Running",
        "device_class": "running",
        "value_template": "{{ value_json.running }}",
    }
    components["fault"] = {
        "platform": "binary_sensor",
        "unique_id": f"{uid}_fault",
        "name": "Fault",
        "device_class": "problem",
        "value_template": "{{ value_json.fault }}",
        "json_attributes_topic": topics.state,
        "json_attributes_template": "{{ {'reason': value_json.fault_reason} | tojson }}",
    }
    components["session_end"] = {
        "platform": "event",
        "unique_id": f"{uid}_session_end",
        "name": "Session end",
        "state_topic": topics.event,
        "event_types": list(EVENT_TYPES),
    }
    return {
        "device": {
            "identifiers": [f"massager_{uid}"],
            "name": info.name,
            "manufacturer": "massager",
            "model": info.model,
            "sw_version": info.sw_version,
            "configuration_url": info.configuration_url,
        },
        "origin": {"name": "massager", "sw_version": info.sw_version},
        "availability": [{"topic": topics.availability}],
        "state_topic": topics.state,
        "qos": 1,
        "components": components,
    }
