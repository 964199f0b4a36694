"""Files a command writes (a trace, a picture): checked before anything starts, and a
failure to write them is a clear error, never a traceback.

`check_output_path` refuses, as a usage error (exit 2), a target that is a folder, in a
missing folder, on a read-only file system or on a full one: it tries writing a line there
(`/dev/full` and a full disk fail this) and removes what it created. A failure later on (the
disk fills up mid-run) is an `OutputError` (exit 3): see `writing`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from massager.errors import OutputError, UsageError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_PROBE = "t_ms,actuator,level,speed,pressure,temp_c\n"  # what a trace starts with


def check_output_path(path: Path, option: str = "") -> None:
    """A usage error, before anything starts, if `path` cannot be a file we write."""
    where = f"{option}cannot write {str(path)!r}"
    if path.is_dir():
        raise UsageError(f"{where}: it is a folder")
    if not path.parent.is_dir():
        raise UsageError(f"{where}: folder {str(path.parent)!r} does not exist")
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8") as f:
            if not existed or path.stat().st_size == 0:
                f.write(_PROBE)
                f.flush()
    except OSError as exc:
        raise UsageError(f"{where}: {exc.strerror or exc}") from None
    finally:
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)


def check_plot_path(path: Path, what: str) -> None:
    """A usage error unless `path` is a picture name (.png, .svg, .pdf) we can write (and
    matplotlib, which `what` needs, is installed)."""
    from massager.ui.plot import require_matplotlib

    require_matplotlib(what)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(
            f"cannot draw {str(path)!r}: the file name must end in {', '.join(PLOT_SUFFIXES)}"
        )
    check_output_path(path)


@contextlib.contextmanager
def writing(what: str, path: Path) -> Iterator[None]:
    """Inside, an OSError (a full disk, a vanished folder) is `OutputError`: "WHAT PATH could
    not be written: REASON" (exit 3)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{what} {path} could not be written: {exc.strerror or exc}") from exc
