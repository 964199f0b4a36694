"""stdout and stderr that never raise: a full disk, a closed pipe or a closed descriptor.

While a command runs, `sys.stdout` and `sys.stderr` are `GuardedStream`s. The
first write or flush that fails is remembered (`failure`) and every later one
is dropped, so no command ever dies of its output with a traceback. A
failure of stdout counts as the command's outcome (`outcome()`):

- stdout *closed* (a pipe whose reader went away, `| head -1`; a closed
  descriptor, `>&-`; a terminal hung up): like a stop signal, exit 130;
- stdout *failing* otherwise (a full disk, `> /dev/full`; an I/O error): exit 3.

A run also hears of it at once (`on_failure`), and `watch()` notices a closed
pipe or terminal even between two lines, so a run stops promptly. stderr's
failures are only swallowed: there is nowhere left to report them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

CLOSED_ERRNOS = frozenset({errno.EPIPE, errno.EBADF, errno.ECONNRESET, errno.ENXIO, errno.EIO})
"""Write errors that mean "nobody reads this any more" (EIO: a terminal that hung up)."""
EXIT_CLOSED = 130
EXIT_FAILED = 3

Listener = Callable[[bool, str], None]
"""Called with (closed, reason) at a stream's first failure."""


class GuardedStream:
    """A text stream around `inner` whose failures are recorded, never raised."""

    def __init__(self, inner: TextIO | None, name: str) -> None:
        self.inner = inner
        self.name = name
        self.failure: str | None = None
        """Why the stream failed ("Broken pipe", "No space left on device"), or None."""
        self.closed_by_reader = False
        """Whether the failure means the other end went away (not a full disk)."""
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        if inner is None:
            self._fail(True, "it is closed")

    # -- failures -----------------------------------------------------------------------

    def _fail(self, closed: bool, reason: str) -> None:
        with self._lock:
            if self.failure is not None:
                return
            self.failure = reason
            self.closed_by_reader = closed
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener(closed, reason)

    def _failed_with(self, exc: BaseException) -> None:
        if isinstance(exc, OSError):
            closed = exc.errno in CLOSED_ERRNOS or isinstance(exc, BrokenPipeError)
            self._fail(closed, exc.strerror or str(exc))
        else:  # ValueError: the file object itself was closed
            self._fail(True, "it is closed")

    def on_failure(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(closed, reason)` at the first failure (at once if it already failed);
        returns a function that stops listening."""
        with self._lock:
            failed = self.failure
            if failed is None:
                self._listeners.append(listener)
        if failed is not None:
            listener(self.closed_by_reader, failed)

        def forget() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return forget

    # -- the TextIO surface the command line uses ----------------------------------------

    def write(self, text: Any) -> int:
        """Write `text` (dropped after a failure). A bytes argument is a TypeError, as for any
        text stream (click probes with one)."""
        inner = self.inner
        if self.failure is not None or inner is None:
            if isinstance(text, (bytes, bytearray)):
                raise TypeError("write() argument must be str, not bytes")
            return len(text)
        try:
            return inner.write(text)
        except (OSError, ValueError) as exc:
            self._failed_with(exc)
            return len(text)

    def flush(self) -> None:
        """Flush (a failure is recorded, not raised)."""
        inner = self.inner
        if self.failure is not None or inner is None:
            return
        try:
            inner.flush()
        except (OSError, ValueError) as exc:
            self._failed_with(exc)

    def isatty(self) -> bool:
        """Whether the stream is a terminal (False once it failed)."""
        if self.failure is not None or self.inner is None:
            return False
        try:
            return self.inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        """The descriptor of the stream (io.UnsupportedOperation if it has none)."""
        if self.inner is None:
            raise io.UnsupportedOperation(f"{self.name} is closed")
        return self.inner.fileno()

    def writable(self) -> bool:
        """Always: writing never fails loudly."""
        return True

    @property
    def encoding(self) -> str:
        """The inner stream's encoding."""
        return str(getattr(self.inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:
        """The inner stream's error handler."""
        return getattr(self.inner, "errors", None)

    @property
    def closed(self) -> bool:
        """Never: a failed stream still takes (and drops) writes."""
        return False

    # -- noticing a closed pipe or terminal between writes ---------------------------------

    def watch(self, interval_s: float = 0.1) -> Callable[[], None]:
        """Watch the descriptor (a pipe, socket or terminal) in a thread for its reader going
        away, and fail as closed when it does; returns a function that stops watching."""
        try:
            fd = self.fileno()
            mode = os.fstat(fd).st_mode
        except (OSError, ValueError):
            return lambda: None
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            return lambda: None  # a file or /dev/full: its failures show when written
        done = threading.Event()
        poller = select.poll()
        poller.register(fd, 0)  # only POLLERR / POLLHUP / POLLNVAL are reported

        def gone(timeout_ms: float) -> bool:
            try:
                events = poller.poll(timeout_ms)
            except OSError:
                return False
            if any(f & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, f in events):
                self._fail(True, "its reader went away")
                return True
            return False

        if gone(0):  # already: say so before anything starts
            return done.set

        def run() -> None:
            while not done.is_set() and self.failure is None and not gone(interval_s * 1000):
                pass

        threading.Thread(target=run, name=f"massager-watch-{self.name}", daemon=True).start()
        return done.set


def stdout_guard() -> GuardedStream | None:
    """The guard around sys.stdout while a command runs, else None."""
    out = sys.stdout
    return out if isinstance(out, GuardedStream) else None


@contextlib.contextmanager
def guarded() -> Iterator[GuardedStream]:
    """Put guards around sys.stdout and sys.stderr for the duration (restored after)."""
    real_out, real_err = sys.stdout, sys.stderr
    out = real_out if isinstance(real_out, GuardedStream) else GuardedStream(real_out, "stdout")
    err = real_err if isinstance(real_err, GuardedStream) else GuardedStream(real_err, "stderr")
    sys.stdout, sys.stderr = out, err
    try:
        yield out
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = real_out, real_err


def outcome(out: GuardedStream, code: int) -> int:
    """The exit code of a command that ended with `code`, given what became of its stdout.

    A command that failed on its own keeps its code; one that did its work but could not
    write it says so on stderr and exits 130 (stdout closed) or 3 (stdout failing).
    """
    if out.failure is None or code != 0:
        return code
    if out.closed_by_reader:
        sys.stderr.write(f"interrupted (stdout closed: {out.failure})\n")
        return EXIT_CLOSED
    sys.stderr.write(f"stdout could not be written: {out.failure}\n")
    return EXIT_FAILED


def open_missing_descriptors() -> None:
    """Give a closed stdin, stdout or stderr (``>&-``) /dev/null as a stand-in, so no file
    the command opens later takes its number, and mark the stream as closed."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if name == "stdin":
            sys.stdin = open(fd, closefd=False, encoding="utf-8")  # noqa: SIM115
        else:
            setattr(sys, name, GuardedStream(None, name))


def settle() -> None:
    """Before the interpreter exits: flush both streams; a failed one is pointed at /dev/null
    so Python's own last flush cannot complain ("Exception ignored ... BrokenPipeError")."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        failed = isinstance(stream, GuardedStream) and stream.failure is not None
        if not failed and stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                failed = True
        if failed or stream is None:
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
