"""Run the service: the core, the HTTP/websocket server, the Unix socket, signals, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from massager.service.core import CoreOptions, ServiceCore
from massager.service.history import History
from massager.service.mqtt_config import MqttConfig

log = logging.getLogger("massager.service")


@dataclass
class ServeSettings:
    """Everything `massager serve` runs with (the config in force, resolved)."""

    device: str
    rig: str | None
    host: str
    port: int
    token: str | None
    auth_required: bool
    deadman_s: float | None
    session_cap_ms: int
    socket: Path
    history: Path
    speed: float = 1.0
    trace: Path | None = None
    mqtt: MqttConfig | None = None
    """The Home Assistant bridge's settings (None or not enabled: no bridge)."""
    device_key: str | None = None
    """The device's claim key (`massager.runtime.owner`); None for the simulator."""


OFF_WAIT_S = 0.9
"""How long a `massager off` request waits for the session's ramp-down to end."""


def _claim(settings: ServeSettings, core: ServiceCore) -> contextlib.AbstractContextManager[object]:
    """Hold the service's device for its whole life; `massager off` stops the session
    (the service goes on, its outputs at zero) and a second holder gets DeviceBusy."""
    if settings.device_key is None:
        return contextlib.nullcontext()
    from massager.runtime.owner import Claim

    def stopped_by_off() -> None:
        core.stop()
        core.wait_idle(OFF_WAIT_S)

    return Claim(settings.device_key, "serve", stopped_by_off)


async def start_mqtt(
    settings: ServeSettings, dispatcher: Any, url: str
) -> asyncio.Task[None] | None:
    """Start the MQTT bridge as a task when `[mqtt]` enables it (`forget`: remove the device
    from Home Assistant instead, and run no bridge)."""
    config = settings.mqtt
    if config is None or not config.enabled:
        return None
    from massager.service.mqtt import start_bridge
    from massager.service.mqtt_broker import forget_device

    if config.forget:
        try:
            await forget_device(config)
        except Exception as exc:  # the broker is down: say so, serve anyway
            log.warning("mqtt: could not remove the device: %s", exc)
        return None
    return start_bridge(config, dispatcher, url)


def load_or_make_token(path: Path) -> str:
    """The token kept at `path`, made (random, mode 0600) on first use."""
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def lan_address() -> str:
    """This machine's address on its LAN (the route a packet would take out), else 127.0.0.1."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
        return str(s.getsockname()[0])
    return "127.0.0.1"


def sd_notify(state: str) -> bool:
    """Tell systemd `state` (e.g. READY=1) over $NOTIFY_SOCKET; whether it was sent."""
    where = os.environ.get("NOTIFY_SOCKET")
    if not where:
        return False
    address = "\0" + where[1:] if where.startswith("@") else where
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(state.encode())
    except OSError:
        return False
    return True


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port`; UsageError when it cannot be had."""
    from massager.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"--listen {host}:{port}: cannot listen there: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def page_url(settings: ServeSettings, port: int) -> str:
    """The URL of the phone page (with the token when one is needed)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = lan_address()
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{port}/"
    if settings.auth_required and settings.token:
        url += f"?token={settings.token}"
    return url


def _banner(settings: ServeSettings, url: str, out: TextIO) -> None:
    out.write(
        f"massager serve: device {settings.device}, rig {settings.rig or 'reference'}\n"
        f"  page and API: {url}\n"
        f"  unix socket: {settings.socket}\n"
    )
    if settings.auth_required:
        out.write("  the network can reach this service: the token is in the URL above\n")
        try:
            import segno

            segno.make(url, error="l").terminal(out=out, compact=True)
        except Exception as exc:  # no QR code is no reason not to serve
            out.write(f"  (no QR code: {exc})\n")
    out.flush()


async def serve(
    settings: ServeSettings,
    out: TextIO | None = None,
    *,
    signals: bool = True,
    started: Callable[[Callable[[], None]], None] | None = None,
    built: Callable[[ServiceCore], None] | None = None,
) -> int:
    """Run the service until SIGTERM/SIGINT; every session is ramped down first. Returns 0.

    `signals=False` leaves signal handlers alone (a service in a thread, for tests);
    `started(stop)` is called once it serves, with a thread-safe `stop()` that ends it;
    `built(core)` with its core as soon as there is one (tests and benches look inside).
    """
    from massager.service.app import (
        Access,
        build_app,
        install_signals,
        make_server,
        serve_unix,
    )
    from massager.service.rpc import Dispatcher

    out = out if out is not None else sys.stdout
    claim = contextlib.ExitStack()
    history = History(settings.history)
    core = ServiceCore(
        CoreOptions(
            device=settings.device,
            rig=settings.rig,
            deadman_s=settings.deadman_s,
            session_cap_ms=settings.session_cap_ms,
            speed=settings.speed,
            trace=settings.trace,
        ),
        history,
    )
    if built is not None:
        built(core)
    claim.enter_context(_claim(settings, core))  # DeviceBusy (exit 3) if another holds it
    listen = f"{settings.host}:{settings.port}"
    dispatcher = Dispatcher(core, listen=listen, auth_required=settings.auth_required)
    app = build_app(dispatcher, Access(settings.token, settings.auth_required))
    server: Any = make_server(app, settings.host, settings.port)
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        log.warning("%s: stopping", name)
        core.stop()  # the ramp-down starts now, before the server winds down
        server.should_exit = True

    sock = bind(settings.host, settings.port)
    if signals:
        install_signals(loop, on_signal)
    unix = await serve_unix(dispatcher, settings.socket)
    pusher = asyncio.create_task(dispatcher.push_loop())
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    bridge: asyncio.Task[None] | None = None
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()
        port = sock.getsockname()[1]
        url = page_url(settings, port)
        _banner(settings, url, out)
        bridge = await start_mqtt(settings, dispatcher, url)
        sd_notify("READY=1")
        if started is not None:

            def stop() -> None:
                loop.call_soon_threadsafe(on_signal, "stop")

            started(stop)
        await serving
    finally:
        sd_notify("STOPPING=1")
        core.stop()
        await asyncio.to_thread(core.shutdown)
        claim.close()
        if bridge is not None:  # after the ramp-down: Home Assistant sees idle, then offline
            bridge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bridge
        unix.close()
        pusher.cancel()
        with contextlib.suppress(OSError):
            settings.socket.unlink()
        history.close()
    return 0
