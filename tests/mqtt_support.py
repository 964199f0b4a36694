"""A real Mosquitto broker on 127.0.0.1 for the MQTT tests, and a client playing Home Assistant.

`Broker` writes a temporary config, starts Debian's `mosquitto` on a free loopback
port and waits (bounded) until it accepts connections; `restart()` keeps the port.
`HomeAssistant` is a paho-mqtt client that records every message it sees, so a test
waits for a message with a deadline instead of sleeping, and `sync()`s with the broker
before it says that something did not arrive.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.subscribeoptions import SubscribeOptions

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SYNC_TOPIC = "massager-tests/sync"
"""Where `HomeAssistant.sync` publishes to itself (no bridge listens there)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Broker:
    """One mosquitto process on 127.0.0.1 with a throw-away config (no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="massager-mosquitto-"))
        self.log = self.dir / "mosquitto.log"
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"user {getpass.getuser()}\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self.conf = conf
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        """Start mosquitto and wait (at most 10 s) until it accepts a connection."""
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._accepts, 10, f"mosquitto on port {self.port}")
        return self

    def _accepts(self) -> bool:
        """True once the broker's port takes a TCP connection."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited ({self.proc.returncode}): {self.log_text()}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM, then SIGKILL after 5 s); idempotent."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker, stay down `down_s` seconds, start it again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def log_text(self) -> str:
        """What mosquitto logged so far (for failure messages)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        """Stop the broker and remove its temporary folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class Seen:
    """One message a `HomeAssistant` client received."""

    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        """The payload as text."""
        return self.payload.decode("utf-8", "replace")


class HomeAssistant:
    """A paho client subscribed to everything, playing Home Assistant in the tests.

    It waits for the broker to confirm its subscription, so a test never publishes too early.
    """

    def __init__(self, port: int, client_id: str = "test-home-assistant") -> None:
        self.messages: list[Seen] = []
        self.client_id = client_id
        self._syncs = 0
        self._lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "the broker did not confirm the subscription within 5 s"

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        """Subscribe to everything on each (re)connection, retain-as-published.

        With that option `retain` tells what the publisher set, on live messages too.
        """
        client.subscribe("#", options=SubscribeOptions(qos=1, retainAsPublished=True))

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        """Record a message."""
        with self._lock:
            self.messages.append(
                Seen(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic())
            )

    def on(self, topic: str) -> list[Seen]:
        """Every message seen on `topic`, oldest first."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Seen | None:
        """The newest message on `topic`, or None."""
        seen = self.on(topic)
        return seen[-1] if seen else None

    def wait(
        self,
        topic: str,
        check: Callable[[Seen], bool] = lambda _m: True,
        *,
        timeout: float = 5.0,
        after: float = 0.0,
    ) -> Seen:
        """The first message on `topic` received after `after` (monotonic) that passes `check`."""

        def found() -> Seen | None:
            for m in self.on(topic):
                if m.at >= after and check(m):
                    return m
            return None

        seen: Seen = wait_until(found, timeout, f"a matching message on {topic}")
        return seen

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish (QoS 1) and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until everything the broker had for this client has arrived.

        The broker sends a client's messages in order on its one connection (the
        retained ones right after the subscription is confirmed), so once a message
        this client publishes now comes back, everything queued before it is in:
        "nothing (more) arrived" is then a fact, not a guess after a sleep.
        """
        self._syncs += 1
        topic = f"{SYNC_TOPIC}/{self.client_id}/{self._syncs}"
        self.publish(topic, b"sync")
        self.wait(topic, timeout=timeout)

    def close(self) -> None:
        """Disconnect."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


class BridgeThread:
    """An `MqttBridge` running on an asyncio loop in a thread of its own, stopped by `close()`."""

    def __init__(self, bridge: Any) -> None:
        import asyncio

        self.bridge = bridge
        self.loop = asyncio.new_event_loop()
        self._task: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._task is not None, 5, "the bridge task")

    def _run(self) -> None:
        """The thread: run the bridge until cancelled."""
        import asyncio

        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.bridge.run())
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._task)
        self.loop.close()

    def close(self) -> None:
        """Cancel the bridge (it publishes `offline` on the way out) and join the thread."""
        self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the bridge did not stop within 10 s"
