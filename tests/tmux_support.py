"""A real terminal for tests: a command in a private tmux server, its screen read back.

`Terminal(tmp_path, width, height, argv)` starts `argv` in a detached tmux session of
that size (its own server socket under `tmp_path`), `wait_for` polls the screen
(`tmux capture-pane -p`) until a predicate holds, bounded by a deadline, `keys` types
into it, and `wait_exit` waits for the command's exit code, which the pane prints
after it (`[exit N]`). `close` kills the server, and with it anything still running.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

EXIT_MARK = "[exit "


def tmux() -> str:
    """The tmux program (`.ci/run` installs it); fails the test when it is missing."""
    found = shutil.which("tmux")
    if found is None:
        pytest.fail("tmux is not installed (.ci/run installs it: apt-get install tmux)")
    return found


class Terminal:
    """`argv` running in a `width` x `height` tmux pane."""

    def __init__(
        self, tmp_path: Path, width: int, height: int, argv: Sequence[str], *, stdin: str = ""
    ) -> None:
        self.socket = str(tmp_path / f"tmux-{width}x{height}")
        self.width, self.height = width, height
        command = shlex.join(argv) + (f" < {shlex.quote(stdin)}" if stdin else "")
        # the shell outlives a Ctrl-C typed into the pane (its trap; the command gets SIGINT)
        script = f'trap : INT; {command}; echo "{EXIT_MARK}$?]"; exec sleep 600'
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self._run(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            str(width),
            "-y",
            str(height),
            "-s",
            "t",
            "sh",
            "-c",
            script,
            env=env,
        )

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [tmux(), "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {args[0]}: {done.stderr.strip()}")
        return done.stdout

    def screen(self, *, history: bool = False) -> str:
        """The pane's text now, one line per terminal row, trailing spaces removed; with
        `history`, the lines scrolled off its top come first."""
        since = ["-S", "-", "-E", str(self.height - 1)] if history else []
        lines = self._run("capture-pane", "-p", "-t", "t", *since).split("\n")
        if not history:
            lines = lines[: self.height]
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(line.rstrip() for line in lines)

    def wait_for(
        self,
        what: str,
        check: Callable[[str], bool],
        timeout_s: float = 60.0,
        *,
        history: bool = False,
    ) -> str:
        """Poll the screen until `check(screen)`; fail naming `what` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.screen(history=history)
            if check(text):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} on the {self.width}x{self.height} screen:\n{text}")
            time.sleep(0.05)

    def keys(self, keys: str) -> None:
        """Type `keys` into the pane (literally)."""
        self._run("send-keys", "-t", "t", "-l", keys)

    def press(self, key: str) -> None:
        """Press a key by its tmux name (`C-c`: Ctrl-C, which the terminal turns into SIGINT)."""
        self._run("send-keys", "-t", "t", key)

    def wait_exit(self, timeout_s: float = 60.0) -> tuple[int, str]:
        """The command's exit code and the screen it left, with what scrolled off its top
        (a note on stderr under the last frame can push the frame's head off the screen)."""
        text = self.wait_for("exit", lambda s: EXIT_MARK in s, timeout_s, history=True)
        line = next(line for line in text.splitlines() if line.startswith(EXIT_MARK))
        return int(line[len(EXIT_MARK) : -1]), text

    def close(self) -> None:
        """Kill the tmux server and what runs in it."""
        subprocess.run(
            [tmux(), "-S", self.socket, "kill-server"], capture_output=True, timeout=30, check=False
        )


def massager(*args: str) -> list[str]:
    """The argv of `massager ARGS` in this interpreter."""
    return [sys.executable, "-m", "massager", *args]
