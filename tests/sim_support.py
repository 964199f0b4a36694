"""Rigs, streams and a slew-limited reference model for the simulator tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from firmware_bridge import executor as ex
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.rig import Rig
from massager.runtime.events import Progress
from massager.runtime.session import Session
from massager.stream import Command, CommandStream, Timeline


def actuator(aid: str, kind: str, channel: int, **limits: Any) -> dict[str, Any]:
    """An actuator entry of a rig file."""
    entry: dict[str, Any] = {
        "id": aid,
        "kind": kind,
        "foot": "left",
        "reaches": ["sole"],
        "bindings": {"serial": {"channel": channel}},
    }
    if kind == "heater":
        entry["max_temp_c"] = "42C"
    entry.update(limits)
    return entry


def rig(*entries: dict[str, Any], **extra: Any) -> Rig:
    """A rig built in code."""
    return Rig.model_validate({"name": "test", "actuators": list(entries), **extra})


RIG = rig(
    actuator("roller", "roller", 0, max_level=0.9, min_level=0.15, max_slew=3.0),
    actuator("vib", "vibration", 1, max_slew=5.0),
    actuator("bladder", "air", 2, max_slew=2.0, max_on_ms=30_000),
    actuator("pad", "heater", 3, max_level=0.8, max_slew=1.0),
)


def stream(commands: list[Command], duration_ms: int, the_rig: Rig = RIG) -> CommandStream:
    """A stream over `the_rig` ending with every actuator off at `duration_ms`."""
    ids = tuple(a.id for a in the_rig.actuators)
    ends = [Command(duration_ms, a, "off") for a in ids]
    return CommandStream(
        profile="test",
        rig=the_rig.name,
        duration_ms=duration_ms,
        actuators=ids,
        commands=sorted(commands + ends, key=lambda c: c.at_ms),
    )


PROGRAM = stream(
    [
        Command(0, "roller", "ramp", level=0.6, duration_ms=1000),
        Command(1500, "roller", "wave", low=-0.6, high=0.6, hz=0.8),
        Command(0, "vib", "wave", low=0.1, high=0.7, hz=1.5, shape="triangle"),
        Command(4000, "vib", "set", level=0.3),
        Command(500, "bladder", "ramp", level=0.7, duration_ms=2000),
        Command(5000, "bladder", "off"),
        Command(0, "pad", "heat", level=0.8, target_c=38.0),
        Command(6500, "roller", "ramp", level=0.0, duration_ms=1500),
    ],
    9000,
)


OPS = ("set", "ramp", "wave", "heat", "off")


@st.composite
def commands(draw: st.DrawFn, the_rig: Rig = RIG, until_ms: int = 6000) -> Command:
    """Any command for `the_rig` at 0..`until_ms`: levels inside the envelope or well outside
    it, any ramp or wave rate.

    The op is drawn first (each one a fifth of the draws), then an actuator that takes it,
    so every op is common, `heat` too (it has one actuator of four).
    """
    limits = {a.id: a for a in the_rig.actuators}
    op = draw(st.sampled_from(OPS))
    takers = sorted(a for a, act in limits.items() if op != "heat" or act.kind == "heater")
    act = limits[draw(st.sampled_from(takers))]
    at = draw(st.integers(0, until_ms))
    level = st.one_of(st.floats(act.low_bound, act.max_level), st.floats(-1.5, 1.5))
    if op == "set":
        return Command(at, act.id, "set", level=draw(level))
    if op == "ramp":
        return Command(
            at, act.id, "ramp", level=draw(level), duration_ms=draw(st.integers(0, 3000))
        )
    if op == "wave":
        return Command(
            at,
            act.id,
            "wave",
            low=draw(level),
            high=draw(level),
            # slow waves the slew limit follows, and waves far past it (the device clamps)
            hz=draw(st.one_of(st.floats(0.05, 1.0), st.floats(0.05, 50.0))),
            shape=draw(st.sampled_from(["sine", "triangle"])),
        )
    if op == "heat":
        return Command(at, act.id, "heat", level=draw(level), target_c=draw(st.floats(30, 45)))
    return Command(at, act.id, "off")


def outside_the_envelope(command: Command, the_rig: Rig = RIG) -> bool:
    """Whether the executor refuses `command` (ERR_LIMIT): a level or heat target past a limit."""
    act = next(a for a in the_rig.actuators if a.id == command.actuator)
    lo, hi = act.low_bound - ex.EPS, act.max_level + ex.EPS
    if command.op == "wave":
        return not (lo <= command.low <= hi and lo <= command.high <= hi)
    if command.op == "heat":
        assert act.max_temp_c is not None
        return not (-ex.EPS <= command.level <= hi) or command.target_c > act.max_temp_c
    if command.op in ("set", "ramp"):
        return not lo <= command.level <= hi
    return False


controls = st.lists(
    st.tuples(
        st.integers(0, 8000),
        st.sampled_from(["pause", "resume", "intensity", "stop"]),
        st.floats(0.0, 1.0),
    ),
    max_size=6,
)
"""(wall ms, control, intensity) schedules: pause, resume, intensity and stop at any moment."""


def follow(session: Session, schedule: list[tuple[int, str, float]]) -> None:
    """Apply `schedule` (as drawn by `controls`) to `session` as its clock passes each moment
    (checked at every poll: a Progress subscriber)."""
    pending = sorted(schedule)

    def control(progress: Progress) -> None:
        while pending and pending[0][0] <= progress.wall_ms:
            _, action, x = pending.pop(0)
            if action == "pause":
                session.pause()
            elif action == "resume":
                session.resume()
            elif action == "intensity":
                session.set_intensity(x)
            else:
                session.stop()

    session.bus.subscribe(control, Progress)


def simulate(
    the_stream: CommandStream,
    the_rig: Rig = RIG,
    trace: Path | None = None,
    max_pause_ms: float = 60_000,
    **options: Any,
) -> tuple[SimDriver, Session]:
    """Play `the_stream` on a virtual-clock simulator (run it with `session.run()`)."""
    driver = SimDriver(the_rig, DriverOptions(virtual=True, trace=trace, **options))
    return driver, Session(the_stream, driver, max_pause_ms=max_pause_ms)


def slew_reference(
    the_stream: CommandStream, the_rig: Rig, tick_ms: float, intensity: float = 1.0
) -> dict[str, list[float]]:
    """The level a slew-limited device applies at each tick, by actuator (heaters excluded).

    An independent model of the executor's envelope for streams within the
    limits: the commanded level, scaled and clamped, followed at most
    `max_slew` per second, sampled on the device's tick grid.
    """
    out: dict[str, list[float]] = {}
    by = the_stream.by_actuator()
    ticks = int(the_stream.duration_ms / tick_ms) + int(3000 / tick_ms)
    for act in the_rig.actuators:
        if act.kind == "heater":
            continue
        timeline = Timeline(by.get(act.id, []))
        step = act.max_slew * tick_ms / 1000.0
        level = 0.0
        levels = [0.0]
        for k in range(1, ticks):
            target = timeline.level_at(k * tick_ms) * intensity
            target = min(act.max_level, max(act.low_bound, target))
            level = min(target, level + step) if target > level else max(target, level - step)
            levels.append(level)
        out[act.id] = levels
    return out


MOTION_STATE = ("levels", "op", "el", "on_us", "steady", "active", "moving", "cut_mask")
"""What the executor's motion keeps between ticks."""


def device_state(driver: SimDriver) -> object:
    """The simulated device's whole state that ticking changes: every output's motion, the
    heaters' loop and every physical model (compared after every poll)."""
    executor = driver.executor
    assert executor is not None
    motion, heat = executor._motion, executor._heat
    state: list[object] = [repr(getattr(motion, name)) for name in MOTION_STATE]
    state.append(repr((heat.temps, heat.duty, heat.integ, executor._now, executor._pause_acc)))
    for model in driver.physics.values():
        state.append(repr(model_state(model)))
    return state


def model_state(model: object) -> dict[str, object]:
    """Every data attribute and property of a physical model, by name (its slots as a Python
    class, its attributes as a class compiled by mypyc, which keeps no `__slots__`)."""
    values = {name: getattr(model, name) for name in dir(model) if not name.startswith("__")}
    return {name: value for name, value in values.items() if not callable(value)}
