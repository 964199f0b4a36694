"""The phone page in a real browser (Debian's chromium, headless, 390x844) against a real
`massager serve` on the simulator: every action is a tap or a hold on the page, and the
simulator's trace shows what the outputs did.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import DESKTOP, PHONE, browser
from playwright.sync_api import Page, WebSocketRoute, expect
from service_support import Service, all_zero_at_end

from massager import api
from massager.stream import Timeline
from massager.trace import Trace

SPEED = 5.0  # simulated seconds per wall second: classic's 13 min last 156 s, ample headroom
DEADMAN_S = 2.0
PROFILE = "classic"
WAIT_MS = 30_000  # the longest any single expectation may take (a shared, loaded machine)
expect.set_options(timeout=WAIT_MS)  # for every expect() here, not Playwright's 5 s


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path, "--deadman", f"{DEADMAN_S:g}s", speed=SPEED)
    yield svc
    svc.close()


def status(service: Service) -> dict[str, Any]:
    """The service's status, asked over HTTP (a client apart from the page)."""
    code, reply = service.post('{"jsonrpc": "2.0", "id": 1, "method": "status.get"}')
    assert code == 200 and "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def wait_for(
    what: str, check: Callable[[], dict[str, Any] | None], timeout_s: float = WAIT_MS / 1000
) -> dict[str, Any]:
    """Poll `check` (every 50 ms, at most `timeout_s`) until it returns a status; that status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def when(service: Service, test: Callable[[dict[str, Any]], bool]) -> Callable[[], Any]:
    """A `wait_for` check: the status once `test(status)` holds."""

    def check() -> dict[str, Any] | None:
        s = status(service)
        return s if test(s) else None

    return check


def moving(s: dict[str, Any], above: float = 0.05) -> bool:
    """Whether some output of the status is above `above` (in absolute level)."""
    return max(abs(v) for v in s["levels"].values()) > above


def open_page(page: Page, service: Service) -> list[str]:
    """Open the page and wait until it is connected and shows the profiles; the URLs it asks for."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(service.url)
    expect(page.locator("#conn-text")).to_have_text("connected", timeout=WAIT_MS)
    expect(page.get_by_role("combobox", name="Profile")).not_to_be_empty(timeout=WAIT_MS)
    assert errors == []
    return urls


def hold_to_start(page: Page) -> None:
    """Press and hold the start button: its progress fills, then the session runs."""
    start = page.get_by_role("button", name=re.compile("^Hold to start"))
    expect(start).to_be_enabled(timeout=WAIT_MS)
    box = start.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    progress = page.get_by_role("progressbar", name="Hold to start")
    expect(progress).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"), timeout=WAIT_MS)
    expect(page.locator("body")).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    page.mouse.up()


def expected_levels(intensity: float = 1.0) -> dict[str, Timeline]:
    """What the compiler asks of each actuator in PROFILE at full intensity."""
    stream = api.compile_stream(api.load_profile(PROFILE), api.load_rig(), intensity=intensity)
    return {a: Timeline(commands) for a, commands in stream.by_actuator().items()}


def ratio(trace: Trace, want: dict[str, Timeline], t0: float, t1: float) -> float:
    """Median of traced |level| / commanded |level| over [t0, t1] (where 0.05 or more is asked)."""
    ratios = []
    for t in range(int(t0), int(t1), 20):
        for actuator, timeline in want.items():
            asked = abs(timeline.level_at(t))
            if asked >= 0.05 and actuator in trace.actuators:
                ratios.append(abs(trace.level_at(actuator, t)) / asked)
    assert len(ratios) > 20, f"too few samples in {t0:.0f}..{t1:.0f} ms"
    return statistics.median(ratios)


def zero_stretches(trace: Trace, end_ms: float, min_ms: float) -> list[tuple[float, float]]:
    """Intervals (10 ms resolution) of at least `min_ms` in which every output is at zero."""
    out: list[tuple[float, float]] = []
    begin: float | None = None
    t = 0.0
    while t <= end_ms:
        quiet = all(abs(trace.level_at(a, t)) < 1e-3 for a in trace.actuators)
        if quiet and begin is None:
            begin = t
        if not quiet and begin is not None:
            if t - begin >= min_ms:
                out.append((begin, t))
            begin = None
        t += 10.0
    if begin is not None and end_ms - begin >= min_ms:
        out.append((begin, end_ms))
    return out


def ramp_ms(trace: Trace, quiet_from: float) -> float:
    """How long the output that was highest just before `quiet_from` took from 90 % to 10 %."""
    window = [r for r in trace if quiet_from - 1000 <= r.t_ms <= quiet_from + 50]
    top = max(window, key=lambda r: abs(r.level))
    rows = [r for r in window if r.actuator == top.actuator and r.t_ms >= top.t_ms]
    high = max(r.t_ms for r in rows if abs(r.level) >= 0.9 * abs(top.level))
    lows = [r.t_ms for r in rows if r.t_ms > high and abs(r.level) <= 0.1 * abs(top.level)]
    assert lows, f"{top.actuator} was not seen below 10 % after {high} ms: {rows} in {window}"
    return min(lows) - high


def test_the_page_plays_changes_pauses_resumes_and_stops_a_session(service: Service) -> None:
    with browser(PHONE) as context:
        page = context.new_page()
        urls = open_page(page, service)
        page.get_by_role("combobox", name="Profile").select_option(PROFILE)
        expect(page.locator("#desc")).to_contain_text("13 minutes")
        timeline = page.get_by_role("img", name=re.compile(f"^Timeline of {PROFILE}: 8 steps"))
        expect(timeline).to_be_visible()
        expect(page.get_by_role("button", name="Stop the massage now")).to_be_visible()

        hold_to_start(page)
        expect(page.locator("#now-step")).to_contain_text("1 of 8", timeout=WAIT_MS)
        expect(page.locator("#now-left")).to_have_text(re.compile(r"^1[0-3]:\d\d$"))
        expect(page.locator("#now-next")).to_contain_text("2:")
        running = wait_for("levels", when(service, moving))
        assert running["controller"] is not None and running["intensity"] == 1.0

        wait_for("3 s of session", when(service, lambda s: s["session_ms"] >= 3000))
        before_change = status(service)["session_ms"]
        down = page.get_by_role("button", name="Intensity down 5 percent")
        for _ in range(14):
            down.click()
        expect(page.locator("#intensity-out")).to_have_text("30 %")
        try:
            changed = wait_for("intensity 0.3", when(service, lambda s: s["intensity"] == 0.3))
        except AssertionError as exc:
            shown = (
                page.locator("#intensity-out").text_content(),
                page.locator("#toast").text_content(),
            )
            raise AssertionError(f"{exc}: page {shown}, service {status(service)}") from None
        changed_ms = changed["session_ms"]
        wait_for("3 s at 0.3", when(service, lambda s: s["session_ms"] >= changed_ms + 3000))

        page.get_by_role("button", name="Pause the massage").click()
        expect(page.locator("body")).to_have_attribute("data-state", "paused", timeout=WAIT_MS)
        expect(page.get_by_role("button", name="Resume the massage")).to_be_enabled()
        paused = wait_for("every output at zero", when(service, lambda s: not moving(s, 0.0)))
        assert paused["state"] == "paused"
        page.wait_for_timeout(1000)  # the user stays paused a second: SPEED s of device time
        page.get_by_role("button", name="Resume the massage").click()
        expect(page.locator("body")).to_have_attribute("data-state", "running", timeout=WAIT_MS)
        wait_for("levels again", when(service, lambda s: moving(s, 0.01)))

        page.get_by_role("button", name="Stop the massage now").click()
        expect(page.locator("body")).to_have_attribute("data-state", "idle", timeout=WAIT_MS)
        expect(page.locator("#last")).to_contain_text("stopped")
        page.screenshot(path=str(service.tmp / "phone-after-stop.png"))
        origin = service.url.split("?")[0].rstrip("/")
        assert urls and all(u.startswith(origin) for u in urls), urls  # nothing from elsewhere

    final = wait_for("idle", when(service, lambda s: s["state"] == "idle"))
    assert final["last_outcome"]["outcome"] == "stopped"
    trace = service.trace_levels()
    assert all_zero_at_end(trace) == {}
    want = expected_levels()
    # Full intensity until the change, then 0.3 of what the profile asks (limits as compiled).
    assert 0.85 <= ratio(trace, want, 1000, before_change - 200) <= 1.05
    assert 0.2 <= ratio(trace, want, changed_ms + 1000, changed_ms + 3000) <= 0.4
    # The pause: every output at zero for a while (the second paused is SPEED s of device time
    # when the simulator keeps up; a loaded machine slows it, so ask for far less), then moving
    # again, then zero at the stop.
    stretches = zero_stretches(trace, trace.end_ms, min_ms=200.0)
    middle = [s for s in stretches if changed_ms < s[0] and s[1] < trace.end_ms - 10]
    assert middle, f"no pause in the trace: {stretches}"
    assert any(abs(r.level) > 0.01 for r in trace if r.t_ms > middle[-1][1])  # resumed


class HeldIntensity:
    """Routes the page's websocket through the test: `session.set_intensity` calls are held
    back (not sent to the service) until `release()`, and the service's status pushes that the
    page is shown meanwhile are stamped."""

    def __init__(self) -> None:
        self.held: list[str | bytes] = []
        self.pushed_at: list[float] = []
        self._server: WebSocketRoute | None = None
        self._holding = True

    def route(self, ws: WebSocketRoute) -> None:
        """The handler for `page.route_web_socket`."""
        server = self._server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if self._holding and "session.set_intensity" in str(message):
                self.held.append(message)
            else:
                server.send(message)

        def from_server(message: str | bytes) -> None:
            if json.loads(message).get("method") == "status":
                self.pushed_at.append(time.monotonic())
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    def release(self) -> None:
        """Send the held calls to the service, and every later one at once."""
        self._holding = False
        assert self._server is not None
        for message in self.held:
            self._server.send(message)


def test_a_status_drawn_before_the_service_answers_does_not_undo_an_intensity_change(
    service: Service,
) -> None:
    # The page is told of the old intensity (pushes, at 10 Hz while outputs move) for longer
    # than the second after a tap in which it ignores them, before the service has the change:
    # as when a loaded machine keeps the service from reading it. The page keeps showing and
    # sends the value chosen (a status drawn in between once made it send the old one again).
    routed = HeldIntensity()
    with browser(PHONE) as context:
        page = context.new_page()
        page.route_web_socket(re.compile(r"/ws"), routed.route)
        open_page(page, service)
        page.get_by_role("combobox", name="Profile").select_option(PROFILE)
        hold_to_start(page)
        wait_for("levels", when(service, moving))
        page.get_by_role("button", name="Intensity down 5 percent").click()
        tapped = time.monotonic()
        shown = page.locator("#intensity-out")
        expect(shown).to_have_text("95 %")
        for _ in range(WAIT_MS // 100):  # bounded: until three pushes came after the second
            if len([t for t in routed.pushed_at if t > tapped + 1.2]) >= 3:
                break
            page.wait_for_timeout(100)  # the page and its websocket route run meanwhile
        page.evaluate("new Promise((done) => setTimeout(done, 200))")  # the page drew them
        assert len([t for t in routed.pushed_at if t > tapped + 1.2]) >= 3
        assert [json.loads(m)["params"] for m in routed.held] == [{"value": 0.95}]
        assert status(service)["intensity"] == 1.0  # the service has not had it
        assert shown.text_content() == "95 %"  # not the 100 % of every status since
        routed.release()
        wait_for("intensity 0.95", when(service, lambda s: s["intensity"] == 0.95))
        expect(shown).to_have_text("95 %")
        page.get_by_role("button", name="Stop the massage now").click()
        expect(page.locator("body")).to_have_attribute("data-state", "idle", timeout=WAIT_MS)
    assert all_zero_at_end(service.trace_levels()) == {}


def test_closing_the_page_mid_session_ramps_down_by_the_deadman(service: Service) -> None:
    with browser(PHONE) as context:
        page = context.new_page()
        open_page(page, service)
        page.get_by_role("combobox", name="Profile").select_option(PROFILE)
        hold_to_start(page)
        wait_for("levels", when(service, moving))
        closed_at = time.monotonic()  # the browser closes now: its websocket goes with it
    # The browser is gone: no controller is connected.
    counting = wait_for("the dead-man", when(service, lambda s: s["deadman_in_s"] is not None))
    assert counting["controller"] is None and counting["deadman_in_s"] <= DEADMAN_S
    paused = wait_for(
        "the dead-man pause",
        when(service, lambda s: s["state"] == "paused" and not moving(s, 0.0)),
        timeout_s=DEADMAN_S + WAIT_MS / 1000,
    )
    assert time.monotonic() - closed_at >= DEADMAN_S * 0.9  # not before its time
    assert any("dead-man" in w for w in paused["warnings"]), paused["warnings"]
    paused_at = time.monotonic()
    wait_for("1 s of quiet", lambda: None if time.monotonic() < paused_at + 1.0 else {})
    code, _ = service.post('{"jsonrpc": "2.0", "id": 2, "method": "session.stop"}')
    assert code == 200
    wait_for("idle", when(service, lambda s: s["state"] == "idle"))
    trace = service.trace_levels()
    assert all_zero_at_end(trace) == {}
    # Outputs were at zero well before the stop came (a second of waiting: up to SPEED s)...
    quiet = zero_stretches(trace, trace.end_ms, min_ms=500.0)
    assert quiet and quiet[-1][1] >= trace.end_ms - 10, quiet
    # ...and they got there by a ramp (the rig's slew limit), not a cut.
    assert ramp_ms(trace, quiet[-1][0]) >= 50.0


def test_on_a_desktop_stop_stands_apart_a_short_press_does_not_start_and_it_reconnects(
    service: Service,
) -> None:
    with browser(DESKTOP) as context:
        page = context.new_page()
        open_page(page, service)
        stop = page.get_by_role("button", name="Stop the massage now")
        start = page.get_by_role("button", name=re.compile("^Hold to start"))
        stop_box, start_box = stop.bounding_box(), start.bounding_box()
        assert stop_box and start_box and stop_box["height"] >= 60
        assert stop_box["y"] - (start_box["y"] + start_box["height"]) >= 16  # apart
        # A short press does not start: the progress falls back to zero, and past the hold
        # time (1 s, waited for on purpose: nothing may happen) the service is still idle.
        page.mouse.move(start_box["x"] + 20, start_box["y"] + 20)
        page.mouse.down()
        page.mouse.up()
        progress = page.get_by_role("progressbar", name="Hold to start")
        expect(progress).to_have_attribute("aria-valuenow", "0")
        page.wait_for_timeout(1500)
        assert status(service)["state"] == "idle"
        # The network goes: the stale banner counts, the page gives the dead link up after
        # 10 s and retries; a STOP tap then says it could not reach the massager.
        context.set_offline(True)
        stale = page.locator("#stale")
        expect(stale).to_contain_text(re.compile(r"No status for [4-9] s"), timeout=WAIT_MS)
        expect(page.locator("#conn-text")).to_contain_text("offline", timeout=WAIT_MS)
        stop.click()
        toast = page.locator("#toast")
        expect(toast).to_contain_text("Could not reach the massager", timeout=WAIT_MS)
        # The network comes back: it reconnects by itself and the banner goes.
        context.set_offline(False)
        expect(page.locator("#conn-text")).to_have_text("connected", timeout=WAIT_MS)
        expect(stale).to_be_hidden(timeout=WAIT_MS)
        expect(start).to_be_enabled()


def test_the_token_in_the_link_is_kept_off_the_url_and_sent_on_the_websocket(
    service: Service,
) -> None:
    with browser(PHONE) as context:
        page = context.new_page()
        with page.expect_websocket() as opened:
            page.goto(service.url.split("?")[0] + "?token=s3cret")
        assert "token=s3cret" in opened.value.url
        expect(page.locator("#conn-text")).to_have_text("connected", timeout=WAIT_MS)
        assert "token" not in page.url
        assert page.evaluate("localStorage.getItem('massager.token')") == "s3cret"
        with page.expect_websocket() as again:
            page.reload()  # the kept token is used without the link
        assert "token=s3cret" in again.value.url
