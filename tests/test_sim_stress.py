"""Under load: sped-up simulated sessions never report a fault the device did not have.

Two CPU-bound processes run beside the sessions (as on a busy 2-core machine); each
session plays a bundled profile at a seeded random speed of 1-300 while a second thread,
like a user at the keys, pauses, resumes, changes the intensity and stops it at random
moments. Every session must end as asked (no watchdog stop, no late command: the
simulator slows its clock instead), and every trace must end with every output at zero.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from massager import api
from massager.runtime.events import Fault, Recorder
from massager.runtime.session import Session
from massager.trace import read_trace

SESSIONS = 200
SEED = 11
LONGEST_WALL_S = 0.25
"""The longest a user waits before stopping a session (wall s): short sessions keep 200 of
them within about a minute and a half of CI time."""


@pytest.fixture
def two_busy_cores() -> Iterator[None]:
    """Two processes that spin at 100 % CPU for the length of the test."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)


def _user(session: Session, rng: random.Random, done: threading.Event) -> None:
    """Random controls at random moments (wall time), then a stop."""
    budget = rng.uniform(0.02, LONGEST_WALL_S)
    moments = sorted(rng.uniform(0, budget) for _ in range(rng.randint(0, 4)))
    started = time.monotonic()
    for at in moments:
        if done.wait(max(0.0, started + at - time.monotonic())):
            return
        action = rng.choice(["pause", "resume", "toggle", "intensity"])
        if action == "pause":
            session.pause()
        elif action == "resume":
            session.resume()
        elif action == "toggle":
            session.toggle_pause()
        else:
            session.set_intensity(rng.uniform(0.0, 1.0))
    if not done.wait(max(0.0, started + budget - time.monotonic())):
        session.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("two_busy_cores")
def test_sped_up_sessions_beside_busy_cores_report_no_fault_and_end_at_zero(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    rig = api.load_rig()
    profiles = api.bundled_profiles()
    streams = {p: api.compile_stream(api.load_profile(p), rig) for p in profiles}
    failures: list[str] = []
    lost_ms = 0.0
    for n in range(SESSIONS):
        profile = rng.choice(profiles)
        speed = round(rng.uniform(1.0, 300.0), 1)
        trace = tmp_path / f"trace{n}.csv"
        session = api.open_session(streams[profile], rig, speed=speed, trace=trace)
        rec = Recorder(session.bus)
        done = threading.Event()
        user = threading.Thread(target=_user, args=(session, rng, done), daemon=True)
        user.start()
        try:
            result = session.run()
        except Exception as exc:  # the point of the test: name every one that happens
            failures.append(f"{profile} at --speed {speed}: {type(exc).__name__}: {exc}")
        else:
            if result.reason not in ("done", "stopped"):
                failures.append(f"{profile} at --speed {speed}: ended {result.outcome}")
        finally:
            done.set()
            user.join(timeout=10)
        failures += [f"{profile} at --speed {speed}: {f.message}" for f in rec.of(Fault)]
        lost_ms += getattr(session.driver.clock, "lost_ms", 0.0)
        read = read_trace(trace)
        for actuator in read.actuators:
            rows = read.rows(actuator)
            if rows and rows[-1].level != 0.0:
                failures.append(f"{profile} at --speed {speed}: {actuator} ended at {rows[-1]}")
    print(f"{SESSIONS} sessions; the simulator's clock slowed by {lost_ms / 1000:.2f} s in all")
    assert failures == []
