"""Bad input to the service API gets the exact JSON-RPC error, and changes nothing on the device."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_support import SHORT_PROFILE, InProcess, Service, post

from massager.service.core import CoreOptions, ServiceCore
from massager.service.errors import RpcError
from massager.service.history import History
from massager.service.rpc import RATE_BURST, RATE_PER_S, Client, Dispatcher

CORPUS = json.loads((Path(__file__).parent / "data" / "api" / "bad_requests.json").read_text())
TOO_LARGE = {"code": -32007, "message": "message too large: at most 1 MiB"}
RATE_LIMITED_ERROR = {"code": -32006, "message": "rate limited: at most 100 requests a second"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("svc"))
    yield svc
    svc.close()


def _errors(reply: Any) -> Any:
    if isinstance(reply, list):
        return [r["error"] for r in reply]
    assert reply is not None and "result" not in reply, reply
    return reply["error"]


def _unix(path: Path, lines: list[bytes], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Send newline-delimited requests over the Unix socket; a reply per line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        f = s.makefile("rb")
        replies = []
        for line in lines:
            s.sendall(line + b"\n")
            replies.append(json.loads(f.readline()))
        return replies


def test_every_bad_request_gets_its_error_on_every_transport(service: Service) -> None:
    ws = service.ws()
    for case in CORPUS:
        assert _errors(ws.send_raw(case["send"])) == case["error"], case["name"]
    for case in CORPUS:
        code, reply = service.post(case["send"])
        assert code == 200 and _errors(reply) == case["error"], case["name"]
    replies = _unix(service.socket, [c["send"].encode() for c in CORPUS])
    for case, reply in zip(CORPUS, replies, strict=True):
        assert _errors(reply) == case["error"], case["name"]
    # nothing reached the device: no session, no trace, nobody took control
    status = ws.call("status.get")
    assert status["state"] == "idle" and status["controller"] is None
    assert ws.call("history.list") == []
    assert not service.trace.exists()
    ws.close()


def test_a_profile_error_carries_every_located_problem(service: Service) -> None:
    case = next(c for c in CORPUS if c["name"] == "start a profile with errors")
    problems = case["error"]["data"]["problems"]
    assert (problems[0]["file"], problems[0]["line"], problems[0]["col"]) == ("<upload>", 3, 16)
    assert all(set(p) == {"file", "line", "col", "message"} for p in problems)
    assert len(problems) >= 2  # every problem, not just the first


def test_oversized_nested_and_binary_messages(service: Service) -> None:
    ws = service.ws()
    big = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "session.start", "params": {"text": "x" * 10_000_000}}
    )
    assert _errors(ws.send_raw(big)) == TOO_LARGE
    assert _errors(ws.send_raw("[" * 100_000 + "]" * 100_000))["code"] == -32700
    garbage = _errors(ws.send_raw(b"\xff\xfe\x00garbage"))
    assert garbage["code"] == -32700 and garbage["message"].startswith(
        "parse error: not valid JSON"
    )
    code, reply = service.post(big)
    assert code == 200 and _errors(reply) == TOO_LARGE
    assert _errors(_unix(service.socket, [big.encode()])[0]) == TOO_LARGE
    assert ws.call("status.get")["state"] == "idle"  # still serving the same connection
    ws.close()


def test_a_flood_is_rate_limited_and_stop_still_works(service: Service) -> None:
    ws = service.ws()
    ws.call("session.start", {"profile": "classic"})  # 13 min: still playing after the flood
    request = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "status.get"})
    started = time.monotonic()
    for _ in range(1000):
        ws.conn.send(request)
    replies = []
    while len(replies) < 1000:
        reply = ws._reply(9, timeout=30)  # every request is answered (30 s: a hang guard)
        assert reply is not None
        replies.append(reply)
    took = time.monotonic() - started
    limited = [r for r in replies if "error" in r]
    assert all(r["error"] == RATE_LIMITED_ERROR for r in limited)
    # never more let through than the bucket allows in the time the flood took, on any
    # machine (the exact counts, on a virtual clock: test_the_rate_limit_on_its_clock)
    assert 1000 - len(limited) <= RATE_BURST + RATE_PER_S * took + 1
    try:
        assert ws.call("session.stop")["state"] in ("stopping", "idle")  # never rate limited
        time.sleep(0.2)  # the flood emptied the bucket: status.get is let through again
        assert ws.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
    finally:
        ws.close()


def test_the_rate_limit_on_its_clock() -> None:
    """Exactly `burst` calls at once, then `rate` a second, timed on the dispatcher's clock;
    `session.stop` is never refused; another client has a bucket of its own."""
    now = [0.0]
    core = ServiceCore(CoreOptions(speed=50.0), History(":memory:"))
    dispatcher = Dispatcher(core, clock=lambda: now[0])
    phone, tablet = Client("ws-1", "phone"), Client("ws-2", "tablet")
    dispatcher.connect(phone)
    dispatcher.connect(tablet)

    async def flood(client: Client, n: int) -> int:
        answered = 0
        for _ in range(n):
            try:
                await dispatcher.call(client, "status.get", {})
                answered += 1
            except RpcError as exc:
                assert {"code": exc.code, "message": exc.message} == RATE_LIMITED_ERROR
        return answered

    async def play() -> None:
        assert await flood(phone, 1000) == RATE_BURST  # the burst, then nothing
        assert (await dispatcher.call(phone, "session.stop", {}))["state"] == "idle"
        assert await flood(tablet, 1) == 1  # its own bucket
        now[0] += 0.5
        assert await flood(phone, 1000) == RATE_PER_S * 0.5  # refilled at the rate
        now[0] += 10.0
        assert await flood(phone, 1000) == RATE_BURST  # never more than the burst

    try:
        asyncio.run(play())
    finally:
        core.shutdown()


def test_bad_calls_while_playing_change_nothing(service: Service) -> None:
    ws, other = service.ws(name="phone"), service.ws(name="intruder")
    ws.call("session.start", {"profile": "classic", "intensity": 0.6})
    for bad in ({"value": 7}, {"value": "high"}, {"value": -0.1}, {}):
        assert ws.request("session.set_intensity", bad)["error"]["code"] == -32602
    assert _errors(ws.request("session.start", {"profile": "quick"}))["code"] == -32003
    assert other.request("session.set_intensity", {"value": 1.0})["error"] == {
        "code": -32002,
        "message": "control is held by phone",
    }
    assert other.request("control.take")["error"]["code"] == -32002
    status = ws.call("status.get")
    assert status["state"] == "running" and status["intensity"] == 0.6
    assert status["controller"]["name"] == "phone"
    ws.call("session.stop")
    ws.wait_state("idle")
    ws.close()
    other.close()


def test_clients_that_vanish_leave_the_service_running(service: Service) -> None:
    for _ in range(20):
        ws = service.ws()
        ws.conn.send('{"jsonrpc": "2.0", "id": 1, "method": "status.subscribe"}')
        ws.vanish()
    for _ in range(5):  # half a request, then gone
        with socket.create_connection(
            ("127.0.0.1", int(service.url.split(":")[2].split("/")[0]))
        ) as s:
            s.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(service.socket))
        s.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "status.subscribe"}')
    ws = service.ws()
    deadline = time.monotonic() + 10
    while ws.call("status.get")["clients"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws.call("status.get")["clients"] == 1
    assert service.proc.poll() is None
    ws.close()


def test_without_the_token_only_stop_and_info(tmp_path: Path) -> None:
    svc = InProcess(tmp_path, auth_required=True, token="s3cret")
    try:
        banner = svc.banner()
        assert "page and API: http://127.0.0.1:" in banner and "/?token=s3cret" in banner
        assert "\u2580" in banner or "\u2584" in banner  # the QR code, drawn in half blocks
        stranger = svc.ws()
        assert stranger.request("status.get")["error"] == {
            "code": -32001,
            "message": "unauthorized: this service needs its token "
            "(?token= or Authorization: Bearer)",
        }
        assert stranger.call("server.info")["auth_required"] is True
        wrong = svc.ws(token="guess")
        assert wrong.request("session.start", {"profile": "quick"})["error"]["code"] == -32001
        owner = svc.ws(token="s3cret")
        owner.call("session.start", {"text": SHORT_PROFILE})
        assert stranger.call("session.stop")["state"] in ("stopping", "idle")  # stop: anyone
        assert owner.wait_state("idle")["last_outcome"]["outcome"] == "stopped"
        rpc = svc.url.split("?")[0] + "rpc"
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status.get"})
        assert post(rpc, body)[1]["error"]["code"] == -32001
        assert post(rpc, body, token="s3cret")[1]["result"]["state"] == "idle"
        assert post(rpc + "?token=s3cret", body)[1]["result"]["state"] == "idle"
        # the Unix socket is local: no token
        assert _unix(svc.socket, [body.encode()])[0]["result"]["state"] == "idle"
        for client in (stranger, wrong, owner):
            client.close()
    finally:
        svc.close()
