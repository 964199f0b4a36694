"""Who holds a device, and how anyone asks the holder to stop (`massager off`).

A process that drives a real device (`massager run`, `massager serve`, the GPIO
device process) claims it first: a `Claim` takes an exclusive `flock` on
``<runtime dir>/<safe key>.lock``, writes who it is (`OwnerInfo`, JSON) into
that file, and serves a Unix control socket ``<runtime dir>/<safe key>.sock``
on which the line ``stop`` makes it call its `on_stop` and answer ``ok``.
The kernel drops the lock when the holder exits, however it exits, so a
claim never outlives its process; `holder()` trusts the lock, not the file.

`request_stop()` is how `massager off` reaches a held device: it asks the
holder over its socket (or, when the socket does not answer, sends the
holder SIGTERM) and waits until the claim is released.

The runtime directory is ``$XDG_RUNTIME_DIR/massager`` if that variable is
set, else ``/tmp/massager-<uid>``; it is created with mode 0700, so only the
same user (and root) can ask a holder to stop. Simulated devices are private
to their process and never claimed (`device_key` gives None).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import signal
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from massager.clock import REAL_TIME, HostTime
from massager.errors import DeviceError

if TYPE_CHECKING:  # imported where used: `massager off` on a free device stays quick
    import socket

STOP_LINE = b"stop\n"
"""What a client sends on a holder's control socket to make it stop."""
OK_LINE = b"ok\n"
"""The holder's answer once its `on_stop` has been called."""
KEEPERS = frozenset({"serve"})
"""Holders that keep the device after a stop (the service): their `ok` means every output
is at zero, and `massager off` leaves the device to them."""
_IO_TIMEOUT_S = 0.5  # longest a control connection waits for a line
_POLL_S = 0.01  # how often a waiting request_stop looks at the lock
_SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def runtime_dir() -> Path:
    """Where lock files and control sockets live (not created here)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "massager"
    return Path(f"/tmp/massager-{os.getuid()}")


def _ensure_runtime_dir() -> Path:
    """The runtime directory, created 0700; DeviceError if it is someone else's."""
    path = runtime_dir()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as exc:
        raise DeviceError(f"cannot use the runtime folder {path}: {exc.strerror or exc}") from exc
    if info.st_uid != os.getuid():
        raise DeviceError(
            f"the runtime folder {path} belongs to another user (uid {info.st_uid}); "
            "set XDG_RUNTIME_DIR to a folder of your own"
        )
    if info.st_mode & 0o077:
        with contextlib.suppress(OSError):
            path.chmod(0o700)
    return path


def device_key(device: str, port: str | None = None) -> str | None:
    """The name a device is claimed under, or None for a device that is never claimed.

    ``gpio`` for the Pi's pins; ``serial:<real path of the port>`` for a port
    path (so a symlink and its target are one device) or ``serial:<URL>`` for
    a pyserial URL; None for the simulator. Another (plug-in) driver is
    claimed as ``NAME`` or ``NAME:TARGET``.
    """
    if device == "sim":
        return None
    if device == "gpio":
        return "gpio"
    if device == "serial":
        if not port:
            raise ValueError("a serial device is claimed by its port: resolve the port first")
        if "://" in port:
            return f"serial:{port}"
        return f"serial:{os.path.realpath(port)}"
    return f"{device}:{port}" if port else device


def _safe_name(key: str) -> str:
    """A short file name for `key`: its readable part plus a hash (no two keys collide)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:40] or "device"
    digest = f"{zlib.crc32(key.encode('utf-8')):08x}{len(key):x}"
    return f"{readable}-{digest}"


def _paths(key: str, folder: Path | None = None) -> tuple[Path, Path]:
    base = (folder or runtime_dir()) / _safe_name(key)
    return base.with_suffix(".lock"), base.with_suffix(".sock")


@dataclass(frozen=True)
class OwnerInfo:
    """Who holds a device: process id, which massager command, since when, its socket."""

    pid: int
    command: str
    """"run", "serve", "gpio-device", ... (shown as `massager COMMAND`)."""
    key: str
    socket: str
    """Path of the holder's control socket."""
    since: str
    """When the claim was taken (ISO 8601, UTC)."""

    def to_json(self) -> str:
        """The JSON line written into the lock file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> OwnerInfo | None:
        """Parse a lock file's contents; None if they are not an OwnerInfo."""
        try:
            data = json.loads(text)
            return cls(
                pid=int(data["pid"]),
                command=str(data["command"]),
                key=str(data["key"]),
                socket=str(data["socket"]),
                since=str(data["since"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


class DeviceBusy(DeviceError):
    """Another process holds the device (exit 3); `holder` says who."""

    def __init__(self, holder: OwnerInfo) -> None:
        self.holder = holder
        hint = "stop it with `massager off`"
        if holder.command == "serve":
            hint += " or use `massager remote`"
        super().__init__(
            f"the device {holder.key} is held by `massager {holder.command}` "
            f"(pid {holder.pid}); {hint}"
        )


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (not unlinked or replaced)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _read_info(fd: int) -> OwnerInfo | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 65536)
    except OSError:
        return None
    return OwnerInfo.from_json(data.decode("utf-8", "replace"))


def holder(key: str) -> OwnerInfo | None:
    """Who holds `key` now (its lock is really held), else None."""
    lock_path, _ = _paths(key)
    for _ in range(20):  # a claim being taken or released while we look: look again
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return None
                info = _read_info(fd)
                if info is not None and _same_file(fd, lock_path):
                    return info
                time.sleep(0.005)  # held, but not yet (or no longer) described
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it: a stale file
        finally:
            os.close(fd)
    return None


class Claim:
    """Holds device `key` for `command` while open; `on_stop` runs when someone asks to stop.

    Use as a context manager. Entering takes the lock (DeviceBusy naming the
    holder if another process has it), writes `OwnerInfo` into the lock file
    and serves the control socket in a daemon thread; leaving closes the
    socket, unlinks both files and releases the lock (idempotent). `on_stop`
    is called in the socket's thread: it must only ask the holder's own
    thread to stop (a session's controls are thread-safe), and return.
    """

    def __init__(self, key: str, command: str, on_stop: Callable[[], None]) -> None:
        self.key = key
        self.command = command
        self.on_stop = on_stop
        self.info: OwnerInfo | None = None
        self._fd = -1
        self._lock_path: Path | None = None
        self._sock_path: Path | None = None
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    # -- taking and releasing -----------------------------------------------------------

    def __enter__(self) -> Claim:
        folder = _ensure_runtime_dir()
        lock_path, sock_path = _paths(self.key, folder)
        if len(os.fsencode(sock_path)) > _SOCKET_PATH_MAX:
            raise DeviceError(
                f"the runtime folder {folder} is too long a path for a control socket; "
                "set XDG_RUNTIME_DIR to a shorter one"
            )
        fd = self._lock(lock_path)
        self._fd, self._lock_path, self._sock_path = fd, lock_path, sock_path
        try:
            self._serve(sock_path)
            info = OwnerInfo(
                pid=os.getpid(),
                command=self.command,
                key=self.key,
                socket=str(sock_path),
                since=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            )
            os.pwrite(fd, info.to_json().encode("utf-8"), 0)
            self.info = info
        except BaseException:
            self.release()
            raise
        return self

    def _lock(self, lock_path: Path) -> int:
        """Open and exclusively lock `lock_path` (the file it names now); its fd, emptied."""
        deadline = time.monotonic() + 0.2
        while True:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise DeviceError(
                    f"cannot claim the device {self.key}: {lock_path}: {exc.strerror or exc}"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                info = _read_info(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise DeviceError(
                        f"cannot claim the device {self.key}: {exc.strerror or exc}"
                    ) from exc
                if time.monotonic() >= deadline:
                    raise DeviceBusy(info or OwnerInfo(0, "(unknown)", self.key, "", "")) from None
                # held, being taken, or only looked at for a moment by holder(): again
                time.sleep(0.005)
                continue
            if _same_file(fd, lock_path):
                os.ftruncate(fd, 0)  # a dead holder's description is not ours
                return fd
            os.close(fd)  # the holder unlinked it as we opened it: lock the new one

    def _serve(self, sock_path: Path) -> None:
        import socket

        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()  # a dead holder's socket: we hold the lock now
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(str(sock_path))
            server.listen(4)
            server.settimeout(0.1)
        except OSError as exc:
            server.close()
            raise DeviceError(
                f"cannot serve the control socket {sock_path}: {exc.strerror or exc}"
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=self._accept, name=f"massager-claim-{self.key}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Close the socket, unlink both files, release the lock. Idempotent."""
        self._closing.set()
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        fd, self._fd = self._fd, -1
        if fd >= 0:
            for path in (self._sock_path, self._lock_path):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink()
            with contextlib.suppress(OSError):
                os.close(fd)  # releases the flock

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- the control socket ---------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            server = self._server
            if server is None:
                return
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(_IO_TIMEOUT_S)
        try:
            line = _read_line(conn)
            if line.strip() == b"stop":
                try:
                    self.on_stop()
                    reply = OK_LINE
                except Exception as exc:
                    reply = f"error {type(exc).__name__}: {exc}\n".encode()
            elif line.strip() == b"info" and self.info is not None:
                reply = (self.info.to_json() + "\n").encode("utf-8")
            else:
                reply = b"error unknown request\n"
            conn.sendall(reply)
        except OSError:
            pass


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < 1024:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def _ask(info: OwnerInfo, timeout_s: float) -> bool:
    """Send `stop` on the holder's socket; whether it answered `ok`."""
    if not info.socket:
        return False
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(max(0.05, min(timeout_s, _IO_TIMEOUT_S)))
            conn.connect(info.socket)
            conn.sendall(STOP_LINE)
            return _read_line(conn) == OK_LINE
    except OSError:
        return False


def _wait_released(key: str, deadline: float, clock: HostTime) -> bool:
    while True:
        if holder(key) is None:
            return True
        if clock.now() >= deadline:
            return False
        clock.sleep(_POLL_S)


def request_stop(
    key: str, timeout_s: float = 1.0, *, clock: HostTime = REAL_TIME
) -> OwnerInfo | None:
    """Ask whoever holds `key` to stop, and wait (up to `timeout_s`) until it lets go.

    Asks over the holder's control socket; when that does not answer, sends
    the holder's process SIGTERM (never this process's own). Returns the
    holder that was asked, or None if nobody held the device. A holder in `KEEPERS` that
    answers keeps its claim (its session stopped, outputs at zero). The claim may
    still be held when this returns (a holder that ignores both): check
    `holder(key)`. The wait for the release is timed on `clock` (tests pass a
    `SteppedTime`, so giving up at `timeout_s` is exact); the request itself on the
    socket waits in real time.
    """
    info = holder(key)
    if info is None:
        return None
    deadline = clock.now() + timeout_s
    # no answer: signal the process that holds the lock now (not a stale, reused pid)
    answered = _ask(info, timeout_s)
    if answered and info.command in KEEPERS:
        return info  # it stopped its session and keeps the device, every output at zero
    if not answered and 0 < info.pid != os.getpid() and holder(key) == info:
        with contextlib.suppress(OSError):
            os.kill(info.pid, signal.SIGTERM)
    _wait_released(key, deadline, clock)
    return info
