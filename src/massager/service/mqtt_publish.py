"""The bridge's outgoing side: the status the service pushes to it, and what it publishes.

`BridgeClient` is the bridge as the Dispatcher sees it and keeps the latest pushed
status; `StatePublisher` turns each change into the retained state JSON (slow fields
throttled, see `mqtt_state`) and a session's end into an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from massager.service.discovery import Topics
from massager.service.mqtt_state import StateThrottle, session_end_event
from massager.service.rpc import Client

if TYPE_CHECKING:
    import aiomqtt

__all__ = ["BridgeClient", "StatePublisher"]

log = logging.getLogger("massager.mqtt")

Payload = Callable[[dict[str, Any]], dict[str, Any]]
"""Builds the state JSON for a status object."""


class BridgeClient(Client):
    """The bridge as the Dispatcher sees it: id `mqtt`, pushed status kept as the latest."""

    def __init__(self) -> None:
        super().__init__("mqtt", "mqtt (Home Assistant)")
        self.status: dict[str, Any] = {}
        self.changed = asyncio.Event()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Keep a pushed status object and wake the state publisher."""
        if method == "status":
            self.status = params
            self.changed.set()


class StatePublisher:
    """Publishes `client`'s status as the state JSON (`payload` builds it) on `topics`."""

    def __init__(
        self, topics: Topics, client: BridgeClient, interval_s: float, payload: Payload
    ) -> None:
        self.topics = topics
        self.client = client
        self.throttle = StateThrottle(interval_s)
        self.payload = payload
        self.seen_state = "idle"
        """The state last seen, to tell when a session has ended."""

    def again(self) -> None:
        """Publish the state again at once, whatever it is (after announcing)."""
        self.throttle.forget()
        self.client.changed.set()

    async def run(self, mq: aiomqtt.Client) -> None:
        """Publish on `mq` on every change (slow fields throttled), and session-end events;
        runs until cancelled."""
        import aiomqtt

        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.throttle.interval_s):
                    await self.client.changed.wait()
            self.client.changed.clear()
            status = self.client.status
            try:
                event = session_end_event(self.seen_state, status)
                self.seen_state = str(status.get("state", "idle"))
                if event is not None:
                    await mq.publish(self.topics.event, json.dumps(event), qos=1)
                payload = self.payload(status)
                now = time.monotonic()
                if self.throttle.due(payload, now):
                    await mq.publish(self.topics.state, json.dumps(payload), qos=1, retain=True)
                    self.throttle.published(payload, now)
            except aiomqtt.MqttError as exc:
                log.debug("mqtt: state not published: %s", exc)

    async def last(self, mq: aiomqtt.Client, status: dict[str, Any]) -> None:
        """The service is stopping: publish `status` as the last state, then `offline`."""
        await mq.publish(self.topics.state, json.dumps(self.payload(status)), qos=1, retain=True)
        await mq.publish(self.topics.availability, "offline", qos=1, retain=True)
