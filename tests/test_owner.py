"""Device ownership (runtime/owner.py): claims, who holds a device, asking the holder to stop."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager.clock import SteppedTime
from massager.errors import DeviceError
from massager.runtime import owner
from massager.runtime.owner import (
    Claim,
    DeviceBusy,
    OwnerInfo,
    device_key,
    holder,
    request_stop,
    runtime_dir,
)

HOLD = textwrap.dedent(
    """
    import sys, threading, time
    from massager.runtime.owner import Claim
    stop = threading.Event()
    with Claim(sys.argv[1], sys.argv[2], stop.set):
        print("held", flush=True)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.01)
        if sys.argv[3] == "linger":
            time.sleep(0.2)  # still holding for a moment after being told to stop
    print("released", "asked" if stop.is_set() else "at its own deadline", flush=True)
    """
)

DEAF = textwrap.dedent(
    """
    import fcntl, json, os, signal, sys, time
    from pathlib import Path
    from massager.runtime.owner import _ensure_runtime_dir, _paths
    lock, sock = _paths(sys.argv[1], _ensure_runtime_dir())
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    info = dict(pid=os.getpid(), command="run", key=sys.argv[1], socket=str(sock), since="now")
    os.write(fd, json.dumps(info).encode())
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("held", flush=True)
    time.sleep(30)
    """
)


def _holder_process(*args: str, source: str = HOLD) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", source, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_device_keys() -> None:
    assert device_key("sim") is None
    assert device_key("gpio") == "gpio"
    assert device_key("serial", "socket://127.0.0.1:7000") == "serial:socket://127.0.0.1:7000"
    with pytest.raises(ValueError):
        device_key("serial")
    assert device_key("mydev") == "mydev"
    assert device_key("mydev", "x") == "mydev:x"


def test_a_port_and_a_link_to_it_are_one_device(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    port.touch()
    link = tmp_path / "pico"
    link.symlink_to(port)
    assert device_key("serial", str(link)) == device_key("serial", str(port))
    assert device_key("serial", str(port)) == f"serial:{port.resolve()}"


def test_runtime_dir_follows_xdg_and_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = runtime_dir()
    assert folder == Path(os.environ["XDG_RUNTIME_DIR"]) / "massager"
    with Claim("gpio", "run", lambda: None):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime_dir() == Path(f"/tmp/massager-{os.getuid()}")


def test_a_claim_names_its_holder_and_cleans_up() -> None:
    assert holder("gpio") is None
    with Claim("gpio", "serve", lambda: None) as claim:
        info = holder("gpio")
        assert info is not None and info == claim.info
        assert (info.pid, info.command, info.key) == (os.getpid(), "serve", "gpio")
        assert Path(info.socket).exists()
        files = sorted(p.suffix for p in runtime_dir().iterdir())
        assert files == [".lock", ".sock"]
    assert holder("gpio") is None
    assert list(runtime_dir().iterdir()) == []
    claim.release()  # idempotent


def test_a_held_device_is_busy_naming_the_holder() -> None:
    with Claim("serial:/dev/ttyACM0", "serve", lambda: None) as first:
        with pytest.raises(DeviceBusy) as info:
            Claim("serial:/dev/ttyACM0", "run", lambda: None).__enter__()
        assert info.value.holder == first.info
        assert info.value.exit_code == 3
        assert str(info.value) == (
            f"the device serial:/dev/ttyACM0 is held by `massager serve` (pid {os.getpid()}); "
            "stop it with `massager off` or use `massager remote`"
        )
        with Claim("gpio", "run", lambda: None):  # another device is free
            pass
    with Claim("serial:/dev/ttyACM0", "run", lambda: None):  # free again once released
        pass


def test_busy_message_for_a_run_does_not_suggest_remote() -> None:
    info = OwnerInfo(4321, "run", "gpio", "/x.sock", "now")
    assert str(DeviceBusy(info)) == (
        "the device gpio is held by `massager run` (pid 4321); stop it with `massager off`"
    )


def test_a_stale_lock_file_of_a_dead_holder_is_no_claim() -> None:
    folder = runtime_dir()
    folder.mkdir(mode=0o700, parents=True)
    lock, sock = owner._paths("gpio", folder)
    lock.write_text(OwnerInfo(999_999, "run", "gpio", str(sock), "then").to_json())
    assert holder("gpio") is None
    assert request_stop("gpio") is None
    with Claim("gpio", "run", lambda: None) as claim:
        assert claim.info is not None and claim.info.pid == os.getpid()


def test_stop_over_the_socket_calls_on_stop_and_waits_for_the_release() -> None:
    stopped, returned = threading.Event(), threading.Event()
    early: list[bool] = []
    claim = Claim("gpio", "run", stopped.set)
    claim.__enter__()

    def release_when_stopped() -> None:
        stopped.wait(30)
        # a request_stop that did not wait for the release would return meanwhile
        early.append(returned.wait(0.5))
        claim.release()

    releaser = threading.Thread(target=release_when_stopped)
    releaser.start()
    try:
        asked = request_stop("gpio", timeout_s=30.0)  # 30 s: only a guard against a hang
        returned.set()
        assert holder("gpio") is None  # released before it returned...
    finally:
        releaser.join(30)
    assert early == [False]  # ...and it had not returned before the release
    assert asked is not None and asked.pid == os.getpid()
    assert stopped.is_set()


def test_request_stop_reaches_another_process() -> None:
    proc = _holder_process("serial:/dev/ttyX", "run", "linger")
    try:
        busy = pytest.raises(DeviceBusy, match=rf"`massager run` \(pid {proc.pid}\)")
        with busy, Claim("serial:/dev/ttyX", "run", lambda: None):
            pass
        started = time.monotonic()
        asked = request_stop("serial:/dev/ttyX", timeout_s=30.0)  # only a guard against a hang
        took = time.monotonic() - started
        assert asked is not None and asked.pid == proc.pid
        assert holder("serial:/dev/ttyX") is None
        # it waited for the release, not just the answer: the holder lingers 0.2 s after it
        assert took >= 0.2
        # released because it was asked, not at its own 30 s deadline
        assert proc.stdout is not None and proc.stdout.readline().strip() == "released asked"
    finally:
        _end(proc)


def test_a_holder_whose_socket_does_not_answer_gets_sigterm() -> None:
    proc = _holder_process("gpio", source=DEAF)
    try:
        info = holder("gpio")
        assert info is not None and info.pid == proc.pid
        asked = request_stop("gpio", timeout_s=2.0)
        assert asked == info
        assert proc.wait(timeout=5) == 0  # its SIGTERM handler ran
        assert holder("gpio") is None
    finally:
        _end(proc)


def test_a_holder_that_ignores_the_request_is_still_held_after_the_timeout() -> None:
    clock = SteppedTime()  # the wait for the release on a virtual clock: exact
    with Claim("gpio", "run", lambda: None):
        asked = request_stop("gpio", timeout_s=0.3, clock=clock)
        # it gave up at its timeout: at the first look at the lock from 0.3 s on
        assert 0.3 <= clock.now() < 0.3 + owner._POLL_S + 1e-9
        assert asked is not None
        assert holder("gpio") == asked  # never SIGTERM to ourselves


def test_request_stop_returns_at_the_release_not_at_its_timeout() -> None:
    clock = SteppedTime()
    claim = Claim("gpio", "run", lambda: None)
    claim.__enter__()
    clock.attach(lambda: clock.now() >= 0.25 and claim.release())  # lets go 0.25 s in
    try:
        asked = request_stop("gpio", timeout_s=30.0, clock=clock)
    finally:
        claim.release()
    assert asked is not None and asked.pid == os.getpid()
    assert holder("gpio") is None
    assert 0.25 <= clock.now() < 0.25 + owner._POLL_S + 1e-9  # the first look after it


def test_a_service_that_stopped_its_session_keeps_the_device() -> None:
    """A `serve` holder's `ok` means its session is stopped: no wait for a release."""
    stops: list[str] = []
    with Claim("gpio", "serve", lambda: stops.append("stop")):
        asked = request_stop("gpio", timeout_s=30.0)
        assert asked is not None and asked.command == "serve"
        assert stops == ["stop"]
        assert holder("gpio") == asked  # still the service's: nothing waited for a release


def test_a_failing_on_stop_answers_an_error() -> None:
    def broken() -> None:
        raise RuntimeError("no")

    with Claim("gpio", "run", broken) as claim:
        assert claim.info is not None
        assert not owner._ask(claim.info, 0.5)


def test_the_control_socket_answers_info_and_refuses_other_lines() -> None:
    import socket

    with Claim("gpio", "run", lambda: None) as claim:
        assert claim.info is not None
        for line, want in ((b"info\n", claim.info.to_json() + "\n"), (b"x\n", "error")):
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(1)
                conn.connect(claim.info.socket)
                conn.sendall(line)
                assert conn.recv(4096).decode().startswith(want)


def test_a_runtime_folder_of_another_user_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 12345)
    with pytest.raises(DeviceError, match="belongs to another user"):
        Claim("gpio", "run", lambda: None).__enter__()


def test_a_runtime_folder_too_long_for_a_socket_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deep = tmp_path / ("x" * 100)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    with pytest.raises(DeviceError, match="too long a path"):
        Claim("gpio", "run", lambda: None).__enter__()


def test_holder_does_not_trust_a_file_without_its_lock() -> None:
    with Claim("gpio", "run", lambda: None) as claim:
        assert claim.info is not None
        lock, _ = owner._paths("gpio")
        fd = os.open(lock, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # really locked
        finally:
            os.close(fd)
        assert json.loads(lock.read_text())["pid"] == os.getpid()


@given(st.lists(st.text(min_size=1, max_size=200), min_size=2, max_size=8, unique=True))
def test_distinct_keys_get_distinct_short_safe_file_names(keys: list[str]) -> None:
    names = [owner._safe_name(k) for k in keys]
    assert len(set(names)) == len(names)
    for name in names:
        assert 0 < len(name) <= 51
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
