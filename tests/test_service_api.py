"""`massager serve` on the simulator, driven through a real websocket, HTTP and the Unix socket."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import SHORT_PROFILE, Service, all_zero_at_end

from massager import api


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    yield svc
    svc.close()


def test_info_lists_and_describe(service: Service) -> None:
    ws = service.ws()
    info = ws.call("server.info")
    assert info["device"] == "sim" and info["rig"] == "reference"
    assert info["auth_required"] is False and info["deadman_s"] == 30.0
    names = [p["name"] for p in ws.call("profile.list")]
    assert sorted(names) == sorted(api.bundled_profiles())
    rigs = {r["name"]: r for r in ws.call("rig.list")}
    assert rigs["reference"]["current"] is True and rigs["pico-serial"]["current"] is False
    described = ws.call("profile.describe", {"profile": "quick"})
    stream = api.compile_stream(api.load_profile("quick"), api.load_rig())
    assert described["duration_ms"] == stream.duration_ms
    assert [s["technique"] for s in described["steps"]] == [
        s.technique for s in sorted(stream.steps, key=lambda s: s.start_ms)
    ]
    assert described["steps"][0]["index"] == 1
    assert set(described["timeline"]) == set(stream.actuators)
    assert all(len(lane) <= 400 for lane in described["timeline"].values())
    assert ws.call("history.list") == []
    ws.close()
    # SIGTERM: exit 0, and nothing but its own line on stderr (no serializer warnings)
    assert service.terminate() == 0
    assert service.stderr().strip() == "SIGTERM: stopping"


def test_a_session_plays_pauses_changes_and_stops_to_zero(service: Service) -> None:
    ws = service.ws()
    first = ws.call("status.subscribe")
    assert first["state"] == "idle" and first["you"].startswith("ws-")
    started = ws.call("session.start", {"text": SHORT_PROFILE, "intensity": 0.8})
    assert started["state"] == "running" and started["profile"] == "short"
    assert started["controller"]["id"] == started["you"]
    ws.drain(0.6)
    status = ws.call("session.set_intensity", {"value": 0.4})
    assert status["intensity"] == 0.4
    assert ws.call("session.pause")["state"] == "paused"
    ws.drain(0.3)
    assert ws.call("session.resume")["state"] == "running"
    ws.drain(0.3)
    stopped = ws.call("session.stop")
    assert stopped["state"] in ("stopping", "idle")
    final = ws.wait_state("idle")
    assert final["last_outcome"]["outcome"] == "stopped", final["last_outcome"]
    assert all(v == 0 for v in final["levels"].values())
    # pushes: only on change, never faster than 10 a second
    times = [t for t, _ in ws.pushes]
    assert len(times) >= 5
    # any 5 intervals span at least 0.5 s at the sender; allow for jitter on the way
    spans = [times[i + 5] - times[i] for i in range(len(times) - 5)]
    assert min(spans) >= 0.4
    assert {p["state"] for _, p in ws.pushes} >= {"running", "paused"}
    trace = service.trace_levels()
    assert all_zero_at_end(trace) == {}
    assert any(abs(r.level) > 0.05 for r in trace)  # it really moved
    history = ws.call("history.list", {"limit": 5})
    assert history[0]["profile"] == "short" and history[0]["outcome"] == "stopped"
    ws.close()


def test_a_session_that_ends_on_its_own_is_done(service: Service) -> None:
    ws = service.ws()
    quick = SHORT_PROFILE.replace("20s", "2s")
    ws.call("session.start", {"text": quick})
    status = ws.wait_state("idle", timeout=15)
    assert status["last_outcome"]["outcome"] == "done"
    assert all_zero_at_end(service.trace_levels()) == {}
    ws.close()


def test_one_controller_others_watch_and_stop(service: Service) -> None:
    phone, other = service.ws(name="phone"), service.ws(name="tablet")
    phone.call("session.start", {"text": SHORT_PROFILE})
    refused = other.request("session.pause")
    assert refused["error"] == {"code": -32002, "message": "control is held by phone"}
    refused = other.request("control.take")
    assert refused["error"]["code"] == -32002
    seen = other.call("status.get")
    assert seen["controller"]["name"] == "phone" and seen["clients"] == 2
    taken = other.call("control.take", {"force": True})
    assert taken["controller"]["name"] == "tablet"
    assert phone.call("status.get")["controller"]["name"] == "tablet"
    assert phone.request("session.set_intensity", {"value": 0.2})["error"]["code"] == -32002
    # anyone may stop
    phone.call("session.stop")
    assert phone.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
    phone.close()
    other.close()


def test_start_while_running_and_a_latched_state_are_refused(service: Service) -> None:
    ws = service.ws()
    ws.call("session.start", {"text": SHORT_PROFILE})
    again = ws.request("session.start", {"profile": "quick"})
    assert again["error"] == {"code": -32003, "message": "a session is already running"}
    ws.call("session.stop")
    ws.wait_state("idle")
    assert ws.request("session.pause")["error"] == {
        "code": -32003,
        "message": "no session is running",
    }
    assert ws.call("session.stop")["state"] == "idle"  # idempotent
    ws.close()


def test_http_post_and_the_unix_socket_reach_the_same_methods(service: Service) -> None:
    code, reply = service.post(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "status.get"}))
    assert code == 200 and reply["id"] == 7 and reply["result"]["state"] == "idle"
    code, reply = service.post(json.dumps({"jsonrpc": "2.0", "method": "status.get"}))
    assert code == 204 and reply is None  # a notification gets no answer
    run = [sys.executable, "-m", "massager"]
    sock = ["--socket", str(service.socket)]
    done = subprocess.run(
        [*run, "remote", "start", "quick", "--intensity", "0.5", *sock],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("running: quick")
    done = subprocess.run(
        [*run, "remote", "intensity", "7", *sock], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "--intensity 7: give a number from 0 to 1" in done.stderr
    done = subprocess.run(
        [*run, "remote", "stop", *sock], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    ws = service.ws()
    ws.wait_state("idle")
    done = subprocess.run([*run, "history", *sock], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "quick" in done.stdout and "stopped" in done.stdout
    ws.close()


def test_remote_without_a_service_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "massager", "remote", "status", "--socket", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 3
    assert "no `massager serve` answers on" in done.stderr and "Traceback" not in done.stderr


def test_the_page_and_health_are_served(service: Service) -> None:
    import urllib.request

    with urllib.request.urlopen(service.url + "healthz", timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True}
    with urllib.request.urlopen(service.url, timeout=10) as response:
        assert response.status == 200
        assert b"<html" in response.read().lower()
