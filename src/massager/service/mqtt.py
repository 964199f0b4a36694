"""The Home Assistant MQTT bridge: one more client of the service's Dispatcher.

It announces the massager by device discovery, publishes its state on change, and
turns button presses, the profile select and the intensity number into the same API
calls any client makes (same checks, same controller rules; stop always allowed).
The broker going away never touches a session: the bridge only reconnects with
backoff, then announces itself, its discovery and its state again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Protocol

from massager import __version__
from massager.service.discovery import DeviceInfo, Topics, discovery_payload
from massager.service.mqtt_broker import broker_client
from massager.service.mqtt_commands import (
    BUTTON_METHODS,
    Command,
    Deduplicator,
    Refused,
    parse_command,
)
from massager.service.mqtt_config import MqttConfig
from massager.service.mqtt_publish import BridgeClient, StatePublisher
from massager.service.mqtt_state import state_payload

if TYPE_CHECKING:
    import aiomqtt

__all__ = ["MqttBridge", "start_bridge"]

log = logging.getLogger("massager.mqtt")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


class Dispatching(Protocol):
    """What the bridge needs of the service's Dispatcher (see docs/api.md)."""

    async def call(self, client: Any, method: str, params: dict[str, Any] | None) -> Any:
        """Run one API method for `client`."""

    def connect(self, client: Any) -> None:
        """Register a client."""

    def disconnect(self, client: Any) -> None:
        """Unregister a client."""


class MqttBridge:
    """Runs until cancelled: connect, announce, publish state, act on commands, reconnect."""

    def __init__(self, config: MqttConfig, dispatcher: Dispatching, page_url: str) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.page_url = config.configuration_url or page_url
        self.topics = Topics(config.discovery_prefix, config.node_id)
        self.client = BridgeClient()
        self.publisher = StatePublisher(
            self.topics, self.client, config.state_interval_s, self._payload
        )
        self.dedup = Deduplicator()
        self.profiles: tuple[str, ...] = ()
        self.profile = ""
        """The profile Home Assistant's select holds (what `start` plays)."""
        self.intensity = 1.0
        """The intensity Home Assistant's number holds (what `start` uses)."""
        self.connected = asyncio.Event()
        self.device: DeviceInfo | None = None

    async def run(self) -> None:
        """The bridge's life: register with the Dispatcher, then keep a broker connection."""
        import aiomqtt

        self.dispatcher.connect(self.client)
        try:
            backoff = BACKOFF_FIRST_S
            while True:
                try:
                    if self.device is None:
                        await self._learn()
                    async with broker_client(self.config, self.topics) as mq:
                        backoff = BACKOFF_FIRST_S
                        await self._connected(mq)
                except aiomqtt.MqttError as exc:
                    self._lost(f"broker {self.config.host}:{self.config.port}: {exc}", backoff)
                except Exception as exc:  # never a traceback, never the end of the bridge
                    self._lost(f"{type(exc).__name__}: {exc}", backoff)
                await asyncio.sleep(backoff * random.uniform(0.9, 1.1))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            self.connected.clear()
            self.dispatcher.disconnect(self.client)

    def _lost(self, why: str, backoff: float) -> None:
        """Log why the connection ended and when the next try comes."""
        self.connected.clear()
        log.warning("mqtt: %s; retrying in %.1f s", why, backoff)

    async def _learn(self) -> None:
        """Subscribe to status and read what discovery announces (profiles, heaters)."""
        status = await self._call("status.subscribe", {})
        self.client.status = status
        self.profiles = tuple(p["name"] for p in await self._call("profile.list", {}))
        first = "classic" if "classic" in self.profiles else next(iter(self.profiles), "")
        self.profile = str(status.get("profile") or first)
        self.intensity = float(status.get("intensity", 1.0))
        self.publisher.seen_state = str(status.get("state", "idle"))
        self.device = await self._device()

    async def _device(self) -> DeviceInfo:
        """What discovery says about this massager, asked of the API."""
        info = await self._call("server.info", {})
        heaters: tuple[str, ...] = ()
        try:
            described = await self._call("profile.describe", {"profile": self.profile})
            heaters = tuple(a["id"] for a in described["actuators"] if a["kind"] == "heater")
        except Exception as exc:  # no heater sensors is no reason to stay away
            log.warning("mqtt: no heater sensors announced: %s", exc)
        return DeviceInfo(
            node_id=self.config.node_id,
            sw_version=__version__,
            model=f"massager ({info['device']}, rig {info['rig']})",
            configuration_url=self.page_url,
            profiles=self.profiles,
            heaters=heaters,
        )

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """One Dispatcher call as the bridge client."""
        return await self.dispatcher.call(self.client, method, params)

    def _payload(self, status: dict[str, Any]) -> dict[str, Any]:
        """The state JSON for `status`, with what Home Assistant has selected."""
        return state_payload(status, profile=self.profile, intensity=self.intensity)

    async def _connected(self, mq: aiomqtt.Client) -> None:
        """One broker connection: announce, subscribe, then serve until it drops."""
        import paho.mqtt.subscribeoptions as sub

        await self._announce(mq)
        options = sub.SubscribeOptions(qos=1, retainAsPublished=True)
        await mq.subscribe([(t, options) for t in (*self.topics.commands, self.topics.ha_status)])
        self.connected.set()
        log.info(
            "mqtt: connected to %s:%d as %s",
            self.config.host,
            self.config.port,
            self.config.node_id,
        )
        publisher = asyncio.create_task(self.publisher.run(mq))
        try:
            async for message in mq.messages:
                await self._message(mq, message)
        except asyncio.CancelledError:  # the service is stopping: last state, then offline
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await self.publisher.last(mq, await self._call("status.get", {}))
            raise
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher

    async def _announce(self, mq: aiomqtt.Client) -> None:
        """Availability `online`, the discovery config, and the state, all retained."""
        if self.device is None:
            self.device = await self._device()
        config = discovery_payload(self.topics, self.device)
        await mq.publish(self.topics.availability, "online", qos=1, retain=True)
        await mq.publish(self.topics.config, json.dumps(config), qos=1, retain=True)
        self.publisher.again()

    async def _message(self, mq: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Act on one incoming message (a command, or Home Assistant's status)."""
        topic = str(message.topic)
        payload = (
            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        )
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":
                log.info("mqtt: Home Assistant is online; announcing again")
                await self._announce(mq)
            return
        if message.retain:
            if payload:
                log.warning("mqtt: ignored a retained command on %s (cleared it)", topic)
                await mq.publish(topic, b"", qos=1, retain=True)
            return
        try:
            command = parse_command(self.topics, topic, payload, self.profiles)
        except Refused as exc:
            log.warning("mqtt: refused command on %s: %s", topic, exc)
            return
        if command.button != "stop" and self.dedup.repeated(topic, payload, time.monotonic()):
            log.info("mqtt: dropped a repeated command on %s", topic)
            return
        await self._act(command)

    async def _act(self, command: Command) -> None:
        """Make the API call for a checked command; a refusal is a log line."""
        try:
            if command.kind == "profile":
                self.profile = command.profile
            elif command.kind == "intensity":
                if self.client.status.get("state") in ("running", "paused"):
                    await self._call("session.set_intensity", {"value": command.intensity})
                self.intensity = command.intensity
            elif command.button == "start":
                if not self.config.allow_remote_start:
                    log.warning(
                        "mqtt: refused start: remote start is off ([mqtt] allow_remote_start)"
                    )
                    return
                await self._call(
                    "session.start", {"profile": self.profile, "intensity": self.intensity}
                )
            else:
                await self._call(BUTTON_METHODS[command.button], {})
            log.info("mqtt: %s", command.button or f"{command.kind} set")
        except Exception as exc:  # an RpcError (refusal) or a failure: a log line, never a crash
            log.warning("mqtt: %s refused: %s", command.button or command.kind, exc)
        self.client.changed.set()


def start_bridge(config: MqttConfig, dispatcher: Dispatching, page_url: str) -> asyncio.Task[None]:
    """Start the bridge as a task of the running loop (the service's start-up calls this).

    The bridge's log lines (`mqtt: ...`) go to stderr from INFO up, so the service's
    log shows connections and every refused command.
    """
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    bridge = MqttBridge(config, dispatcher, page_url.split("?")[0])  # never the token
    return asyncio.create_task(bridge.run(), name="mqtt bridge")
