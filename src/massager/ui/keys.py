"""The live view's keys: read one at a time from a terminal and turned into session controls."""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
from contextlib import suppress
from types import TracebackType
from typing import Any, TextIO

from massager.runtime.session import INTENSITY_STEP, Session


class KeyReader:
    """Reads single keys from a terminal in a thread and turns them into session controls.

    The terminal is put in cbreak mode (keys arrive at once, Ctrl-C still
    signals) and restored on exit, also at interpreter exit.
    """

    def __init__(self, session: Session, stdin: TextIO | None = None) -> None:
        self.session = session
        self.stdin = stdin if stdin is not None else sys.stdin
        self._fd = -1
        self._saved: list[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, key: str) -> None:
        """Apply one key: space, +/=, -/_, q."""
        if key == " ":
            self.session.toggle_pause()
        elif key in "+=":
            self.session.change_intensity(+INTENSITY_STEP)
        elif key in "-_":
            self.session.change_intensity(-INTENSITY_STEP)
        elif key in "qQ":
            self.session.stop()

    def __enter__(self) -> KeyReader:
        import termios
        import tty

        self._fd = self.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        atexit.register(self._restore)
        tty.setcbreak(self._fd)
        self._thread = threading.Thread(target=self._read, name="massager-keys", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._restore()
        atexit.unregister(self._restore)

    def _restore(self) -> None:
        if self._saved is None:
            return
        import termios

        with suppress(termios.error, OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._fd, 32)
            except (OSError, ValueError):  # EIO: the terminal hung up
                if not self._stop.is_set():
                    self.session.interrupt("stdin closed")
                return
            if not data:  # the terminal is gone: nobody can press q or Ctrl-C any more
                self.session.interrupt("stdin closed")
                return
            for key in data.decode("utf-8", "replace"):
                self.handle(key)
