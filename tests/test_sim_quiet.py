"""On a virtual clock the simulator makes a session's quiet polls itself (`poll_quiet`): the
polls of a stretch where the session has nothing to send, announce or end, and no event to
report at each poll. A session played so ends exactly as one that polls the device itself
every time (a `Progress` subscriber makes it): the same trace, byte for byte, the same
events, the same ending, and the same device state at every wait of the clock, for every
bundled profile on every bundled rig and for any stream, control schedule, device fault and
trace failure."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sim_support import RIG, commands, controls, device_state, outside_the_envelope, stream

from massager import api, bundled, trace
from massager.cli.running import Peaks
from massager.clock import VirtualClock
from massager.drivers.base import DeviceStatus, DriverOptions
from massager.drivers.sim import SimDriver
from massager.errors import MassagerError, TraceError
from massager.rig import Rig
from massager.runtime import events
from massager.runtime.session import Session
from massager.stream import CommandStream

Schedule = list[tuple[int, str, float]]
SEEN = tuple(
    kind
    for kind in vars(events).values()
    if isinstance(kind, type)
    and issubclass(kind, events.Event)
    and kind not in (events.Event, events.Progress)
)
"""Every event but `Progress` (whose subscriber makes every poll the session's own)."""


class ScriptedClock(VirtualClock):
    """A virtual clock that acts `schedule` as it passes each moment (a control, a device
    fault, or the host going silent past the watchdog) and notes the device's state at
    every wait: after every poll, whoever made it."""

    def __init__(self, driver: SimDriver, session: Session, schedule: Schedule) -> None:
        super().__init__()
        self.driver = driver
        self.session = session
        self.pending = sorted(schedule)
        self.states: list[object] = []

    def sleep_until(self, t_ms: float) -> None:
        """Note the device's state, act what falls due by `t_ms`, then jump there."""
        driver = self.driver
        if driver.executor is not None:
            self.states.append(device_state(driver))
        while self.pending and self.pending[0][0] <= t_ms:
            _, action, x = self.pending.pop(0)
            if action == "silent":  # the host hears nothing past the device's watchdog
                t_ms += driver.watchdog_ms + 5
            elif action in ("hal", "sensor", "estop"):
                driver.inject(action)
            elif action == "intensity":
                self.session.set_intensity(x)
            else:
                getattr(self.session, action)()
        super().sleep_until(t_ms)


def play(
    the_stream: CommandStream, the_rig: Rig, *, reported: bool, schedule: Schedule, **options: Any
) -> tuple[object, bytes, list[str], list[object], int]:
    """Play `the_stream` on a scripted virtual clock, every poll reported (a `Progress`
    subscriber: the peak levels `run -v` prints) or not; the ending, the trace's bytes, every
    event but `Progress`, the device state at every wait and after with the peaks
    `simulate` prints (the same as `run -v`'s), and how many polls the session made
    itself."""
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        driver = SimDriver(the_rig, DriverOptions(virtual=True, trace=path, **options))
        session = Session(
            the_stream, driver, max_pause_ms=3000, cap_ms=the_stream.duration_ms + 60_000
        )
        clock = ScriptedClock(driver, session, schedule)
        driver._clock = clock  # the scripted clock stands in for the driver's own
        seen: list[events.Event] = []
        session.bus.subscribe(seen.append, *SEEN)
        driver.track_peaks()
        peaks = Peaks(session) if reported else None  # `run -v`'s, from every Progress
        polls = 0
        real_poll = driver.poll_quiet

        def poll_quiet(*args: Any) -> DeviceStatus:
            nonlocal polls
            polls += 1
            return real_poll(*args)

        driver.poll_quiet = poll_quiet  # type: ignore[method-assign]
        ending: object
        try:
            ending = session.run()
        except MassagerError as exc:
            ending = (type(exc).__name__, str(exc).replace(tmp, "TMP"))
        bytes_ = path.read_bytes() if path.exists() else b""
        said = [repr(e).replace(tmp, "TMP") for e in seen]
        if peaks is not None and getattr(ending, "reason", "") == "done":
            # `simulate` prints peaks only then (no key stops it; any other end is an error);
            # a stop ends the play loop before its poll's Progress, which the device sees
            assert {a: abs(v) for a, v in peaks.levels.items()} == driver.peaks()
        states = [*clock.states, device_state(driver), driver.peaks()]
        return ending, bytes_, said, states, polls


def assert_same(the_stream: CommandStream, the_rig: Rig, **kwargs: Any) -> tuple[object, bytes]:
    """Both ways play `the_stream` alike, and the quiet one left polls to the device; how it
    ended, and the trace."""
    reference = play(the_stream, the_rig, reported=True, **kwargs)
    quiet = play(the_stream, the_rig, reported=False, **kwargs)
    assert quiet[0] == reference[0]
    assert quiet[1] == reference[1]
    assert quiet[2] == reference[2]
    assert quiet[3] == reference[3]
    assert reference[4] == 0  # every poll was the session's own
    return reference[0], reference[1]


FULL = ("classic", "reference")
"""The benchmark's session plays in full; every other bundled profile x rig plays its first
60 seconds and a stop."""


@pytest.mark.parametrize("rig_name", bundled.names("rigs"))
@pytest.mark.parametrize("profile", bundled.names("profiles"))
def test_every_bundled_profile_plays_the_same_with_quiet_polls(profile: str, rig_name: str) -> None:
    the_rig = api.load_rig(rig_name)
    the_stream = api.compile_stream(api.load_profile(profile), the_rig)
    schedule: Schedule = [] if (profile, rig_name) == FULL else [(60_000, "stop", 0.0)]
    _, bytes_ = assert_same(the_stream, the_rig, schedule=schedule)
    assert bytes_.count(b"\n") > 100  # the outputs really moved


def test_the_device_makes_most_of_classics_polls() -> None:
    the_rig = api.load_rig("reference")
    the_stream = api.compile_stream(api.load_profile("classic"), the_rig)
    *_, states, polls = play(the_stream, the_rig, reported=False, schedule=[])
    assert len(states) > 7800  # a poll every 100 ms of 13 minutes, each followed by a wait
    assert polls < 400  # the session's own: sending ahead, a step, the end


actions = st.lists(
    st.tuples(
        st.integers(0, 8000),
        st.sampled_from(["silent", "hal", "sensor", "estop", "interrupt"]),
        st.just(0.0),
    ),
    max_size=1,
)
"""At most one thing going wrong at any moment: a silent host, a failing HAL or sensor, an
e-stop, an interrupt."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    program=st.lists(commands(RIG).filter(lambda c: not outside_the_envelope(c)), max_size=20),
    schedule=controls,
    mishaps=actions,
    watchdog_ms=st.sampled_from([None, 40]),
)
def test_any_stream_controls_and_faults_play_the_same_with_quiet_polls(
    program: list[Any], schedule: Schedule, mishaps: Schedule, watchdog_ms: int | None
) -> None:
    ending, _ = assert_same(
        stream(program, 7000), RIG, schedule=schedule + mishaps, watchdog_ms=watchdog_ms
    )
    event(str(ending[0]) if isinstance(ending, tuple) else getattr(ending, "reason", ""))


class _Full(io.StringIO):
    """A trace file with room for `room` characters, then full."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room
        self.name = "full.csv"

    def write(self, text: str) -> int:
        if self.tell() + len(text) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)

    def close(self) -> None:
        """Keep what was written (`text`), then close."""
        self.text = self.getvalue()
        super().close()


@pytest.mark.parametrize("room", [5_000, 60_000])
def test_a_trace_that_fills_up_ends_alike_with_quiet_polls(
    monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    files: list[_Full] = []

    def full(*_: Any, **__: Any) -> _Full:
        files.append(_Full(room))
        return files[-1]

    monkeypatch.setattr(trace, "open", full, raising=False)
    the_rig = api.load_rig("reference")
    the_stream = api.compile_stream(api.load_profile("quick"), the_rig)
    reference = play(the_stream, the_rig, reported=True, schedule=[])
    quiet = play(the_stream, the_rig, reported=False, schedule=[])
    assert reference[0][0] == TraceError.__name__  # type: ignore[index]
    assert quiet[0] == reference[0] and quiet[2:4] == reference[2:4]
    assert files[0].text == files[1].text and files[0].text
