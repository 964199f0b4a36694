"""MQTT bridge: stop over MQTT beside stop over the websocket, and broker traffic of a session.

A stop is timed to the moment the simulator's own output record has every
output at zero (bench/stops.py), on a rig that ramps at 100/s (the soft stop
itself takes 6 ms, up to the simulator's next 10 ms tick).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from run import Row
from stops import PROFILE, SimOutputs, rig_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mqtt_support import Broker, HomeAssistant, wait_until
from service_support import InProcess, Ws

from massager.service.mqtt_config import MqttConfig

TWENTY_MINUTES = """\
name: twenty-minutes
description: classic, then quick, then two minutes of rubbing (20 minutes)
steps:
  - include: classic
  - include: quick
  - name: last rubbing
    technique: rub
    zones: [sole]
    duration: 2m
    intensity: 0.4
"""
"""The profile whose broker traffic is counted: a 20-minute session of 30 steps."""


def levels_zero(service: InProcess) -> bool:
    """Every output of the service's simulator at zero right now."""
    run = service.core.run
    if run is None:
        return True
    return all(abs(v) <= 1e-6 for v in run.session.driver.levels().values())


def _stop_once(service: InProcess, ws: Ws, ha: HomeAssistant, via: str) -> tuple[float, float]:
    """Start a session, let it move, stop it `via` MQTT or the websocket.

    Returns (ms to the device's stop command, ms to every output at zero in the
    simulator's own record).
    """
    ws.call("session.start", {"text": PROFILE})
    wait_until(lambda: not levels_zero(service), 10, "the outputs to move")
    time.sleep(0.3)
    run = service.core.run
    assert run is not None
    driver = run.session.driver
    outputs = SimOutputs(driver)
    told: list[float] = []
    original = driver.stop

    def stop() -> None:
        told.append(time.monotonic())
        original()

    driver.stop = stop  # type: ignore[method-assign]
    outputs.arm()
    started = time.monotonic()
    if via == "mqtt":
        ha.client.publish("massager/command", "stop", qos=1)
    else:
        ws.send("session.stop")
    wait_until(lambda: service.core.state == "idle", 10, "idle")
    ws.call("status.get")
    return (told[0] - started) * 1000, (outputs.zero_at() - started) * 1000


def _p(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stop_latency(service: InProcess, ws: Ws, ha: HomeAssistant, quick: bool) -> list[Row]:
    """Stop over MQTT and over the websocket, alternating, to the device and to zero."""
    trials = 6 if quick else 40
    got: dict[str, list[tuple[float, float]]] = {"mqtt": [], "ws": []}
    for i in range(trials):
        for via in ("mqtt", "ws") if i % 2 == 0 else ("ws", "mqtt"):
            got[via].append(_stop_once(service, ws, ha, via))
    rows = []
    for index, what in ((0, "to the device's stop command"), (1, "to every output at zero")):
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            mqtt = _p([t[index] for t in got["mqtt"]], q)
            web = _p([t[index] for t in got["ws"]], q)
            rows.append(
                Row(
                    f"MQTT stop {what}, {name} ({trials} runs)",
                    mqtt,
                    "ms",
                    f"websocket stop, {name}",
                    web,
                    "< 50 ms" if index == 1 and q == 0.99 else "",
                )
            )
    return rows


def traffic(service: InProcess, ws: Ws, ha: HomeAssistant, quick: bool) -> list[Row]:
    """Bridge messages per minute while the 20-minute profile plays in real time."""
    minutes = 0.5 if quick else 3.0
    ws.call("status.subscribe")
    ws.call("session.start", {"text": TWENTY_MINUTES, "intensity": 0.8})
    time.sleep(1.0)  # the start's own burst (state, step) is not the steady rate
    mark = time.monotonic()
    ws.pushes.clear()
    ws.drain(minutes * 60)
    pushes = len(ws.pushes)
    seen = [m for m in ha.messages if m.at >= mark and m.topic.startswith("massager/")]
    ws.call("session.stop")
    size = statistics.mean(len(m.payload) for m in seen) if seen else 0.0
    return [
        Row(
            f"bridge messages per minute, 20-minute profile ({minutes:g} min sampled)",
            len(seen) / minutes,
            "msg/min",
            "websocket status pushes per minute",
            pushes / minutes,
            "tens, not thousands",
        ),
        Row("mean bridge message size", size, "bytes"),
    ]


def run(quick: bool) -> list[Row]:
    """Both measures on one broker: the stops on a rig that ramps fast, the traffic on the
    reference rig (each an in-process service of its own, one after the other)."""
    import logging

    logging.getLogger("massager.mqtt").addHandler(logging.NullHandler())  # no log lines
    broker = Broker().start()
    ha = HomeAssistant(broker.port, client_id="bench-home-assistant")
    rows: list[Row] = []
    try:
        with rig_file() as rig:
            rows += _with_service(broker, ha, str(rig), lambda s, w: stop_latency(s, w, ha, quick))
        rows += _with_service(broker, ha, None, lambda s, w: traffic(s, w, ha, quick))
        return rows
    finally:
        ha.close()
        broker.close()


def _with_service(
    broker: Broker,
    ha: HomeAssistant,
    rig: str | None,
    measure: Callable[[InProcess, Ws], list[Row]],
) -> list[Row]:
    """`measure` on a new in-process service on `rig`, once its bridge is online."""
    mark = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        service = InProcess(
            Path(tmp),
            rig=rig,
            deadman_s=None,
            speed=1.0,
            trace=None,
            session_cap_ms=1_800_000,
            mqtt=MqttConfig(enabled=True, port=broker.port, allow_remote_start=False),
        )
        ws = service.ws(name="bench")
        try:
            ha.wait("massager/availability", lambda m: m.text == "online", timeout=10, after=mark)
            return measure(service, ws)
        finally:
            ws.close()
            service.close()
