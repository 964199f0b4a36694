"""The `[mqtt]` table of the service's config file: the Home Assistant bridge's settings.

Absent, or `enabled = false`: the service starts no bridge. Every field is checked
here, so a typo in the config file is one clear message naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from massager.units import parse_duration_ms

__all__ = ["MqttConfig"]

_TOPIC_WORD = re.compile(r"^[A-Za-z0-9_-]+$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")


class MqttConfig(BaseModel):
    """Broker connection, discovery names and the remote-command policy of the bridge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    """Start the bridge with the service."""
    host: str = Field("127.0.0.1", min_length=1)
    """The broker's host name or address."""
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    """The broker's TCP port (8883 is the usual one with TLS)."""
    username: str = ""
    """Broker user; empty: connect without a user name."""
    password: str = ""
    """Broker password (used only with a user name)."""
    tls: bool = False
    """Connect with TLS, checking the broker's certificate against the system's CAs."""
    tls_ca: str = ""
    """A CA certificate file to check the broker against instead of the system's (with tls)."""
    discovery_prefix: str = "homeassistant"
    """Home Assistant's discovery prefix (its MQTT integration's setting)."""
    node_id: str = "massager"
    """This massager's id: the device id in discovery and the root of its own topics."""
    allow_remote_start: bool = False
    """Accept start from MQTT. Stop, pause and the rest are always accepted."""
    forget: bool = False
    """Remove the device from Home Assistant on start-up (empty retained config), no bridge."""
    state_interval: str = "5s"
    """How often slow fields (time left, session time, temperatures) may be republished."""
    configuration_url: str = ""
    """The phone page's address shown in Home Assistant; empty: built from `serve.listen`."""

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        """A node id is one topic level of letters, digits, `_` and `-`."""
        if not _TOPIC_WORD.match(value):
            raise ValueError(f"must be letters, digits, '_' or '-' only, got {value!r}")
        return value

    @field_validator("discovery_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        """A prefix is one or more topic levels without wildcards."""
        if not _PREFIX.match(value):
            raise ValueError(
                f"must be topic levels of letters, digits, '_' or '-' (no '#', '+'), got {value!r}"
            )
        return value

    @field_validator("state_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        """At least one second: slow fields are never republished faster than 1 Hz."""
        ms = parse_duration_ms(value)
        if ms < 1000:
            raise ValueError(f"must be at least 1s, got {value!r}")
        return value

    @field_validator("configuration_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """Home Assistant accepts only http(s) addresses here."""
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value

    @property
    def state_interval_s(self) -> float:
        """`state_interval` in seconds."""
        return parse_duration_ms(self.state_interval) / 1000

    @property
    def base_topic(self) -> str:
        """The root of the bridge's own topics (state, commands, availability)."""
        return self.node_id
