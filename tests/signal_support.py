"""Helpers for the signal tests: `massager` in a child process, and the moments to hit it.

The child runs `tests/cli_child.py` (the console script's `massager._main.main`; with
$PIN_LOG the GPIO device process logs its mock pins there). `caught()` reads the child's
caught-signal mask from /proc, so a test knows when massager's own handlers are in place
(before that the child is still Python starting up, and no code of massager's has run).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from massager.trace import read_trace

HERE = Path(__file__).parent
CHILD = str(HERE / "cli_child.py")
EXIT_INTERRUPTED = 130


def caught(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler installed for `sig` (its /proc SigCgt mask)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return False


@dataclass
class Child:
    """A `massager` command in a child process, with its output collected as it comes."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] = field(init=False)
    out: bytes = b""
    err: bytes = b""

    def __post_init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, CHILD, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env},
        )

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def _read(self, timeout: float) -> int:
        """Read what is ready on stdout and stderr (waiting at most `timeout` s); bytes read."""
        pipes = (self.proc.stdout, self.proc.stderr)
        streams = [s for s in pipes if s is not None and not s.closed]
        ready, _, _ = select.select(streams, [], [], timeout)
        got = 0
        for stream in ready:
            data = os.read(stream.fileno(), 65536)
            got += len(data)
            if stream is self.proc.stdout:
                self.out += data
            else:
                self.err += data
        return got

    def wait_for(self, predicate: object, timeout: float = 60.0, what: str = "") -> None:
        """Read output until `predicate()` holds; fail (the child's stderr shown) after timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if self.proc.poll() is not None:
                # an ended child's last output may still be in its pipes: read it all first
                for _ in range(10_000):  # a pipe holds 64 KiB: a few reads to its end
                    if not self._read(0.0):
                        break
                if predicate():  # type: ignore[operator]
                    return
                raise AssertionError(f"the child ended before {what}: {self.err.decode()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout} s: {self.err.decode()}")
            self._read(0.005)

    def wait_handlers(self) -> None:
        """Until massager's own signal handlers are installed (SIGHUP is one Python leaves)."""
        self.wait_for(lambda: caught(self.pid, signal.SIGHUP), what="signal handlers")

    def wait_line(self, text: str, timeout: float = 60.0) -> None:
        """Until stdout has a line containing `text`."""
        self.wait_for(lambda: text.encode() in self.out, timeout, what=repr(text))

    def send(self, sig: int) -> None:
        """Send `sig` (nothing if the child has ended)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the child to exit, collecting its output; its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the child did not end within {timeout} s: {self.err.decode()}")
        out, err = self.proc.communicate()
        self.out += out
        self.err += err
        return self.proc.returncode

    def kill(self) -> None:
        """Kill the child if it is still running (test clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def trace_ends_at_zero(path: Path) -> bool:
    """Whether the trace at `path` has rows and every actuator's last row is at 0."""
    levels = read_trace(path).final_levels()
    return bool(levels) and set(levels.values()) == {0.0}


def trace_started(path: Path) -> bool:
    """Whether the trace at `path` has any data row (the session reached time 0)."""
    return path.exists() and len(path.read_text().splitlines()) > 1
