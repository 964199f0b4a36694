"""The serial link under faults: noise, cuts, a vanished port.

Over real pseudo-terminals, a proxy between host and virtual Pico corrupts,
drops, doubles and delays bytes (1% of each) and cuts the link. No damaged
frame may be executed: each side's decoder rejects exactly the frames the
proxy damaged. A session completes when the link recovers and ends safe
(exit 3, outputs off) when it does not.

How long cuts last against the watchdog is checked on the virtual clock
(host and virtual Pico in one thread, `stepped_link`), exact to its 1 ms step;
the real-time tests check the device's own record (the due times it was sent,
what it wrote at its clock) rather than gaps in the host's wall time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from serial_support import (
    CH,
    STEP_US,
    driver_for,
    first_time,
    stepped_link,
    steps_stream,
    unwrapped,
    wait_for,
)

from firmware_bridge.codes import FAULT_WATCHDOG
from firmware_bridge.device import MAX_WATCHDOG_MS
from firmware_bridge.ticks import ticks_diff
from firmware_bridge.virtual import VirtualDevice
from massager.cli import run as cli
from massager.errors import DeviceError
from massager.runtime.events import Progress
from massager.runtime.session import Session


@pytest.fixture
def virtual() -> Iterator[VirtualDevice]:
    dev = VirtualDevice(channels=4, record=True).start()
    yield dev
    dev.close()


@pytest.fixture
def proxy(virtual: VirtualDevice) -> Iterator[FaultProxy]:
    p = FaultProxy(virtual.port, rate=0.01, seed=7)
    yield p
    p.close()


def at_session_time(session: Session, t_ms: float, action: object) -> None:
    """Call `action()` once, from the session thread, when session time reaches `t_ms`."""
    done = []

    def check(event: Progress) -> None:
        if not done and event.t_ms >= t_ms:
            done.append(True)
            action()  # type: ignore[operator]

    session.bus.subscribe(check, Progress)


def test_a_noisy_link_never_executes_a_damaged_frame() -> None:
    driver, device, proxy = stepped_link(seed=7, watchdog_ms=1000)
    proxy.faults = True
    session = Session(steps_stream(4000, 2000), driver)

    def quiet() -> None:
        proxy.faults = False  # what is in flight now drains while the outputs ramp down

    at_session_time(session, 3600, quiet)
    result = session.run()
    link = driver.last_link
    assert link is not None
    assert result.reason == "done"
    for kind in ("corrupt", "drop", "dup", "delay"):
        assert proxy.up.counts[kind] >= 5 and proxy.down.counts[kind] >= 5, kind
    assert proxy.up.injected >= 10 and proxy.down.injected >= 10
    assert device.device.decoder.rejected == proxy.up.injected
    assert link.decoder.rejected == proxy.down.injected
    assert device.device.rx_duplicates >= proxy.up.counts["frame_dup"]
    print(
        f"\nhost->device: {dict(proxy.up.counts)}, damaged {proxy.up.injected}, "
        f"rejected {device.device.decoder.rejected}; device->host: {dict(proxy.down.counts)}, "
        f"damaged {proxy.down.injected}, rejected {link.decoder.rejected}; "
        f"retransmits {link.frames.retransmits}"
    )
    # and what ran is the program, on time: each command sent once for its time, to the
    # microsecond of the device's clock, and carried out at its first tick there
    assert driver.recoveries == 0
    vib = [(t, op, a) for t, ch, op, a, *_ in device.device.scheduled or [] if ch == CH["vib"]]
    assert len(vib) == 3  # set 0.3, set 0.8, off: each once, however often it was resent
    (t_on, _, first), (t_change, _, second), (t_off, _, _) = vib
    assert (first, second) == (pytest.approx(0.3), pytest.approx(0.8))
    assert ticks_diff(t_change, t_on) == 2_000_000 and ticks_diff(t_off, t_change) == 2_000_000
    hist = unwrapped(device.hal.history or [])
    vib_on = first_time(hist, CH["vib"], lambda v: v > 0)
    vib_up = first_time(hist, CH["vib"], lambda v: v > 0.3 + 1e-6, after=vib_on)
    assert vib_up - vib_on == 2_000_000
    assert max(lv for _, _, ch, lv in hist if ch == CH["vib"]) <= 0.8 + 1e-6
    assert all(-0.6 - 1e-6 <= lv <= 0.6 + 1e-6 for _, _, ch, lv in hist if ch == CH["roller"])
    assert device.hal.all_zero()


def test_a_cut_shorter_than_the_watchdog_is_bridged() -> None:
    driver, device, proxy = stepped_link(watchdog_ms=500)
    session = Session(steps_stream(2000, 1000), driver)
    at_session_time(session, 500, lambda: proxy.cut(0.2))
    result = session.run()
    assert result.reason == "done"
    assert proxy.up.counts["cut"] > 0  # frames were lost: retransmitted, nothing replayed
    assert driver.recoveries == 0 and device.device.executor.faults == 0
    hist = unwrapped(device.hal.history or [])
    vib_on = first_time(hist, CH["vib"], lambda v: v > 0)
    vib_up = first_time(hist, CH["vib"], lambda v: v > 0.3 + 1e-6, after=vib_on)
    assert vib_up - vib_on == 1_000_000  # on time, to the step, despite the cut
    assert device.hal.all_zero()


def test_a_cut_longer_than_the_watchdog_turns_off_then_the_session_resumes() -> None:
    driver, device, proxy = stepped_link()  # watchdog 250 ms
    session = Session(steps_stream(2000, 1000), driver)
    heard: list[int] = []

    def cut() -> None:
        assert device.device.heard_us is not None
        heard.append(device.device.heard_us)  # nothing reaches the device after this
        proxy.cut(1.0)

    at_session_time(session, 500, cut)
    started = driver.time.now()
    result = session.run()
    took = driver.time.now() - started
    assert result.reason == "done"
    assert driver.recoveries == 1
    assert took >= 2.0 + 1.0 - 0.25  # the outage (from the device's last word) was not played
    hist = unwrapped(device.hal.history or [])
    # the device's watchdog turned everything off at its first tick past 250 ms of silence...
    zero = first_time(hist, CH["vib"], lambda v: v == 0.0, after=heard[0])
    assert zero - heard[0] == 250_000 + STEP_US
    assert all(lv == 0.0 for _, t, _, lv in hist if t == zero)
    # ...and after the cut the program came back, ramping up from zero to its level
    back = [lv for _, t, ch, lv in hist if t > zero and ch == CH["vib"]]
    assert back[0] < 0.3 and max(back) == pytest.approx(0.8)
    assert device.hal.all_zero()
    assert device.device.executor.faults == 0  # cleared by the recovery


def test_a_link_cut_for_good_raises_device_error_after_the_grace_period() -> None:
    driver, device, proxy = stepped_link()
    driver.grace_s = 0.5
    session = Session(steps_stream(3000, 1500), driver)
    heard: list[int] = []

    def cut() -> None:
        assert device.device.heard_us is not None
        heard.append(device.device.heard_us)
        proxy.cut(float("inf"))

    at_session_time(session, 300, cut)
    with pytest.raises(DeviceError, match=r"lost the device on .* for more than 0\.5 s"):
        session.run()
    assert device.hal.all_zero()
    assert device.device.executor.faults == FAULT_WATCHDOG
    hist = unwrapped(device.hal.history or [])
    zero = first_time(hist, CH["vib"], lambda v: v == 0.0, after=heard[0])
    assert zero - heard[0] == 250_000 + STEP_US


@pytest.mark.slow
def test_a_link_that_does_not_come_back_ends_with_exit_3_and_every_output_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The run ends because the link was lost for the grace period (3 s), not at the end
    of the profile: exit 3 with the lost-link error, the cut made while it played."""
    with VirtualDevice(channels=16) as dev:
        proxy = FaultProxy(dev.port)
        proxy.faults = False
        cut = threading.Event()

        def cut_when_running() -> None:
            if wait_for(lambda: any(abs(v) > 0.05 for v in dev.hal.levels), 60):
                proxy.cut(float("inf"))
                cut.set()

        threading.Thread(target=cut_when_running, daemon=True).start()
        try:
            code = cli(["run", "quick", "--device", f"serial:{proxy.port}", "--rig", "pico-serial"])
        finally:
            proxy.close()
        err = capsys.readouterr().err
        assert cut.is_set(), "it never played"
        assert code == 3, err
        lost = f"lost the device on {proxy.port} for more than 3 s; its watchdog turned every"
        assert f"{lost} output off" in err, err
        assert dev.hal.all_zero()
        assert dev.device.executor.faults == FAULT_WATCHDOG


@pytest.mark.slow
def test_a_vanished_port_and_a_restarted_device_within_the_grace_period(
    tmp_path: Path,
) -> None:
    link = tmp_path / "pico"
    first = VirtualDevice(channels=4, record=True).start()
    os.symlink(first.port, link)
    # the longest watchdog: this test is about the port, not a starved host tripping it
    driver = driver_for(str(link), watchdog_ms=MAX_WATCHDOG_MS)
    session = Session(steps_stream(4000, 3000), driver)
    second: list[VirtualDevice] = []

    def plug_in() -> None:
        time.sleep(0.5)
        dev = VirtualDevice(channels=4, record=True).start()
        second.append(dev)
        os.remove(link)
        os.symlink(dev.port, link)

    def unplug() -> None:
        # the terminal disappears at 700 ms of session time, from the session's own thread:
        # the outage begins long before the change at 3000 ms however late a thread would start,
        # so the replayed program still holds it (the session clock holds while lost)
        first.close()
        threading.Thread(target=plug_in, daemon=True).start()

    at_session_time(session, 700, unplug)
    try:
        result = session.run()
    finally:
        for dev in second:
            dev.close()
    assert result.reason == "done"
    assert driver.recoveries == 1
    assert second and second[0].device.rx_out_of_order == 0
    hist = second[0].hal.history or []
    assert max(lv for _, _, ch, lv in hist if ch == CH["vib"]) == pytest.approx(0.8)
    assert second[0].hal.all_zero()
    assert first.hal.all_zero()
