"""Helpers for service tests: a real `massager serve` process and real clients of it.

`Service` starts `python -m massager serve` on 127.0.0.1 at a port the kernel
picks (read back from its banner), with its own Unix socket, history and trace
in a temporary folder; `Ws` is a websocket client (the `websockets` package)
that makes JSON-RPC calls and collects status notifications.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from massager.trace import Trace, read_trace

BANNER = re.compile(r"page and API: (http://[^\s]+)")
SHORT_PROFILE = """\
name: short
description: two steps for the service tests
steps:
  - name: rub the sole
    technique: rub
    zones: [sole]
    duration: 20s
    intensity: 0.5
  - name: press the heel
    technique: rub
    zones: [heel]
    duration: 20s
    intensity: 0.6
"""
"""A 40 s profile that the bundled rigs and the serial test rig can all play."""


class Service:
    """A `massager serve` subprocess; `url` is its base URL, `socket` its Unix socket."""

    def __init__(
        self, tmp: Path, *args: str, speed: float | None = 5.0, env: dict[str, str] | None = None
    ) -> None:
        self.tmp = tmp
        self.socket = tmp / "api.sock"
        self.trace = tmp / "trace.csv"
        self.history = tmp / "history.sqlite"
        argv = [
            sys.executable,
            "-m",
            "massager",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--socket",
            str(self.socket),
            "--history",
            str(self.history),
            *args,
        ]
        if speed is not None:  # the simulator
            argv += ["--speed", str(speed), "--trace", str(self.trace)]
            if "--rig" not in args:
                argv += ["--rig", str(tolerant_reference(tmp))]
        full_env = {**os.environ, "MASSAGER_CONFIG": str(tmp / "none.toml"), **(env or {})}
        full_env["XDG_STATE_HOME"] = str(tmp / "state")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        self.out: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self.url = self._wait_banner(timeout=30.0)
        self.ws_url = self.url.replace("http://", "ws://").split("?")[0] + "ws"

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            self._lines.put(line)
        self._lines.put("")

    def _wait_banner(self, timeout: float) -> str:
        threading.Thread(target=self._read_out, daemon=True).start()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if not line:
                break
            match = BANNER.search(line)
            if match:
                return match.group(1)
        self.proc.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise AssertionError(f"massager serve did not start: {''.join(self.out)} {err}")

    def ws(self, **query: str) -> Ws:
        """A websocket client of this service."""
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return Ws(self.ws_url + (f"?{q}" if q else ""))

    def post(self, body: str | bytes, token: str | None = None) -> tuple[int, Any]:
        """One HTTP POST to /rpc: (status code, the decoded JSON reply or None)."""
        return post(self.url.split("?")[0] + "rpc", body, token)

    def trace_levels(self) -> Trace:
        """The simulator's trace of the last session (read after it ended)."""
        return read_trace(self.trace)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the process; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("massager serve did not exit") from None

    def stderr(self) -> str:
        """What the service wrote to stderr (once it exited)."""
        return self.proc.stderr.read() if self.proc.stderr else ""

    def close(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL)."""
        with contextlib.suppress(AssertionError):
            self.terminate()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def tolerant_reference(tmp: Path) -> Path:
    """The reference rig with a 2 s device watchdog (not 250 ms): on a machine loaded by other
    test suites the simulator's session thread can be kept off the CPU for longer than 250 ms,
    which would trip the watchdog these tests are not about."""
    from massager import bundled

    source = bundled.find("rigs", "reference")
    assert source is not None
    text = source.read_text().replace("watchdog_ms: 250", "watchdog_ms: 2000")
    assert "watchdog_ms: 2000" in text
    path = tmp / "reference.yaml"
    path.write_text(text)
    return path


class Ws:
    """A websocket JSON-RPC client: `call` waits for its reply; notifications are kept."""

    def __init__(self, url: str) -> None:
        # max_queue=None: the library keeps reading the socket however many messages wait
        # unread here (by default it stops at 16, and then sees neither the service's closing
        # frame nor the pongs to its keepalive pings: close() would wait its 10 s timeout
        # and the keepalive thread log a "keepalive ping failed" traceback)
        self._opened = connect(url, max_size=None, max_queue=None, open_timeout=10)
        self.conn: ClientConnection = self._opened.__enter__()
        self.pushes: list[tuple[float, dict[str, Any]]] = []
        self._id = 0

    def send_raw(self, text: str | bytes) -> dict[str, Any] | list[Any] | None:
        """Send a frame as it is; the next reply (not a notification), or None after 2 s."""
        self.conn.send(text)
        return self._reply(None, timeout=2.0)

    def _reply(self, rid: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                message = json.loads(self.conn.recv(timeout=left))
            except TimeoutError:
                return None
            if isinstance(message, dict) and message.get("method") == "status":
                self.pushes.append((time.monotonic(), message["params"]))
                continue
            if rid is None or (isinstance(message, dict) and message.get("id") == rid):
                return message

    def send(self, method: str, params: Any = None) -> int:
        """Send one call without waiting for its reply; its id."""
        self._id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._id, "method": method}
        if params is not None:
            message["params"] = params
        self.conn.send(json.dumps(message))
        return self._id

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        """The whole reply to one call."""
        reply = self._reply(self.send(method, params))
        assert reply is not None, f"no reply to {method}"
        return reply  # type: ignore[no-any-return]

    def call(self, method: str, params: Any = None) -> Any:
        """The result of one call (AssertionError on an error reply)."""
        reply = self.request(method, params)
        assert "error" not in reply, reply
        return reply["result"]

    def drain(self, seconds: float) -> None:
        """Collect notifications for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self.conn.recv(timeout=left))
            except TimeoutError:
                return
            if isinstance(message, dict) and message.get("method") == "status":
                self.pushes.append((time.monotonic(), message["params"]))

    def wait_state(self, states: str | tuple[str, ...], timeout: float = 10.0) -> dict[str, Any]:
        """Poll status.get until its state is one of `states`; the status."""
        wanted = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        while True:
            status = self.call("status.get")
            if status["state"] in wanted or time.monotonic() > deadline:
                return status  # type: ignore[no-any-return]
            time.sleep(0.05)

    def close(self) -> None:
        """Close the connection cleanly."""
        self.conn.close()

    def vanish(self) -> None:
        """Drop the connection without a closing handshake (a phone that lost Wi-Fi)."""
        sock = self.conn.socket
        with contextlib.suppress(OSError):
            sock.shutdown(2)
        sock.close()


def post(url: str, body: str | bytes, token: str | None = None) -> tuple[int, Any]:
    """One HTTP POST of `body` to `url`: (status code, the decoded JSON reply or None)."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def all_zero_at_end(trace: Trace) -> dict[str, float]:
    """Each actuator's last traced level that is not zero (empty when all ended at zero)."""
    return {a: v for a, v in trace.final_levels().items() if abs(v) > 1e-6}


class InProcess:
    """`massager serve`'s `serve()` in a thread of this process (no signal handlers), for
    settings the command line cannot make on loopback (a token required)."""

    def __init__(self, tmp: Path, **overrides: Any) -> None:
        import asyncio
        import io

        from massager.service.server import ServeSettings, serve

        defaults: dict[str, Any] = {
            "device": "sim",
            "rig": None,
            "host": "127.0.0.1",
            "port": 0,
            "token": None,
            "auth_required": False,
            "deadman_s": 30.0,
            "session_cap_ms": 20 * 60_000,
            "socket": tmp / "api.sock",
            "history": tmp / "history.sqlite",
            "speed": 20.0,
            "trace": tmp / "trace.csv",
        }
        self.settings = ServeSettings(**{**defaults, **overrides})
        self.socket = self.settings.socket
        self._out = io.StringIO()
        self._stop: Any = None
        self.core: Any = None
        """The service's ServiceCore (to look inside)."""
        ready = threading.Event()

        def started(stop: Any) -> None:
            self._stop = stop
            ready.set()

        def built(core: Any) -> None:
            self.core = core

        def main() -> None:
            asyncio.run(
                serve(self.settings, self._out, signals=False, started=started, built=built)
            )

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        assert ready.wait(30), "the service did not start"
        match = BANNER.search(self._out.getvalue())
        assert match
        self.url = match.group(1)
        self.ws_url = self.url.replace("http://", "ws://").split("?")[0] + "ws"

    def ws(self, **query: str) -> Ws:
        """A websocket client of this service."""
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return Ws(self.ws_url + (f"?{q}" if q else ""))

    def banner(self) -> str:
        """What the service printed when it started."""
        return self._out.getvalue()

    def close(self) -> None:
        """Stop the service and wait for its thread."""
        if self._stop is not None:
            self._stop()
        self._thread.join(15)
