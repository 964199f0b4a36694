"""The start button through the API: press starts the last profile, pauses, resumes; hold stops."""

from __future__ import annotations

import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from service_support import Service

from massager.service.button import ButtonRemote, run_button


def _wait(pred: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_press_and_hold_drive_the_service(tmp_path: Path) -> None:
    svc = Service(tmp_path, speed=5.0)
    factory = MockFactory()
    said: list[str] = []
    remote = ButtonRemote(svc.socket, "quick", report=said.append)
    button = run_button(remote, 5, hold_s=1.5, pin_factory=factory)
    pin = factory.pin(5)
    ws = svc.ws()
    try:

        def press(seconds: float) -> None:
            pin.drive_low()
            time.sleep(seconds)
            pin.drive_high()

        def state() -> str:
            return str(ws.call("status.get")["state"])

        press(0.1)
        assert _wait(lambda: state() == "running")
        assert ws.call("status.get")["profile"] == "quick"
        press(0.1)
        assert _wait(lambda: state() == "paused")
        press(0.1)
        assert _wait(lambda: state() == "running")
        press(2.5)  # held: stop
        assert _wait(lambda: state() == "idle")
        assert said == [
            "button: started quick",
            "button: paused",
            "button: resumed",
            "button: stopped",
        ]
        # a session started over the Unix socket has no remote dead-man
        press(0.1)
        assert _wait(lambda: state() == "running")
        assert ws.call("status.get")["deadman_in_s"] is None
        remote.hold()
        assert _wait(lambda: state() == "idle")
        assert [r["outcome"] for r in ws.call("history.list")] == ["stopped", "stopped"]
    finally:
        button.close()
        ws.close()
        svc.close()


def test_press_starts_the_last_bundled_profile(tmp_path: Path) -> None:
    svc = Service(tmp_path, speed=5.0)
    try:
        ws = svc.ws()
        ws.call("session.start", {"profile": "toe-care"})
        ws.call("session.stop")
        ws.wait_state("idle")
        ws.close()
        remote = ButtonRemote(svc.socket, "quick", report=lambda _: None)
        assert remote.press() == "started toe-care"
        assert remote.hold() == "stopped"
    finally:
        svc.close()


def test_without_a_service_the_button_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    remote = ButtonRemote(tmp_path / "none.sock", "quick", report=said.append)
    assert remote.press().startswith("refused: no `massager serve` answers on")
    assert remote.hold().startswith("stop failed: no `massager serve` answers on")
